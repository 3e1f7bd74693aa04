// DetectEnvironment (result.h): the machine and build a benchmark result was measured on.
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <string>
#include <thread>

#include "bench/engine/result.h"
#include "git_revision.h"  // generated: SPOOL_GIT_REVISION

#ifndef SPOOL_BUILD_TYPE
#define SPOOL_BUILD_TYPE ""
#endif

namespace spool::bench {
namespace {

int DetectCores() {
  const unsigned hw = std::thread::hardware_concurrency();
  if (hw > 0) return static_cast<int>(hw);
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  return online > 0 ? static_cast<int>(online) : 1;
}

std::string NowUtcIso8601() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  if (gmtime_r(&now, &tm) == nullptr) return "";
  char buf[32];
  const size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

}  // namespace

Environment DetectEnvironment() {
  Environment env;
  env.cores = DetectCores();
  if (struct utsname u{}; uname(&u) == 0) env.kernel = u.release;
  const char* backend = std::getenv("SPOOL_IO_BACKEND");
  env.io_backend = backend != nullptr && *backend != '\0' ? backend : "uring";
  env.build_type = *SPOOL_BUILD_TYPE != '\0' ? SPOOL_BUILD_TYPE : "unknown";
  env.git_revision = SPOOL_GIT_REVISION;
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) == 0) env.hostname = host;
  env.started_at = NowUtcIso8601();
  return env;
}

}  // namespace spool::bench
