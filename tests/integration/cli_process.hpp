// Runs the svckit CLI as a child process. SVCKIT_CLI in the environment picks another build of it
// (scripts/check-clang-fuzz runs these tests with the ASan build); default: this build's.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "svckit/testing/process.hpp"

namespace svckit::testing {

struct CliResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

inline std::string cli_binary() {
  const char* chosen = std::getenv("SVCKIT_CLI");
  return chosen != nullptr && *chosen != '\0' ? chosen : SVCKIT_CLI_BIN;
}

inline CliResult run_cli(const std::filesystem::path& dir, std::vector<std::string> args) {
  args.insert(args.begin(), cli_binary());
  const auto out = dir / "cli.out";
  std::filesystem::remove(out);
  auto child = ChildProcess::spawn(args, out);
  if (!child) return {};
  const int status = child->wait_exit(std::chrono::seconds(30));
  return {status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_file(out)};
}

}  // namespace svckit::testing
