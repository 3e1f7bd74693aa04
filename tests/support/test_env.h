// Test support shared by the unit tests: temporary directories and a reactor built the way the
// suite asks (SPOOL_IO_BACKEND selects the backend, as ctest sets it per registered test).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/io/reactor.h"

namespace spool::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A reactor on the backend the environment selects; aborts the test binary if none can be made.
std::unique_ptr<io::Reactor> MakeReactor();

// The backend SPOOL_IO_BACKEND asks for, or nullopt when it is unset (the reactor then picks).
std::optional<io::Backend> RequestedBackend();

// Byte helpers for I/O tests.
std::vector<std::byte> ToBytes(std::string_view s);
std::string ToString(std::span<const std::byte> b);

// The seed for a randomized test: $SPOOL_SEED if set, else a fresh one. Printed either way,
// with the command line that replays it.
uint64_t TestSeed();

}  // namespace spool::testing
