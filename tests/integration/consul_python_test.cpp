// A real third-party Consul client in Python: Debian's python3-consul2 (0.1.5) walks a service's
// life against svckitd — HTTP and TTL checks, pass/warn/fail, a blocking query, maintenance,
// agent checks, catalog reads, deregistration (tests/python/consul2_lifecycle.py).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "svckitd_process.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;

TEST(ConsulPython, Consul2WalksAServicesWholeLifeAgainstSvckitd) {
  // Debian's interpreter: the client is a Debian package (scripts/setup installs python3-consul2).
  const std::string python = "/usr/bin/python3";
  ASSERT_EQ(std::system((python + " -c 'import consul' 2>/dev/null").c_str()), 0)
      << "python3-consul2 is missing: run scripts/setup";
  TempDir dir;
  auto daemon = SvckitdProcess::start(dir.path());
  ASSERT_NE(daemon, nullptr);
  const auto out = dir.path() / "python.log";
  auto child = ChildProcess::spawn(
      {python, std::string(SVCKIT_PYTHON_DIR) + "/consul2_lifecycle.py", std::to_string(daemon->port)}, out);
  ASSERT_TRUE(child) << child.error().message;
  const int status = child->wait_exit(60s);
  const auto log = read_file(out);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << log;
  for (const char* step : {"http check passing", "ttl check pass/warn/fail", "blocking query woke",
                           "maintenance on and off", "catalog and agent reads", "deregistered"}) {
    EXPECT_NE(log.find(step), std::string::npos) << step << " missing from:\n" << log;
  }
}

}  // namespace
}  // namespace svckit::testing
