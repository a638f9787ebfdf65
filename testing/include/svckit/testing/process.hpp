// Starting real processes (svckitd, demo services, servers) for integration tests and benchmarks.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "svckit/core/result.hpp"

namespace svckit::testing {

/// A child process started by the test; killed (SIGKILL) and reaped on destruction if still running.
/// Not thread-safe.
class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  /// fork + exec of argv (argv[0] searched in PATH when it has no slash); stdout and stderr go to `log_file` (appended)
  /// when given.
  static Result<ChildProcess> spawn(const std::vector<std::string>& argv, const std::filesystem::path& log_file = {},
                                    const std::vector<std::string>& extra_env = {});

  pid_t pid() const { return pid_; }
  bool running();
  /// Sends `signal` and waits (bounded) for the exit. Returns the exit status as from waitpid, or -1.
  int stop(int signal, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// Waits (bounded) for the process to exit by itself. Returns the raw wait status, or -1 on timeout.
  int wait_exit(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
};

/// Polls `condition` every few milliseconds until it holds or `timeout` passes. This is how tests
/// wait for other processes: an event with a bound, never a fixed sleep.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

/// A fresh temporary directory, removed with its content on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// Reads a whole file; empty when missing.
std::string read_file(const std::filesystem::path& path);

/// Finds a TCP port that is free now on 127.0.0.1 (bind to 0, read, close). For servers that
/// cannot bind port 0 themselves and report it (etcd, redis); svckit binaries take port 0.
int free_port();

/// A free loopback port below the kernel's ephemeral range (net.ipv4.ip_local_port_range), for a
/// server a test kills and restarts on the same port: a port from free_port() is one the kernel
/// also hands out for outgoing connections and to other tests' free_port(), so while the server
/// is down another process may take it. Different processes probe from different places.
int free_port_outside_ephemeral();

/// True when a TCP connect to 127.0.0.1:port succeeds.
bool port_open(int port);

/// Starts a binary that takes `--port P --port-file F` (svckitd, demo services) and waits until
/// it wrote its port and accepts connections. Adds `--port 0` unless argv has a --port. Returns the
/// port through `port`.
Result<ChildProcess> start_listening_binary(std::vector<std::string> argv, const std::filesystem::path& dir, int& port,
                                            std::chrono::milliseconds timeout = std::chrono::seconds(20));

}  // namespace svckit::testing
