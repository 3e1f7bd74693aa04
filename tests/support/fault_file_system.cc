#include "tests/support/fault_file_system.h"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <iterator>
#include <list>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"

// Bookkeeping, in brief (the header states the model):
//
// Names. Every file or directory the wrapper has seen is a Node with a current location `cur`
// (parent node + name; the parent is the scratch node for unlinked or replaced entries) and a
// durable location `dur` (where a power cut would leave it; none for an entry not yet durable
// anywhere). sync_dir(D) sets dur = cur for every node whose cur or dur is in D, which commits
// creates, unlinks and whole renames at once; a node in scratch whose dur becomes none is really
// deleted. A power cut keeps exactly the nodes whose dur chain reaches the root, moves every
// other node or misplaced node into scratch, then moves the survivors back to their dur
// locations, parents first, and wipes scratch.
//
// Data. A FileData per file holds the size after completed writes and the durable image: a size
// plus an undo record (the original bytes of every range below that size changed since). Each
// datasync() in flight holds a snapshot image of the same form, taken when it was called;
// writes and shrinking truncates save original bytes into every image (first save wins), and a
// successful datasync() makes its snapshot the durable image. Mutations in flight when a
// snapshot is taken give it their original bytes, so a snapshot never covers them. Concurrent
// overlapping writes to the same bytes are not ordered (no program may rely on their order).

namespace spool::testing {

struct FaultFileSystem::OpGuard {
  explicit OpGuard(FaultFileSystem& fs) : fs(fs) { ++fs.busy_; }
  ~OpGuard() { --fs.busy_; }
  OpGuard(const OpGuard&) = delete;
  OpGuard& operator=(const OpGuard&) = delete;
  FaultFileSystem& fs;
};

namespace fault_detail {

// Original bytes of changed ranges, as disjoint ranges keyed by offset.
class UndoRecord {
 public:
  // Records the parts of [offset, offset + bytes.size()) below `limit` not recorded yet.
  void Save(uint64_t offset, std::span<const std::byte> bytes, uint64_t limit) {
    const uint64_t end = std::min(offset + bytes.size(), limit);
    uint64_t pos = offset;
    while (pos < end) {
      auto next = ranges_.upper_bound(pos);
      if (next != ranges_.begin()) {
        auto prev = std::prev(next);
        const uint64_t prev_end = prev->first + prev->second.size();
        if (prev_end > pos) {
          pos = prev_end;
          continue;
        }
      }
      const uint64_t gap_end = next == ranges_.end() ? end : std::min(end, next->first);
      ranges_.emplace(pos, std::vector<std::byte>(bytes.begin() + (pos - offset),
                                                  bytes.begin() + (gap_end - offset)));
      pos = gap_end;
    }
  }
  const std::map<uint64_t, std::vector<std::byte>>& ranges() const { return ranges_; }

 private:
  std::map<uint64_t, std::vector<std::byte>> ranges_;
};

struct Image {
  uint64_t seq = 0;  // order of the datasync() call that took it (0: the initial image)
  uint64_t size = 0;
  UndoRecord undo;
};

struct Mutation {
  uint64_t offset = 0;
  std::vector<std::byte> original;  // the bytes it is about to change, below the file's size
};

struct FileData {
  explicit FileData(uint64_t initial_size) : size(initial_size) { durable.size = initial_size; }
  uint64_t size;  // after every completed write and truncate
  Image durable;
  std::list<Image> snapshots;     // one per datasync() in flight
  std::list<Mutation> in_flight;  // writes and shrinking truncates in flight
  uint64_t next_seq = 1;
};

struct Loc {
  Node* parent = nullptr;
  std::string name;
  bool operator==(const Loc&) const = default;
};

struct Node {
  uint64_t id = 0;
  bool is_dir = false;
  Loc cur;
  std::optional<Loc> dur;
  std::map<std::string, Node*> children;  // current entries the model knows of
  std::shared_ptr<FileData> data;         // files opened through the wrapper
};

namespace {

// Reads the bytes [offset, end) is about to change (those below the file's size), saves them into
// every image and registers the mutation as in flight.
Task<StatusOr<std::list<Mutation>::iterator>> BeginMutation(FileData& d, io::File& file,
                                                            uint64_t offset, uint64_t end) {
  std::vector<std::byte> original;
  const uint64_t read_end = std::min(end, d.size);
  if (offset < read_end) {
    original.resize(read_end - offset);
    CO_ASSIGN_OR_RETURN(size_t n, co_await file.read_at(offset, original));
    original.resize(n);
  }
  d.durable.undo.Save(offset, original, d.durable.size);
  for (Image& snap : d.snapshots) snap.undo.Save(offset, original, snap.size);
  co_return d.in_flight.insert(d.in_flight.end(), Mutation{offset, std::move(original)});
}

std::list<Image>::iterator TakeSnapshot(FileData& d) {
  Image snap;
  snap.seq = d.next_seq++;
  snap.size = d.size;
  for (const Mutation& m : d.in_flight) snap.undo.Save(m.offset, m.original, snap.size);
  return d.snapshots.insert(d.snapshots.end(), std::move(snap));
}

std::string Join(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

class FaultFile final : public io::File {
 public:
  FaultFile(FaultFileSystem& fs, std::unique_ptr<io::File> base, std::shared_ptr<FileData> data,
            std::string path)
      : fs_(fs),
        base_(std::move(base)),
        data_(std::move(data)),
        path_(std::move(path)),
        generation_(fs.generation_) {}

  Task<StatusOr<size_t>> read_at(uint64_t offset, std::span<std::byte> buf) override {
    CO_RETURN_IF_ERROR(CheckLive());
    FaultFileSystem::OpGuard guard(fs_);
    co_return co_await base_->read_at(offset, buf);
  }

  Task<Status> write_at(uint64_t offset, std::span<const std::byte> buf) override {
    CO_RETURN_IF_ERROR(CheckLive());
    FaultFileSystem::OpGuard guard(fs_);
    if (int err = fs_.TakeFault(fs_.fail_writes_, fs_.fail_writes_err_); err != 0) {
      co_return ErrnoStatus(err, absl::StrCat("write ", path_, " (injected)"));
    }
    const uint64_t len = buf.size();
    const bool budgeted = fs_.budget_set_;
    if (budgeted) {
      if (len > fs_.budget_left_) {
        ++fs_.stats_.injected_errors;
        co_return ErrnoStatus(ENOSPC, absl::StrCat("write ", path_, " (write budget)"));
      }
      fs_.budget_left_ -= len;
    }
    std::list<Mutation>::iterator mutation{};
    if (data_ != nullptr) {
      auto began = co_await BeginMutation(*data_, *base_, offset, offset + len);
      if (!began.ok()) {
        Refund(budgeted, len);
        co_return began.status();
      }
      mutation = *began;
    }
    Status st = co_await base_->write_at(offset, buf);
    if (data_ != nullptr) {
      data_->in_flight.erase(mutation);
      if (st.ok()) data_->size = std::max(data_->size, offset + len);
    }
    if (!st.ok()) {
      Refund(budgeted, len);
      co_return st;
    }
    ++fs_.stats_.writes;
    fs_.stats_.bytes_written += len;
    co_return st;
  }

  Task<Status> datasync() override {
    CO_RETURN_IF_ERROR(CheckLive());
    FaultFileSystem::OpGuard guard(fs_);
    std::list<Image>::iterator snap{};
    if (data_ != nullptr) snap = TakeSnapshot(*data_);
    while (fs_.gate_ != nullptr && generation_ == fs_.generation_) {
      std::shared_ptr<io::Event> gate = fs_.gate_;
      ++fs_.syncs_waiting_;
      --fs_.busy_;
      co_await gate->wait();
      ++fs_.busy_;
      --fs_.syncs_waiting_;
    }
    Status st = CheckLive();
    if (st.ok()) {
      if (int err = fs_.TakeFault(fs_.fail_syncs_, fs_.fail_syncs_err_); err != 0) {
        st = ErrnoStatus(err, absl::StrCat("datasync ", path_, " (injected)"));
      }
    }
    if (st.ok()) st = co_await base_->datasync();
    if (data_ != nullptr) {
      if (st.ok() && snap->seq > data_->durable.seq) data_->durable = std::move(*snap);
      data_->snapshots.erase(snap);
    }
    if (st.ok()) ++fs_.stats_.syncs;
    co_return st;
  }

  Task<Status> allocate(uint64_t offset, uint64_t len) override {
    CO_RETURN_IF_ERROR(CheckLive());
    FaultFileSystem::OpGuard guard(fs_);
    co_return co_await base_->allocate(offset, len);
  }

  Task<Status> truncate(uint64_t size) override {
    CO_RETURN_IF_ERROR(CheckLive());
    FaultFileSystem::OpGuard guard(fs_);
    std::optional<std::list<Mutation>::iterator> mutation;
    if (data_ != nullptr && size < data_->size) {
      CO_ASSIGN_OR_RETURN(mutation, co_await BeginMutation(*data_, *base_, size, data_->size));
    }
    Status st = co_await base_->truncate(size);
    if (data_ != nullptr) {
      if (mutation.has_value()) data_->in_flight.erase(*mutation);
      if (st.ok()) data_->size = size;
    }
    co_return st;
  }

  Task<StatusOr<uint64_t>> size() override {
    CO_RETURN_IF_ERROR(CheckLive());
    FaultFileSystem::OpGuard guard(fs_);
    co_return co_await base_->size();
  }

  Task<Status> close() override {
    Status live = CheckLive();
    if (!live.ok()) {
      PermitUncheckedError(co_await base_->close());
      co_return live;
    }
    FaultFileSystem::OpGuard guard(fs_);
    co_return co_await base_->close();
  }

  int native_handle() const override { return base_->native_handle(); }

 private:
  Status CheckLive() const {
    if (generation_ == fs_.generation_) return absl::OkStatus();
    return absl::FailedPreconditionError(
        absl::StrCat("file ", path_, " was invalidated by a simulated power cut"));
  }
  void Refund(bool budgeted, uint64_t len) {
    if (budgeted && fs_.budget_set_) fs_.budget_left_ += len;
  }

  FaultFileSystem& fs_;
  std::unique_ptr<io::File> base_;
  std::shared_ptr<FileData> data_;  // null for a directory opened as a file
  std::string path_;
  uint64_t generation_;
};

}  // namespace fault_detail

using fault_detail::FaultFile;
using fault_detail::FileData;
using fault_detail::Join;
using fault_detail::Loc;
using fault_detail::Node;
using fault_detail::SplitMix64;

FaultFileSystem::FaultFileSystem(io::Reactor& reactor, io::FileSystem& base,
                                 std::string scratch_dir)
    : reactor_(reactor), base_(base) {
  scratch_path_ = Normalize(scratch_dir);
  ResetModel();
}

FaultFileSystem::~FaultFileSystem() = default;

// ---- helpers ----

int FaultFileSystem::TakeFault(int& remaining, int err) {
  if (remaining <= 0) return 0;
  --remaining;
  ++stats_.injected_errors;
  return err;
}

std::string FaultFileSystem::Normalize(const std::string& path) const {
  std::filesystem::path p(path);
  if (p.is_relative()) p = std::filesystem::current_path() / p;
  std::string s = p.lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

std::string FaultFileSystem::PathOf(const Node* node) const {
  if (node == root_) return "/";
  if (node == scratch_) return scratch_path_;
  return Join(PathOf(node->cur.parent), node->cur.name);
}

Status FaultFileSystem::Admit() const {
  if (!cutting_) return absl::OkStatus();
  return absl::FailedPreconditionError("a simulated power cut is in progress");
}

Node* FaultFileSystem::NewNode(Node* parent, const std::string& name, bool is_dir, bool durable) {
  auto node = std::make_shared<Node>();
  node->id = next_id_++;
  node->is_dir = is_dir;
  node->cur = Loc{parent, name};
  if (durable) node->dur = node->cur;
  if (parent != nullptr) parent->children[name] = node.get();
  Node* raw = node.get();
  nodes_.emplace(raw->id, std::move(node));
  return raw;
}

void FaultFileSystem::MoveInModel(Node* node, Node* parent, const std::string& name) {
  if (Node* old = node->cur.parent; old != nullptr) {
    auto it = old->children.find(node->cur.name);
    if (it != old->children.end() && it->second == node) old->children.erase(it);
  }
  node->cur = Loc{parent, name};
  parent->children[name] = node;
}

void FaultFileSystem::ResetModel() {
  nodes_.clear();
  root_ = NewNode(nullptr, "", /*is_dir=*/true, /*durable=*/true);
  scratch_ = NewNode(nullptr, "", /*is_dir=*/true, /*durable=*/false);
}

Task<StatusOr<Node*>> FaultFileSystem::Lookup(Node* parent, std::string name) {
  if (auto it = parent->children.find(name); it != parent->children.end()) co_return it->second;
  const std::string dir = PathOf(parent);
  CO_ASSIGN_OR_RETURN(std::vector<std::string> names, co_await base_.list_dir(dir));
  if (std::find(names.begin(), names.end(), name) == names.end()) co_return nullptr;
  // The entry may have appeared meanwhile through another call; the model wins.
  if (auto it = parent->children.find(name); it != parent->children.end()) co_return it->second;
  auto sub = co_await base_.list_dir(Join(dir, name));
  if (auto it = parent->children.find(name); it != parent->children.end()) co_return it->second;
  co_return NewNode(parent, name, /*is_dir=*/sub.ok(), /*durable=*/true);
}

Task<StatusOr<Node*>> FaultFileSystem::Resolve(std::string path) {
  Node* node = root_;
  size_t pos = 1;
  while (pos < path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    const std::string name = path.substr(pos, slash - pos);
    if (!node->is_dir) co_return ErrnoStatus(ENOTDIR, path);
    CO_ASSIGN_OR_RETURN(Node * child, co_await Lookup(node, name));
    if (child == nullptr) co_return ErrnoStatus(ENOENT, path);
    node = child;
    pos = slash + 1;
  }
  co_return node;
}

Task<StatusOr<Node*>> FaultFileSystem::ResolveParent(std::string path, std::string* name) {
  const size_t slash = path.rfind('/');
  if (path == "/" || slash == std::string::npos) {
    co_return absl::InvalidArgumentError(absl::StrCat("no parent directory: ", path));
  }
  *name = path.substr(slash + 1);
  std::string dir = slash == 0 ? std::string("/") : path.substr(0, slash);
  CO_ASSIGN_OR_RETURN(Node * parent, co_await Resolve(std::move(dir)));
  if (!parent->is_dir) co_return ErrnoStatus(ENOTDIR, path);
  co_return parent;
}

Task<Status> FaultFileSystem::EnsureScratch() {
  while (!scratch_ready_ && scratch_preparing_ != nullptr) {
    std::shared_ptr<io::Event> preparing = scratch_preparing_;
    co_await preparing->wait();
  }
  if (scratch_ready_) co_return absl::OkStatus();
  scratch_preparing_ = std::make_shared<io::Event>(reactor_);
  Status st = co_await PrepareScratch();
  scratch_ready_ = st.ok();
  std::exchange(scratch_preparing_, nullptr)->set();
  co_return st;
}

Task<Status> FaultFileSystem::PrepareScratch() {
  Status made = co_await base_.mkdir(scratch_path_);
  if (made.ok() || made.code() != absl::StatusCode::kAlreadyExists) co_return made;
  CO_ASSIGN_OR_RETURN(std::vector<std::string> stale, co_await base_.list_dir(scratch_path_));
  for (const std::string& name : stale) {
    CO_RETURN_IF_ERROR(co_await RemoveAll(Join(scratch_path_, name)));
  }
  co_return absl::OkStatus();
}

Task<Status> FaultFileSystem::MoveToScratch(Node* node) {
  CO_RETURN_IF_ERROR(co_await EnsureScratch());
  const std::string name = absl::StrCat("n", node->id);
  CO_RETURN_IF_ERROR(co_await base_.rename(PathOf(node), Join(scratch_path_, name)));
  MoveInModel(node, scratch_, name);
  co_return absl::OkStatus();
}

Task<Status> FaultFileSystem::RemoveAll(std::string path) {
  Status st = co_await base_.unlink(path);
  if (st.ok() || ErrnoOf(st) == ENOENT) co_return absl::OkStatus();
  auto names = co_await base_.list_dir(path);
  if (!names.ok()) co_return st;
  for (const std::string& name : *names) CO_RETURN_IF_ERROR(co_await RemoveAll(Join(path, name)));
  co_return co_await base_.rmdir(path);
}

Task<Status> FaultFileSystem::CollectGarbage() {
  // Detach doomed nodes from the model first (no suspension), then delete them on disk.
  std::vector<std::pair<std::string, bool>> doomed;
  bool changed = true;
  while (changed) {
    changed = false;
    for (auto it = nodes_.begin(); it != nodes_.end();) {
      Node* n = it->second.get();
      if (n->cur.parent != scratch_ || n->dur.has_value() || !n->children.empty()) {
        ++it;
        continue;
      }
      doomed.emplace_back(PathOf(n), n->is_dir);
      scratch_->children.erase(n->cur.name);
      // Entries that were durable only inside a directory now gone for good are gone too.
      for (auto& [id, other] : nodes_) {
        if (other->dur.has_value() && other->dur->parent == n) {
          other->dur.reset();
          changed = true;
        }
      }
      it = nodes_.erase(it);
    }
  }
  for (const auto& [path, is_dir] : doomed) {
    if (is_dir) {
      CO_RETURN_IF_ERROR(co_await RemoveAll(path));
    } else {
      CO_RETURN_IF_ERROR(co_await base_.unlink(path));
    }
  }
  co_return absl::OkStatus();
}

// ---- io::FileSystem ----

Task<StatusOr<std::unique_ptr<io::File>>> FaultFileSystem::open(std::string path,
                                                                io::OpenMode mode) {
  CO_RETURN_IF_ERROR(Admit());
  OpGuard guard(*this);
  const std::string p = Normalize(path);
  std::string name;
  CO_ASSIGN_OR_RETURN(Node * parent, co_await ResolveParent(p, &name));
  CO_ASSIGN_OR_RETURN(Node * node, co_await Lookup(parent, name));
  const bool creates = mode == io::OpenMode::kCreate || mode == io::OpenMode::kCreateExclusive;
  if (node == nullptr && !creates) co_return ErrnoStatus(ENOENT, absl::StrCat("open ", p));
  CO_ASSIGN_OR_RETURN(std::unique_ptr<io::File> file, co_await base_.open(p, mode));
  if (node == nullptr) {
    // Another call may have created it while base_.open() ran.
    auto it = parent->children.find(name);
    node = it != parent->children.end() ? it->second
                                        : NewNode(parent, name, /*is_dir=*/false,
                                                  /*durable=*/false);
    if (node->data == nullptr && !node->is_dir) node->data = std::make_shared<FileData>(0);
  } else if (node->data == nullptr && !node->is_dir) {
    CO_ASSIGN_OR_RETURN(uint64_t size, co_await file->size());
    if (node->data == nullptr) node->data = std::make_shared<FileData>(size);
  }
  co_return std::make_unique<FaultFile>(*this, std::move(file), node->data, p);
}

Task<Status> FaultFileSystem::rename(std::string from, std::string to) {
  CO_RETURN_IF_ERROR(Admit());
  OpGuard guard(*this);
  const std::string f = Normalize(from);
  const std::string t = Normalize(to);
  const std::string what = absl::StrCat("rename ", f, " to ", t);
  CO_ASSIGN_OR_RETURN(Node * src, co_await Resolve(f));
  if (f == t) co_return absl::OkStatus();
  std::string name;
  CO_ASSIGN_OR_RETURN(Node * parent, co_await ResolveParent(t, &name));
  for (Node* a = parent; a != nullptr; a = a->cur.parent) {
    if (a == src) co_return ErrnoStatus(EINVAL, what);
  }
  CO_ASSIGN_OR_RETURN(Node * victim, co_await Lookup(parent, name));
  if (victim != nullptr) {
    if (src->is_dir != victim->is_dir) co_return ErrnoStatus(src->is_dir ? ENOTDIR : EISDIR, what);
    if (victim->is_dir) {
      CO_ASSIGN_OR_RETURN(std::vector<std::string> names, co_await base_.list_dir(t));
      if (!names.empty()) co_return ErrnoStatus(ENOTEMPTY, what);
    }
    // Keep the replaced entry in scratch so that a power cut before sync_dir can bring it back.
    CO_RETURN_IF_ERROR(co_await MoveToScratch(victim));
  }
  Status st = co_await base_.rename(f, t);
  if (!st.ok()) {
    if (victim != nullptr) {
      Status back = co_await base_.rename(PathOf(victim), t);
      if (back.ok()) MoveInModel(victim, parent, name);
    }
    co_return st;
  }
  MoveInModel(src, parent, name);
  co_return absl::OkStatus();
}

Task<Status> FaultFileSystem::unlink(std::string path) {
  CO_RETURN_IF_ERROR(Admit());
  OpGuard guard(*this);
  const std::string p = Normalize(path);
  CO_ASSIGN_OR_RETURN(Node * node, co_await Resolve(p));
  if (node->is_dir) co_return ErrnoStatus(EISDIR, absl::StrCat("unlink ", p));
  co_return co_await MoveToScratch(node);
}

Task<Status> FaultFileSystem::mkdir(std::string path) {
  CO_RETURN_IF_ERROR(Admit());
  OpGuard guard(*this);
  const std::string p = Normalize(path);
  std::string name;
  CO_ASSIGN_OR_RETURN(Node * parent, co_await ResolveParent(p, &name));
  CO_ASSIGN_OR_RETURN(Node * existing, co_await Lookup(parent, name));
  if (existing != nullptr) co_return ErrnoStatus(EEXIST, absl::StrCat("mkdir ", p));
  CO_RETURN_IF_ERROR(co_await base_.mkdir(p));
  NewNode(parent, name, /*is_dir=*/true, /*durable=*/false);
  co_return absl::OkStatus();
}

Task<Status> FaultFileSystem::rmdir(std::string path) {
  CO_RETURN_IF_ERROR(Admit());
  OpGuard guard(*this);
  const std::string p = Normalize(path);
  CO_ASSIGN_OR_RETURN(Node * node, co_await Resolve(p));
  if (!node->is_dir) co_return ErrnoStatus(ENOTDIR, absl::StrCat("rmdir ", p));
  if (node == root_) co_return ErrnoStatus(EBUSY, absl::StrCat("rmdir ", p));
  CO_ASSIGN_OR_RETURN(std::vector<std::string> names, co_await base_.list_dir(p));
  if (!names.empty()) co_return ErrnoStatus(ENOTEMPTY, absl::StrCat("rmdir ", p));
  co_return co_await MoveToScratch(node);
}

Task<Status> FaultFileSystem::sync_dir(std::string path) {
  CO_RETURN_IF_ERROR(Admit());
  OpGuard guard(*this);
  const std::string p = Normalize(path);
  if (int err = TakeFault(fail_dir_syncs_, fail_dir_syncs_err_); err != 0) {
    co_return ErrnoStatus(err, absl::StrCat("sync_dir ", p, " (injected)"));
  }
  CO_RETURN_IF_ERROR(co_await base_.sync_dir(p));
  CO_ASSIGN_OR_RETURN(Node * dir, co_await Resolve(p));
  for (auto& [id, n] : nodes_) {
    if (n->cur.parent == dir || (n->dur.has_value() && n->dur->parent == dir)) {
      if (n->cur.parent == scratch_) {
        n->dur.reset();
      } else {
        n->dur = n->cur;
      }
    }
  }
  ++stats_.dir_syncs;
  co_return co_await CollectGarbage();
}

Task<StatusOr<std::vector<std::string>>> FaultFileSystem::list_dir(std::string path) {
  CO_RETURN_IF_ERROR(Admit());
  OpGuard guard(*this);
  const std::string p = Normalize(path);
  CO_ASSIGN_OR_RETURN(std::vector<std::string> names, co_await base_.list_dir(p));
  const size_t slash = scratch_path_.rfind('/');
  if (p == (slash == 0 ? "/" : scratch_path_.substr(0, slash))) {
    std::erase(names, scratch_path_.substr(slash + 1));
  }
  co_return names;
}

Task<StatusOr<uint64_t>> FaultFileSystem::file_size(std::string path) {
  CO_RETURN_IF_ERROR(Admit());
  OpGuard guard(*this);
  co_return co_await base_.file_size(Normalize(path));
}

// ---- power cut ----

bool FaultFileSystem::Survives(const Node* node) const {
  // Follows durable parents up to the root; a cycle (possible with unsynced directory renames)
  // or a missing durable entry means the node is lost.
  size_t steps = 0;
  while (node != root_) {
    if (!node->dur.has_value() || node->dur->parent == nullptr || node->dur->parent == scratch_ ||
        ++steps > nodes_.size()) {
      return false;
    }
    node = node->dur->parent;
  }
  return true;
}

Task<Status> FaultFileSystem::RestoreData(Node* node, PowerCutOptions options, uint64_t& rng) {
  const FileData& d = *node->data;
  uint64_t keep = 0;
  if (options.torn_tail && d.size > d.durable.size) {
    keep = SplitMix64(rng) % (d.size - d.durable.size + 1);
  }
  CO_ASSIGN_OR_RETURN(std::unique_ptr<io::File> file,
                      co_await base_.open(PathOf(node), io::OpenMode::kReadWrite));
  CO_RETURN_IF_ERROR(co_await file->truncate(d.durable.size + keep));
  for (const auto& [offset, bytes] : d.durable.undo.ranges()) {
    CO_RETURN_IF_ERROR(co_await file->write_at(offset, bytes));
  }
  co_return co_await file->close();
}

Task<Status> FaultFileSystem::SimulatePowerCut(PowerCutOptions options) {
  if (cutting_ || busy_ != 0) {
    co_return absl::FailedPreconditionError(
        "SimulatePowerCut() while other calls on the FaultFileSystem are in flight");
  }
  cutting_ = true;
  ++generation_;
  if (gate_ != nullptr) {  // parked syncs wake up, see the new generation and fail
    std::shared_ptr<io::Event> old = std::exchange(gate_, std::make_shared<io::Event>(reactor_));
    old->set();
  }
  Status st = co_await RewriteDurableState(options);
  ResetModel();
  cutting_ = false;
  if (st.ok()) ++stats_.power_cuts;
  co_return st;
}

Task<Status> FaultFileSystem::RewriteDurableState(PowerCutOptions options) {
  std::vector<Node*> all;
  for (auto& [id, n] : nodes_) {
    if (n.get() != root_ && n.get() != scratch_) all.push_back(n.get());
  }
  std::map<const Node*, bool> alive;
  for (Node* n : all) alive[n] = Survives(n);

  // 1. File data back to each survivor's durable image.
  uint64_t rng = options.seed;
  for (Node* n : all) {
    if (alive[n] && !n->is_dir && n->data != nullptr) {
      CO_RETURN_IF_ERROR(co_await RestoreData(n, options, rng));
    }
  }
  // 2. Everything lost or out of place goes to scratch (a directory takes its subtree along).
  for (Node* n : all) {
    const bool in_place = alive[n] && n->dur == n->cur;
    if (!in_place && n->cur.parent != scratch_) CO_RETURN_IF_ERROR(co_await MoveToScratch(n));
  }
  // 3. Survivors back to their durable places, parents first.
  std::vector<std::pair<size_t, Node*>> staged;
  for (Node* n : all) {
    if (!alive[n] || n->cur.parent != scratch_) continue;
    size_t depth = 0;
    for (const Node* a = n; a != root_; a = a->dur->parent) ++depth;
    staged.emplace_back(depth, n);
  }
  std::sort(staged.begin(), staged.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [depth, n] : staged) {
    Loc to = *n->dur;
    CO_RETURN_IF_ERROR(co_await base_.rename(PathOf(n), Join(PathOf(to.parent), to.name)));
    MoveInModel(n, to.parent, to.name);
  }
  // 4. What is left in scratch was never durable, or its removal was.
  if (scratch_ready_) {
    CO_ASSIGN_OR_RETURN(std::vector<std::string> names, co_await base_.list_dir(scratch_path_));
    for (const std::string& name : names) {
      CO_RETURN_IF_ERROR(co_await RemoveAll(Join(scratch_path_, name)));
    }
  }
  co_return absl::OkStatus();
}

// ---- faults and the sync gate ----

void FaultFileSystem::FailNextWrites(int n, int err) {
  fail_writes_ = n;
  fail_writes_err_ = err;
}

void FaultFileSystem::FailNextSyncs(int n, int err) {
  fail_syncs_ = n;
  fail_syncs_err_ = err;
}

void FaultFileSystem::FailNextDirSyncs(int n, int err) {
  fail_dir_syncs_ = n;
  fail_dir_syncs_err_ = err;
}

void FaultFileSystem::SetWriteBudget(uint64_t bytes) {
  budget_set_ = true;
  budget_left_ = bytes;
}

void FaultFileSystem::ClearWriteBudget() {
  budget_set_ = false;
  budget_left_ = 0;
}

void FaultFileSystem::ClearFaults() {
  fail_writes_ = 0;
  fail_syncs_ = 0;
  fail_dir_syncs_ = 0;
  ClearWriteBudget();
}

void FaultFileSystem::HoldSyncs() {
  if (gate_ == nullptr) gate_ = std::make_shared<io::Event>(reactor_);
}

void FaultFileSystem::ReleaseSyncs() {
  if (gate_ == nullptr) return;
  std::shared_ptr<io::Event> gate = std::move(gate_);
  gate_ = nullptr;
  gate->set();
}

}  // namespace spool::testing
