#include "replication/raft/file_storage.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "log/file_util.h"

namespace spool::raft {
namespace {

constexpr char kStateFile[] = "raft.state";
constexpr char kSnapshotFile[] = "raft.snapshot";
constexpr char kLogFile[] = "raft.log";
constexpr uint64_t kMaxLogFile = 1ull << 32;

}  // namespace

Task<StatusOr<std::unique_ptr<FileStorage>>> FileStorage::Open(io::FileSystem& fs,
                                                               std::string dir) {
  std::unique_ptr<FileStorage> s(new FileStorage(fs, std::move(dir)));
  Status st = co_await s->Recover();
  if (!st.ok()) {
    if (s->log_ != nullptr) PermitUncheckedError(co_await s->log_->close());
    co_return st;
  }
  co_return s;
}

FileStorage::~FileStorage() = default;

Index FileStorage::last_index() const {
  return records_.empty() ? header_.base_index : records_.back().index;
}

Task<Status> FileStorage::Recover() {
  const std::string dir = dir_;
  CO_RETURN_IF_ERROR(co_await io::CreateDirs(fs_, dir));
  // Temp files of an interrupted atomic replace: the old file is still in
  // place.
  CO_ASSIGN_OR_RETURN(std::vector<std::string> names, co_await fs_.list_dir(dir_));
  for (const std::string& name : names) {
    if (!absl::EndsWith(name, ".tmp")) continue;
    const std::string path = dir_ + "/" + name;
    CO_RETURN_IF_ERROR(co_await fs_.unlink(path));
    ++recovery_.temp_removed;
  }
  if (recovery_.temp_removed > 0) CO_RETURN_IF_ERROR(co_await fs_.sync_dir(dir_));

  const std::string state_path = Path(kStateFile);
  const std::string snap_path = Path(kSnapshotFile);
  const std::string log_path = Path(kLogFile);
  StatusOr<std::vector<std::byte>> state = co_await log::ReadWholeFile(fs_, state_path, 4096);
  if (state.ok()) {
    CO_ASSIGN_OR_RETURN(recovered_.hard_state, file_format::DecodeState(*state));
  } else if (!absl::IsNotFound(state.status())) {
    co_return state.status();
  }

  StatusOr<std::vector<std::byte>> snap =
      co_await log::ReadWholeFile(fs_, snap_path, file_format::kMaxSnapshotFile);
  Index snap_index;
  Term snap_term;
  if (snap.ok()) {
    CO_ASSIGN_OR_RETURN(Snapshot decoded, file_format::DecodeSnapshot(*snap));
    snap_index = decoded.meta.index;
    snap_term = decoded.meta.term;
    recovered_.snapshot = std::make_shared<const Snapshot>(std::move(decoded));
  } else if (!absl::IsNotFound(snap.status())) {
    co_return snap.status();
  }

  StatusOr<std::vector<std::byte>> bytes = co_await log::ReadWholeFile(fs_, log_path, kMaxLogFile);
  if (absl::IsNotFound(bytes.status())) {
    const file_format::LogHeader fresh{snap_index, snap_term};
    std::vector<std::byte> none;
    co_return co_await RewriteLog(fresh, std::move(none), 0);
  }
  if (!bytes.ok()) co_return bytes.status();
  CO_ASSIGN_OR_RETURN(header_, file_format::DecodeLogHeader(*bytes));
  std::span<const std::byte> all(*bytes);
  uint64_t at = file_format::kLogHeaderSize;
  Index expect = header_.base_index + 1;
  Term prev_term = header_.base_term;
  std::vector<Entry> entries;
  while (at < all.size()) {
    size_t size = 0;
    std::optional<Entry> e = file_format::DecodeEntryRecord(all.subspan(at), &size);
    if (!e || e->index != expect || e->term < prev_term) break;
    records_.push_back(RecordPos{e->index, e->term, at});
    prev_term = e->term;
    ++expect;
    at += size;
    entries.push_back(std::move(*e));
  }
  end_ = at;
  CO_ASSIGN_OR_RETURN(log_, co_await fs_.open(log_path, io::OpenMode::kReadWrite));
  if (at < all.size()) {
    recovery_.bytes_cut = all.size() - at;
    CO_RETURN_IF_ERROR(co_await log_->truncate(at));
    CO_RETURN_IF_ERROR(co_await log_->datasync());
  }

  if (header_.base_index > snap_index) {
    co_return absl::DataLossError(absl::StrCat("raft log in ", dir_, " starts after entry ",
                                               header_.base_index.value(),
                                               " but the snapshot ends at ", snap_index.value()));
  }
  bool consistent = snap_index == Index{0} ||
                    (header_.base_index == snap_index && header_.base_term == snap_term);
  for (const RecordPos& r : records_) {
    consistent = consistent || (r.index == snap_index && r.term == snap_term);
  }
  if (!consistent) {
    recovery_.log_reset = true;
    const file_format::LogHeader fresh{snap_index, snap_term};
    std::vector<std::byte> none;
    co_return co_await RewriteLog(fresh, std::move(none), 0);
  }
  for (Entry& e : entries) {
    if (e.index > snap_index) recovered_.entries.push_back(std::move(e));
  }
  recovery_.entries = recovered_.entries.size();
  co_return Status();
}

// Replaces raft.log with `header` followed by `records` (the bytes of the
// current file's records from offset `records_from` on) and reopens it.
Task<Status> FileStorage::RewriteLog(file_format::LogHeader header, std::vector<std::byte> records,
                                     uint64_t records_from) {
  std::vector<std::byte> bytes = file_format::EncodeLogHeader(header);
  bytes.insert(bytes.end(), records.begin(), records.end());
  const uint64_t size = bytes.size();
  if (log_ != nullptr) {
    std::unique_ptr<io::File> old = std::move(log_);
    CO_RETURN_IF_ERROR(co_await old->close());
  }
  std::string name = kLogFile;
  const std::string log_path = Path(kLogFile);
  CO_RETURN_IF_ERROR(
      co_await log::WriteFileAtomically(fs_, dir_, std::move(name), std::move(bytes)));
  CO_ASSIGN_OR_RETURN(log_, co_await fs_.open(log_path, io::OpenMode::kReadWrite));
  std::vector<RecordPos> kept;
  if (!records.empty()) {
    for (const RecordPos& r : records_) {
      if (r.offset >= records_from) {
        kept.push_back(
            RecordPos{r.index, r.term, r.offset - records_from + file_format::kLogHeaderSize});
      }
    }
  }
  records_ = std::move(kept);
  header_ = header;
  end_ = size;
  co_return Status();
}

Task<Status> FileStorage::Persist(std::optional<HardState> hard_state,
                                  std::shared_ptr<const Snapshot> snapshot,
                                  std::vector<Entry> entries) {
  if (failed_) {
    co_return absl::FailedPreconditionError(
        absl::StrCat("raft storage in ", dir_, " failed earlier; reopen it"));
  }
  Status st;
  if (snapshot != nullptr) st = co_await PersistSnapshot(std::move(snapshot));
  if (st.ok() && !entries.empty()) st = co_await PersistEntries(std::move(entries));
  if (st.ok() && hard_state) {
    std::string name = kStateFile;
    std::vector<std::byte> bytes = file_format::EncodeState(*hard_state);
    st = co_await log::WriteFileAtomically(fs_, dir_, std::move(name), std::move(bytes));
  }
  if (!st.ok()) failed_ = true;
  co_return st;
}

Task<Status> FileStorage::PersistSnapshot(std::shared_ptr<const Snapshot> snapshot) {
  const SnapshotMeta meta = snapshot->meta;
  if (meta.index < header_.base_index) {
    co_return absl::InvalidArgumentError(
        absl::StrCat("raft storage: snapshot at ", meta.index.value(),
                     " is older than the log's start ", header_.base_index.value()));
  }
  std::string name = kSnapshotFile;
  std::vector<std::byte> image = file_format::EncodeSnapshot(*snapshot);
  CO_RETURN_IF_ERROR(
      co_await log::WriteFileAtomically(fs_, dir_, std::move(name), std::move(image)));
  // The log now starts after the snapshot: keep the records after its last
  // entry if the log holds that entry, else none (a leader's snapshot this log
  // does not match).
  uint64_t keep_from = end_;
  if (header_.base_index == meta.index && header_.base_term == meta.term) {
    keep_from = file_format::kLogHeaderSize;
  }
  for (size_t i = 0; i < records_.size(); ++i) {
    if (records_[i].index == meta.index && records_[i].term == meta.term) {
      keep_from = i + 1 < records_.size() ? records_[i + 1].offset : end_;
    }
  }
  std::vector<std::byte> kept(end_ - keep_from);
  size_t done = 0;
  while (done < kept.size()) {
    CO_ASSIGN_OR_RETURN(size_t n,
                        co_await log_->read_at(keep_from + done, std::span(kept).subspan(done)));
    if (n == 0) co_return absl::DataLossError(absl::StrCat("raft log in ", dir_, " shrank"));
    done += n;
  }
  const file_format::LogHeader header{meta.index, meta.term};
  co_return co_await RewriteLog(header, std::move(kept), keep_from);
}

Task<Status> FileStorage::PersistEntries(std::vector<Entry> entries) {
  auto covered = std::find_if(entries.begin(), entries.end(),
                              [&](const Entry& e) { return e.index > header_.base_index; });
  entries.erase(entries.begin(), covered);
  if (entries.empty()) co_return Status();
  const Index from = entries.front().index;
  if (from > last_index() + 1) {
    co_return absl::InternalError(absl::StrCat("raft storage: entry ", from.value(),
                                               " after stored entry ", last_index().value()));
  }
  if (from <= last_index()) {
    // Overwrite: cut the suffix and make the cut durable before anything is
    // written past it, so a torn tail cannot leave new records behind old ones.
    const size_t keep = static_cast<size_t>(from - (header_.base_index + 1));
    end_ = records_[keep].offset;
    records_.resize(keep);
    CO_RETURN_IF_ERROR(co_await log_->truncate(end_));
    CO_RETURN_IF_ERROR(co_await log_->datasync());
  }
  std::vector<std::byte> bytes;
  uint64_t offset = end_;
  for (const Entry& e : entries) {
    const size_t before = bytes.size();
    file_format::AppendEntryRecord(e, bytes);
    records_.push_back(RecordPos{e.index, e.term, offset});
    offset += bytes.size() - before;
  }
  CO_RETURN_IF_ERROR(co_await log_->write_at(end_, bytes));
  end_ = offset;
  co_return co_await log_->datasync();
}

Task<Status> FileStorage::Close() {
  if (log_ == nullptr) co_return Status();
  std::unique_ptr<io::File> file = std::move(log_);
  co_return co_await file->close();
}

}  // namespace spool::raft
