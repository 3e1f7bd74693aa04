// Plain-file helpers for the log tests that plant, damage or inspect a partition directory
// behind the log's back (as a crash or a bad disk would leave it): whole-file reads and writes,
// and the segment files of a directory. Header-only, for the storage tests. not thread-safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/strong_int.h"
#include "log/log_format.h"

namespace spool::testing {

// The bytes of the file at `path` (empty if it cannot be read).
inline std::vector<std::byte> Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(raw.size());
  if (!raw.empty()) std::memcpy(out.data(), raw.data(), raw.size());
  return out;
}

// Replaces the file at `path` with `bytes`.
inline void Spill(const std::string& path, std::span<const std::byte> bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

// dir/%020d<suffix> for the segment based at `base`.
inline std::string SegmentPath(const std::string& dir, int64_t base, std::string_view suffix) {
  return dir + "/" + log::SegmentStem(Offset(base)) + std::string(suffix);
}

// The base offsets of the segment (.log) files in `dir`, ascending.
inline std::vector<int64_t> SegmentBases(const std::string& dir) {
  std::vector<int64_t> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (auto b = log::ParseSegmentName(e.path().filename().string(), log::kLogSuffix)) {
      out.push_back(b->value());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace spool::testing
