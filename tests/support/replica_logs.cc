#include "tests/support/replica_logs.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "log/record/batch_reader.h"

namespace spool::testing {

std::string ReadSegments(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.size() == 24 && n.ends_with(".log")) names.push_back(n);
  }
  std::sort(names.begin(), names.end());
  std::string out;
  for (const std::string& n : names) {
    std::ifstream in(dir + "/" + n, std::ios::binary);
    out.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return out;
}

std::vector<StoredRecord> RecordsOf(const std::string& bytes) {
  std::vector<StoredRecord> out;
  std::span<const std::byte> rest(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size());
  while (!rest.empty()) {
    auto reader = record::BatchReader::Open(rest);
    if (!reader.ok()) break;
    record::RecordView r;
    for (;;) {
      StatusOr<bool> more = reader->Next(&r);
      if (!more.ok() || !*more) break;
      out.push_back(StoredRecord{r.offset, r.value ? std::string(record::AsString(*r.value)) : ""});
    }
    rest = rest.subspan(reader->header().total_size());
  }
  return out;
}

ReplicaCheck CheckReplicaLogs(const std::map<int, std::string>& dirs,
                              const std::map<int64_t, std::string>& acked) {
  ReplicaCheck out;
  auto problem = [&out](std::string text) {
    if (out.problems.size() < 5) out.problems.push_back(std::move(text));
  };
  std::map<int, std::string> logs;
  size_t shortest = SIZE_MAX;
  for (const auto& [id, dir] : dirs) {
    logs[id] = ReadSegments(dir);
    shortest = std::min(shortest, logs[id].size());
  }
  if (logs.empty()) return out;
  const auto& [first_id, first] = *logs.begin();
  for (const auto& [id, bytes] : logs) {
    if (bytes.compare(0, shortest, first, 0, shortest) != 0) {
      problem(absl::StrCat("node ", id, "'s log differs from node ", first_id, "'s"));
    }
  }
  const std::vector<StoredRecord> records = RecordsOf(first.substr(0, shortest));
  out.records = static_cast<int64_t>(records.size());
  std::map<int64_t, const std::string*> at;
  std::map<std::string, int> seen;
  int64_t last_seq = -1;
  for (const StoredRecord& s : records) {
    at[s.offset] = &s.value;
    if (seen[s.value]++ > 0) {
      out.duplicates++;
      problem(absl::StrCat("record ", s.value, " is stored twice (again at ", s.offset, ")"));
      continue;
    }
    const int64_t seq = std::stoll(s.value);
    if (seq < last_seq) {
      out.order_violations++;
      problem(absl::StrCat("record ", s.value, " at ", s.offset, " comes after ", last_seq));
    }
    last_seq = std::max(last_seq, seq);
  }
  for (const auto& [offset, value] : acked) {
    auto it = at.find(offset);
    if (it == at.end() || *it->second != value) {
      out.lost++;
      problem(absl::StrCat("acknowledged record ", value, " at offset ", offset, " is ",
                           it == at.end() ? "missing" : "another record: " + *it->second));
    }
  }
  return out;
}

}  // namespace spool::testing
