#include "tests/support/test_env.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>

#include "gtest/gtest.h"

namespace spool::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/spool-test-XXXXXX";
  char* made = ::mkdtemp(tmpl.data());
  if (made == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::unique_ptr<io::Reactor> MakeReactor() {
  auto reactor = io::Reactor::Create();
  if (!reactor.ok()) {
    std::fprintf(stderr, "cannot create a reactor: %s\n", reactor.status().ToString().c_str());
    std::abort();
  }
  return std::move(reactor).value();
}

std::optional<io::Backend> RequestedBackend() {
  const char* env = std::getenv("SPOOL_IO_BACKEND");
  if (env == nullptr || *env == '\0') return std::nullopt;
  if (std::strcmp(env, "uring") == 0) return io::Backend::kUring;
  if (std::strcmp(env, "posix") == 0) return io::Backend::kPosix;
  return std::nullopt;
}

std::vector<std::byte> ToBytes(std::string_view s) {
  std::vector<std::byte> out(s.size());
  if (!s.empty()) std::memcpy(out.data(), s.data(), s.size());
  return out;
}

std::string ToString(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

uint64_t TestSeed() {
  uint64_t seed = 0;
  if (const char* s = std::getenv("SPOOL_SEED"); s != nullptr && *s != '\0') {
    seed = std::strtoull(s, nullptr, 10);
  } else {
    seed = std::random_device{}() ^ (static_cast<uint64_t>(std::random_device{}()) << 32);
  }
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::fprintf(stderr, "seed %llu (replay: SPOOL_SEED=%llu %s --gtest_filter=%s.%s)\n",
               static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed),
               ::testing::internal::GetArgvs().empty() ? "<test>"
                                                       : ::testing::internal::GetArgvs()[0].c_str(),
               info ? info->test_suite_name() : "*", info ? info->name() : "*");
  return seed;
}

}  // namespace spool::testing
