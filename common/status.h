// Status helpers shared by every Spool target.
//
// Spool uses absl::Status / absl::StatusOr<T> below the wire (one error model, STYLE.md). The
// Debian abseil (20220623) has no status macros, so they live here. Errors that come from the
// kernel carry their errno: ErrnoStatus() builds them and ErrnoOf() reads it back, so callers
// (and tests) can tell ENOSPC from EIO without parsing messages.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace spool {

using absl::Status;
using absl::StatusOr;

// Builds a status for a failed system call: the code is chosen for what the caller should do
// (ENOSPC -> kResourceExhausted, ENOENT -> kNotFound, EIO -> kDataLoss, EAGAIN -> kUnavailable,
// ...), the message is "<what>: <strerror> (errno N)", and the errno is attached as a payload.
[[nodiscard]] Status ErrnoStatus(int err, std::string_view what);

// The errno attached by ErrnoStatus(), or 0 when the status has none.
[[nodiscard]] int ErrnoOf(const Status& status);

// Marks a status as deliberately ignored. Greppable on purpose.
inline void PermitUncheckedError(const Status&) {}

}  // namespace spool

#define SPOOL_CONCAT_INNER_(a, b) a##b
#define SPOOL_CONCAT_(a, b) SPOOL_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` (a Status) is not OK.
#define RETURN_IF_ERROR(expr)                               \
  do {                                                      \
    if (::absl::Status _st = (expr); !_st.ok()) return _st; \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, MakeX());` declares x from a StatusOr or returns its error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(SPOOL_CONCAT_(_status_or_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr)   \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return std::move(tmp).status(); \
  lhs = std::move(tmp).value()

// The same for coroutines: co_return instead of return. `expr` may contain co_await.
#define CO_RETURN_IF_ERROR(expr)                               \
  do {                                                         \
    if (::absl::Status _st = (expr); !_st.ok()) co_return _st; \
  } while (0)
#define CO_ASSIGN_OR_RETURN(lhs, expr) \
  CO_ASSIGN_OR_RETURN_IMPL_(SPOOL_CONCAT_(_status_or_, __LINE__), lhs, expr)
#define CO_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr)   \
  auto tmp = (expr);                                \
  if (!tmp.ok()) co_return std::move(tmp).status(); \
  lhs = std::move(tmp).value()
