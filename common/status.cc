#include "common/status.h"

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace spool {
namespace {

constexpr std::string_view kErrnoPayload = "spool/errno";

absl::StatusCode CodeForErrno(int err) {
  switch (err) {
    case ENOENT:
      return absl::StatusCode::kNotFound;
    case EEXIST:
      return absl::StatusCode::kAlreadyExists;
    case ENOSPC:
    case EDQUOT:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
      return absl::StatusCode::kResourceExhausted;
    case EACCES:
    case EPERM:
      return absl::StatusCode::kPermissionDenied;
    case EINVAL:
    case ENAMETOOLONG:
    case EISDIR:
    case ENOTDIR:
    case EBADF:
      return absl::StatusCode::kInvalidArgument;
    case EAGAIN:
    case EINTR:
    case ECONNREFUSED:
    case ECONNRESET:
    case ECONNABORTED:
    case EPIPE:
    case ETIMEDOUT:
    case EHOSTUNREACH:
    case ENETUNREACH:
      return absl::StatusCode::kUnavailable;
    case ECANCELED:
      return absl::StatusCode::kCancelled;
    case EIO:
      return absl::StatusCode::kDataLoss;
    case ENOSYS:
    case EOPNOTSUPP:
      return absl::StatusCode::kUnimplemented;
    default:
      return absl::StatusCode::kInternal;
  }
}

}  // namespace

Status ErrnoStatus(int err, std::string_view what) {
  // Debian's abseil is built with its own string_view, hence the explicit conversions.
  Status st(CodeForErrno(err), absl::StrCat(absl::string_view(what.data(), what.size()), ": ",
                                            std::strerror(err), " (errno ", err, ")"));
  st.SetPayload(absl::string_view(kErrnoPayload.data(), kErrnoPayload.size()),
                absl::Cord(absl::StrCat(err)));
  return st;
}

int ErrnoOf(const Status& status) {
  auto payload = status.GetPayload(absl::string_view(kErrnoPayload.data(), kErrnoPayload.size()));
  if (!payload.has_value()) return 0;
  int err = 0;
  return absl::SimpleAtoi(std::string(*payload), &err) ? err : 0;
}

}  // namespace spool
