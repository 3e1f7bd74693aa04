// Consumer groups under process faults: three member processes in one group over a 12-partition
// topic while a producer writes at a steady rate. In order:
//   1. members A and B share the topic; C joins (the join's pause is measured per member);
//   2. A is frozen with SIGSTOP until the group has moved its partitions to B and C (its session
//      expired), then resumed: it finds itself fenced, reports its partitions lost and rejoins;
//   3. B leaves cleanly (SIGTERM: close() sends LeaveGroup);
//   4. C is killed with SIGKILL (its partitions move after the session timeout);
//   5. the producer stops and A, now alone, consumes to the end and leaves.
// Every member commits after it processes (commit_sync of each polled batch) and logs what it
// processed and committed, with CLOCK_MONOTONIC times (the same clock in every process), to its
// own file before and after each step. At the end:
//   - every record in the log was processed by some member (at-least-once);
//   - the committed offsets, sampled throughout by an observer, never went backwards, and end at
//     the log end of every partition;
//   - duplicates are bounded by the uncommitted window: no member processed a record after a
//     commit covering it had succeeded (a record is consumed twice only when its first consumer
//     processed it but never committed it);
//   - with cooperative-sticky, A and B keep 4 of their 6 partitions when C joins and are never
//     left with nothing during that rebalance; with range (eager) everything is revoked.
// The figures (rebalance time, the longest consumption pause of each member, duplicates) are
// printed, not asserted. The members are this binary re-executed (SPOOL_CHAOS_MEMBER set).
#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/admin.h"
#include "consumer/consumer.h"
#include "gtest/gtest.h"
#include "producer/producer.h"
#include "tests/support/admin_test_util.h"
#include "tests/support/broker_process.h"
#include "tests/support/test_env.h"

namespace spool {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kPartitions = 12;
constexpr char kTopic[] = "chaos";
constexpr char kGroup[] = "chaos-group";
constexpr int kSessionTimeoutMs = 6000;  // the broker's group.min.session.timeout.ms

int64_t MonoNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// ---- the member process ----

std::atomic<bool> g_terminate{false};
void OnTerminate(int) {
  g_terminate = true;
}

// Appends whole lines to the member's log with one write() each, so a SIGKILL never leaves a
// batch half written in the kernel (a torn last line is still tolerated by the reader).
class LineLog {
 public:
  explicit LineLog(const std::string& path)
      : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) {}
  ~LineLog() {
    if (fd_ >= 0) ::close(fd_);
  }
  void Write(const std::string& lines) {
    size_t done = 0;
    while (done < lines.size()) {
      const ssize_t n = ::write(fd_, lines.data() + done, lines.size() - done);
      if (n <= 0) return;
      done += static_cast<size_t>(n);
    }
  }

 private:
  int fd_;
};

class LostLogger : public ConsumerRebalanceListener {
 public:
  explicit LostLogger(LineLog* log) : log_(log) {}
  void on_partitions_revoked(const std::vector<TopicPartition>&) override {}
  void on_partitions_assigned(const std::vector<TopicPartition>&) override {}
  void on_partitions_lost(const std::vector<TopicPartition>& partitions) override {
    log_->Write(absl::StrCat("l ", MonoNs(), " ", partitions.size(), "\n"));
  }

 private:
  LineLog* log_;
};

// Log lines: "s <ns>" started, "a <ns> <p,p,...>" assignment after a poll when it changed,
// "p <ns> <partition> <offset>" processed, "c <ns> <partition> <next offset>" committed,
// "l <ns> <n>" partitions lost, "e <ns> <text>" an unexpected error.
int RunMember(const std::string& bootstrap, const std::string& log_path,
              const std::string& assignor) {
  ::signal(SIGTERM, OnTerminate);
  LineLog log(log_path);
  log.Write(absl::StrCat("s ", MonoNs(), "\n"));
  ConsumerConfig c;
  c.bootstrap_servers = {bootstrap};
  c.group_id = kGroup;
  c.client_id = "chaos-member";
  c.auto_offset_reset = OffsetResetPolicy::kEarliest;
  c.enable_auto_commit = false;
  c.session_timeout_ms = kSessionTimeoutMs;
  c.heartbeat_interval_ms = 500;
  c.max_poll_interval_ms = 10000;
  c.fetch_max_wait_ms = 100;
  c.max_poll_records = 50;
  c.metadata_max_age_ms = 2000;
  c.partition_assignment_strategy = {assignor};
  auto consumer = Consumer::Create(c);
  if (!consumer.ok()) {
    log.Write(absl::StrCat("e ", MonoNs(), " create: ", consumer.status().ToString(), "\n"));
    return 3;
  }
  LostLogger lost(&log);
  if (Status st = (*consumer)->subscribe({kTopic}, &lost); !st.ok()) {
    log.Write(absl::StrCat("e ", MonoNs(), " subscribe: ", st.ToString(), "\n"));
    return 3;
  }
  std::string last_assignment = "-";
  while (!g_terminate) {
    // Records are logged with the time their poll() began: they were handed out after it.
    const int64_t polled_at = MonoNs();
    StatusOr<ConsumerRecords> records = (*consumer)->poll(milliseconds(100));
    if (!records.ok()) {
      log.Write(absl::StrCat("e ", MonoNs(), " poll: ", records.status().ToString(), "\n"));
      return 3;
    }
    std::vector<int32_t> parts;
    for (const TopicPartition& tp : (*consumer)->assignment()) parts.push_back(tp.partition);
    std::sort(parts.begin(), parts.end());
    std::string assignment = absl::StrJoin(parts, ",");
    if (assignment != last_assignment) {
      log.Write(absl::StrCat("a ", MonoNs(), " ", assignment.empty() ? "-" : assignment, "\n"));
      last_assignment = assignment;
    }
    OffsetMap offsets;
    std::string processed;
    for (const ConsumerRecord& r : *records) {
      absl::StrAppend(&processed, "p ", polled_at, " ", r.partition, " ", r.offset, "\n");
      offsets[TopicPartition{std::string(r.topic), r.partition}] = {r.offset + 1, ""};
    }
    if (offsets.empty()) continue;
    log.Write(processed);  // processed before it is committed
    Status st = (*consumer)->commit_sync(offsets);
    if (st.ok()) {
      std::string committed;
      const int64_t now = MonoNs();
      for (const auto& [tp, om] : offsets) {
        absl::StrAppend(&committed, "c ", now, " ", tp.partition, " ", om.offset, "\n");
      }
      log.Write(committed);
    } else if (st.code() != absl::StatusCode::kFailedPrecondition) {
      // kFailedPrecondition: the generation moved on (a rebalance fenced it); anything else is
      // worth seeing in the log, but the records will simply be consumed again.
      log.Write(absl::StrCat("e ", MonoNs(), " commit: ", st.ToString(), "\n"));
    }
  }
  Status closed = (*consumer)->close();
  if (!closed.ok()) {
    log.Write(absl::StrCat("e ", MonoNs(), " close: ", closed.ToString(), "\n"));
    return 4;
  }
  return 0;
}

TEST(ChaosMemberProcess, Member) {
  const char* bootstrap = std::getenv("SPOOL_CHAOS_MEMBER");
  const char* log = std::getenv("SPOOL_CHAOS_LOG");
  const char* assignor = std::getenv("SPOOL_CHAOS_ASSIGNOR");
  if (bootstrap == nullptr || log == nullptr || assignor == nullptr) {
    GTEST_SKIP() << "only as a member process";
  }
  ::_exit(RunMember(bootstrap, log, assignor));
}

// ---- the test's view of a member ----

struct MemberLog {
  struct Assignment {
    int64_t ns;
    std::set<int32_t> partitions;
  };
  struct Event {
    int64_t ns;
    int32_t partition;
    int64_t offset;
  };
  std::vector<Assignment> assignments;
  std::vector<Event> processed;
  std::vector<Event> committed;
  int64_t started_ns = 0;
  int lost = 0;
  std::vector<std::string> errors;

  std::set<int32_t> current() const {
    return assignments.empty() ? std::set<int32_t>{} : assignments.back().partitions;
  }
};

// Parses the complete lines of `text` into `out`; returns how many bytes it consumed (a torn last
// line is left for the next read).
size_t ParseMemberLog(std::string_view text, MemberLog* out) {
  size_t used = 0;
  while (true) {
    const size_t eol = text.find('\n', used);
    if (eol == std::string_view::npos) return used;
    std::istringstream f{std::string(text.substr(used, eol - used))};
    used = eol + 1;
    char kind = 0;
    int64_t ns = 0;
    if (!(f >> kind >> ns)) continue;
    if (kind == 's') {
      out->started_ns = ns;
    } else if (kind == 'a') {
      std::string list;
      if (!(f >> list)) continue;
      MemberLog::Assignment a{ns, {}};
      if (list != "-") {
        std::istringstream parts(list);
        std::string p;
        while (std::getline(parts, p, ',')) a.partitions.insert(std::stoi(p));
      }
      out->assignments.push_back(std::move(a));
    } else if (kind == 'p' || kind == 'c') {
      MemberLog::Event e{ns, 0, 0};
      if (!(f >> e.partition >> e.offset)) continue;
      (kind == 'p' ? out->processed : out->committed).push_back(e);
    } else if (kind == 'l') {
      ++out->lost;
    } else if (kind == 'e') {
      out->errors.push_back(std::string(f.str()));
    }
  }
}

// One member process. Everything the child needs is built before fork(): it only calls execve.
class MemberProcess {
 public:
  MemberProcess(const std::string& name, const std::string& bootstrap, const std::string& log,
                const std::string& assignor)
      : name_(name), log_(log) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
    env.push_back("SPOOL_CHAOS_MEMBER=" + bootstrap);
    env.push_back("SPOOL_CHAOS_LOG=" + log);
    env.push_back("SPOOL_CHAOS_ASSIGNOR=" + assignor);
    std::vector<char*> envp;
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string arg0 = "consumer_group_chaos_test";
    std::string arg1 = "--gtest_filter=ChaosMemberProcess.Member";
    char* argv[] = {arg0.data(), arg1.data(), nullptr};
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execve("/proc/self/exe", argv, envp.data());
      ::_exit(127);
    }
  }
  ~MemberProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  bool started() const { return pid_ > 0; }
  const std::string& name() const { return name_; }
  // What the member logged so far (read incrementally: only the bytes added since the last call).
  const MemberLog& log() {
    std::ifstream in(log_, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(read_));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    read_ += ParseMemberLog(text, &parsed_);
    return parsed_;
  }
  void Signal(int sig) { ::kill(pid_, sig); }
  // Waits (deadline) for the process to exit; its exit code, or -1 (a signal, or the deadline).
  int Wait(std::chrono::seconds limit) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(milliseconds(20));  // a poll interval, not synchronisation
    }
    return -1;
  }

 private:
  std::string name_;
  std::string log_;
  pid_t pid_ = -1;
  size_t read_ = 0;
  MemberLog parsed_;
};

bool WaitUntil(const std::function<bool()>& pred, std::chrono::seconds limit) {
  const auto deadline = Clock::now() + limit;
  while (!pred()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(20));  // a poll interval, not synchronisation
  }
  return true;
}

// The longest gap between two records a member processed, over the window [from, to] (the gap
// from the last record before `from` and to the first after `to` included).
int64_t LongestPauseMs(const MemberLog& m, int64_t from, int64_t to) {
  int64_t prev = -1, longest = 0;
  for (const MemberLog::Event& e : m.processed) {
    if (e.ns < from) {
      prev = e.ns;
      continue;
    }
    if (prev >= 0) longest = std::max(longest, e.ns - prev);
    prev = e.ns;
    if (e.ns > to) break;
  }
  if (prev >= 0 && prev < to) longest = std::max(longest, to - prev);
  return longest / 1'000'000;
}

class ConsumerGroupChaosTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::cout << std::unitbuf;  // progress lines appear as they happen
    auto broker = testing::BrokerProcess::Start({.data_dir = dir_.file("data")});
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = *std::move(broker);
    bootstrap_ = broker_->address().ToString();
    auto admin = client::AdminSession::Open(bootstrap_, milliseconds(30000), "chaos-test");
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = *std::move(admin);
    v1::CreateTopicsRequest create;
    v1::CreatableTopic* t = create.add_topics();
    t->set_name(kTopic);
    t->set_num_partitions(kPartitions);
    auto created = admin_->CreateTopics(create);
    ASSERT_TRUE(created.ok()) << created.status();
    ASSERT_EQ(created->topics(0).error_code(), proto::ErrorCode::NONE);
  }

  void TearDown() override {
    StopProducer();
    StopObserver();
    if (HasFailure() && broker_) std::cerr << "spoold log:\n" << broker_->log_tail(60) << "\n";
  }

  std::unique_ptr<MemberProcess> Spawn(const std::string& name) {
    return std::make_unique<MemberProcess>(name, bootstrap_, dir_.file(name + ".log"), GetParam());
  }

  // Round-robin over the partitions at about 2,000 records/s until StopProducer().
  void StartProducer() {
    producer_ = std::thread([this] {
      ProducerConfig pc;
      pc.bootstrap_servers = {bootstrap_};
      pc.linger_ms = 5;
      auto producer = Producer::Create(pc);
      if (!producer.ok()) {
        producer_failed_ = true;
        return;
      }
      int64_t i = 0;
      const auto start = Clock::now();
      while (!stop_producer_) {
        for (int k = 0; k < 20; ++k, ++i) {
          ProducerRecord r;
          r.topic = kTopic;
          r.partition = static_cast<int32_t>(i % kPartitions);
          r.value = absl::StrCat("r", i);
          Status st = (*producer)->send(r, [this](StatusOr<RecordMetadata> m) {
            if (!m.ok()) producer_failed_ = true;
          });
          if (!st.ok()) producer_failed_ = true;
        }
        // Pacing the load at 20 records per 10 ms (not synchronisation).
        std::this_thread::sleep_until(start + milliseconds(10 * (i / 20)));
      }
      (*producer)->flush();
      (*producer)->close();
    });
  }
  void StopProducer() {
    stop_producer_ = true;
    if (producer_.joinable()) producer_.join();
  }

  // Samples the group's committed offsets every 50 ms; any offset going down is a failure.
  void StartObserver() {
    observer_ = std::thread([this] {
      std::map<int32_t, int64_t> last;
      while (!stop_observer_) {
        for (const auto& [p, offset] : Committed()) {
          if (offset < last[p]) {
            backwards_ = absl::StrCat("partition ", p, ": committed ", last[p], " then ", offset);
          }
          last[p] = std::max(last[p], offset);
        }
        std::this_thread::sleep_for(milliseconds(50));  // the sampling period
      }
    });
  }
  void StopObserver() {
    stop_observer_ = true;
    if (observer_.joinable()) observer_.join();
  }

  std::map<int32_t, int64_t> Committed() {
    std::lock_guard lock(admin_mu_);
    auto r = admin_->CommittedOffsets(kGroup, testing::TopicPartitions(kTopic, kPartitions));
    return r.ok() ? testing::ByPartition(*r) : std::map<int32_t, int64_t>{};
  }

  std::map<int32_t, int64_t> LogEnds() {
    std::lock_guard lock(admin_mu_);
    auto r = admin_->OffsetsBySpec(testing::TopicPartitions(kTopic, kPartitions),
                                   v1::OFFSET_SPEC_LATEST);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? testing::ByPartition(*r) : std::map<int32_t, int64_t>{};
  }

  // True when the live members' current assignments are disjoint and have these sizes.
  static bool Balanced(const std::vector<MemberProcess*>& members,
                       const std::vector<size_t>& sizes) {
    std::set<int32_t> all;
    size_t total = 0;
    for (size_t i = 0; i < members.size(); ++i) {
      const std::set<int32_t> mine = members[i]->log().current();
      if (mine.size() != sizes[i]) return false;
      all.insert(mine.begin(), mine.end());
      total += mine.size();
    }
    return all.size() == total;
  }

  static std::string Describe(const std::vector<MemberProcess*>& members) {
    std::string out;
    for (MemberProcess* m : members) {
      absl::StrAppend(&out, m->name(), "=[", absl::StrJoin(m->log().current(), ","), "] ");
    }
    return out;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::BrokerProcess> broker_;
  std::mutex admin_mu_;
  std::unique_ptr<client::AdminSession> admin_;
  std::string bootstrap_;
  std::thread producer_, observer_;
  std::atomic<bool> stop_producer_{false}, stop_observer_{false}, producer_failed_{false};
  std::string backwards_;  // written by the observer, read after it joined
};

TEST_P(ConsumerGroupChaosTest, JoinPauseKillLeaveLoseNothing) {
  const bool cooperative = GetParam() == "cooperative-sticky";
  StartProducer();
  StartObserver();
  auto a = Spawn("A");
  auto b = Spawn("B");
  ASSERT_TRUE(a->started() && b->started());
  ASSERT_TRUE(WaitUntil(
      [&] {
        return Balanced({a.get(), b.get()}, {6, 6});
      },
      std::chrono::seconds(30)))
      << "two members: " << Describe({a.get(), b.get()});
  const std::set<int32_t> a_before = a->log().current(), b_before = b->log().current();

  // 1. C joins.
  auto c = Spawn("C");
  ASSERT_TRUE(WaitUntil(
      [&] {
        return Balanced({a.get(), b.get(), c.get()}, {4, 4, 4});
      },
      std::chrono::seconds(30)))
      << "three members: " << Describe({a.get(), b.get(), c.get()});
  {
    const MemberLog la = a->log(), lb = b->log(), lc = c->log();
    const int64_t from = lc.started_ns, to = lc.assignments.back().ns;
    std::cout << GetParam() << ": C joined; balanced " << (to - from) / 1'000'000
              << " ms after it started; longest consumption pause A "
              << LongestPauseMs(la, from, to) << " ms, B " << LongestPauseMs(lb, from, to)
              << " ms\n";
    if (cooperative) {
      for (const auto& [log, before] : {std::pair{&la, &a_before}, std::pair{&lb, &b_before}}) {
        const std::set<int32_t> now = log->current();
        std::set<int32_t> kept;
        std::set_intersection(before->begin(), before->end(), now.begin(), now.end(),
                              std::inserter(kept, kept.begin()));
        EXPECT_EQ(kept.size(), 4u) << "cooperative-sticky moves only what it must";
        for (const MemberLog::Assignment& as : log->assignments) {
          if (as.ns > from) {
            EXPECT_FALSE(as.partitions.empty()) << "revoked everything";
          }
        }
      }
    }
  }

  // 2. A frozen past its session timeout, then resumed.
  a->Signal(SIGSTOP);
  const auto frozen_at = Clock::now();
  ASSERT_TRUE(WaitUntil(
      [&] {
        return Balanced({b.get(), c.get()}, {6, 6});
      },
      std::chrono::seconds(30)))
      << "after A froze: " << Describe({b.get(), c.get()});
  std::cout << GetParam() << ": A frozen; its partitions moved after "
            << std::chrono::duration_cast<milliseconds>(Clock::now() - frozen_at).count()
            << " ms (session.timeout.ms " << kSessionTimeoutMs << ")\n";
  a->Signal(SIGCONT);
  ASSERT_TRUE(WaitUntil(
      [&] {
        return Balanced({a.get(), b.get(), c.get()}, {4, 4, 4});
      },
      std::chrono::seconds(30)))
      << "after A resumed: " << Describe({a.get(), b.get(), c.get()});
  EXPECT_GE(a->log().lost, 1) << "a fenced member reports its partitions lost";

  // 3. B leaves cleanly.
  const auto leave_at = Clock::now();
  b->Signal(SIGTERM);
  EXPECT_EQ(b->Wait(std::chrono::seconds(30)), 0) << "B's close()";
  ASSERT_TRUE(WaitUntil(
      [&] {
        return Balanced({a.get(), c.get()}, {6, 6});
      },
      std::chrono::seconds(10)))
      << "after B left: " << Describe({a.get(), c.get()});
  std::cout << GetParam() << ": B left; balanced after "
            << std::chrono::duration_cast<milliseconds>(Clock::now() - leave_at).count() << " ms\n";

  // 4. C killed.
  c->Signal(SIGKILL);
  EXPECT_EQ(c->Wait(std::chrono::seconds(10)), -1);
  ASSERT_TRUE(WaitUntil([&] { return Balanced({a.get()}, {12}); }, std::chrono::seconds(30)))
      << "after C was killed: " << Describe({a.get()});

  // 5. The producer stops; A consumes to the end and leaves.
  StopProducer();
  ASSERT_FALSE(producer_failed_) << "a produced record was not acknowledged";
  const std::map<int32_t, int64_t> ends = LogEnds();
  const std::vector<MemberProcess*> all = {a.get(), b.get(), c.get()};
  auto processed_everything = [&] {
    std::set<std::pair<int32_t, int64_t>> seen;
    for (MemberProcess* m : all) {
      for (const MemberLog::Event& e : m->log().processed) seen.insert({e.partition, e.offset});
    }
    for (const auto& [p, end] : ends) {
      for (int64_t o = 0; o < end; ++o) {
        if (!seen.contains({p, o})) return false;
      }
    }
    return true;
  };
  ASSERT_TRUE(WaitUntil(processed_everything, std::chrono::seconds(60)))
      << "not every record was processed";
  ASSERT_TRUE(WaitUntil([&] { return Committed() == ends; }, std::chrono::seconds(30)))
      << "committed offsets did not reach the log end";
  a->Signal(SIGTERM);
  EXPECT_EQ(a->Wait(std::chrono::seconds(30)), 0) << "A's close()";
  StopObserver();
  EXPECT_EQ(backwards_, "") << "committed offsets went backwards";

  // Duplicates only from uncommitted windows: nobody processed a record after a commit
  // covering it had succeeded.
  std::map<int32_t, std::vector<std::pair<int64_t, int64_t>>> commits;  // partition -> (ns, offset)
  std::map<std::pair<int32_t, int64_t>, int> times;
  int64_t records = 0;
  for (const auto& [p, end] : ends) records += end;
  for (MemberProcess* m : all) {
    const MemberLog& log = m->log();
    EXPECT_TRUE(log.errors.empty()) << m->name() << ": " << absl::StrJoin(log.errors, "; ");
    for (const MemberLog::Event& e : log.committed)
      commits[e.partition].push_back({e.ns, e.offset});
    for (const MemberLog::Event& e : log.processed) ++times[{e.partition, e.offset}];
  }
  for (auto& [p, list] : commits) {
    std::sort(list.begin(), list.end());
    for (size_t i = 1; i < list.size(); ++i) {
      list[i].second = std::max(list[i].second, list[i - 1].second);  // highest commit so far
    }
  }
  int64_t duplicates = 0;
  for (const auto& [key, n] : times) duplicates += n - 1;
  for (MemberProcess* m : all) {
    for (const MemberLog::Event& e : m->log().processed) {
      // The highest offset committed before this record was processed.
      const auto& list = commits[e.partition];
      auto it = std::lower_bound(list.begin(), list.end(), std::pair<int64_t, int64_t>{e.ns, 0});
      const int64_t covered = it == list.begin() ? 0 : std::prev(it)->second;
      ASSERT_GE(e.offset, covered)
          << m->name() << " processed " << kTopic << "-" << e.partition << "@" << e.offset
          << " after offset " << covered << " had been committed";
    }
  }
  std::cout << GetParam() << ": " << records << " records, " << duplicates
            << " processed twice (uncommitted when their member was fenced, killed or left)\n";
}

INSTANTIATE_TEST_SUITE_P(Assignors, ConsumerGroupChaosTest,
                         ::testing::Values("cooperative-sticky", "range"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param == "range" ? std::string("Range")
                                                        : std::string("CooperativeSticky");
                         });

}  // namespace
}  // namespace spool
