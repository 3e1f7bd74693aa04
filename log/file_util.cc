#include "log/file_util.h"

#include "absl/strings/str_cat.h"
#include "log/log_format.h"

namespace spool::log {

Task<StatusOr<std::vector<std::byte>>> ReadWholeFile(io::FileSystem& fs, std::string path,
                                                     uint64_t max_size) {
  CO_ASSIGN_OR_RETURN(std::unique_ptr<io::File> file, co_await fs.open(path, io::OpenMode::kRead));
  StatusOr<uint64_t> size = co_await file->size();
  if (!size.ok()) co_return co_await CloseFile(std::move(file), size.status());
  if (*size > max_size) {
    co_return co_await CloseFile(std::move(file), absl::DataLossError(absl::StrCat(
                                                      path, ": ", *size, " bytes is more than the ",
                                                      max_size, " such a file can hold")));
  }
  std::vector<std::byte> bytes(*size);
  size_t done = 0;
  while (done < bytes.size()) {
    StatusOr<size_t> n = co_await file->read_at(done, std::span(bytes).subspan(done));
    if (!n.ok()) co_return co_await CloseFile(std::move(file), n.status());
    if (*n == 0) {
      // It shrank under the read: not damage to judge by a partial image, but a file in use.
      co_return co_await CloseFile(std::move(file), absl::AbortedError(absl::StrCat(
                                                        path, ": ended at ", done, " of ",
                                                        bytes.size(), " bytes during the read")));
    }
    done += *n;
  }
  CO_RETURN_IF_ERROR(co_await CloseFile(std::move(file)));
  co_return bytes;
}

Task<Status> WriteFileAtomically(io::FileSystem& fs, std::string dir, std::string name,
                                 std::vector<std::byte> bytes) {
  const std::string final_path = JoinPath(dir, name);
  const std::string tmp_path = absl::StrCat(final_path, AbslView(kTmpSuffix));
  CO_ASSIGN_OR_RETURN(std::unique_ptr<io::File> file,
                      co_await WriteWholeFile(fs, tmp_path, std::move(bytes)));
  Status st = co_await file->datasync();
  CO_RETURN_IF_ERROR(co_await CloseFile(std::move(file), st));
  CO_RETURN_IF_ERROR(co_await fs.rename(tmp_path, final_path));
  co_return co_await fs.sync_dir(dir);
}

Task<StatusOr<std::unique_ptr<io::File>>> WriteWholeFile(io::FileSystem& fs, std::string path,
                                                         std::vector<std::byte> bytes) {
  CO_ASSIGN_OR_RETURN(std::unique_ptr<io::File> file,
                      co_await fs.open(path, io::OpenMode::kCreate));
  Status st = co_await file->write_at(0, bytes);
  if (st.ok()) st = co_await file->truncate(bytes.size());
  if (!st.ok()) co_return co_await CloseFile(std::move(file), st);
  co_return file;
}

Task<Status> CloseFile(std::unique_ptr<io::File> file, Status first) {
  if (file == nullptr) co_return first;
  Status st = co_await file->close();
  co_return first.ok() ? st : first;
}

}  // namespace spool::log
