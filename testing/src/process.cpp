#include "svckit/testing/process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

namespace svckit::testing {

ChildProcess::ChildProcess(ChildProcess&& other) noexcept : pid_(other.pid_) { other.pid_ = -1; }

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0) stop(SIGKILL);
    pid_ = other.pid_;
    other.pid_ = -1;
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) stop(SIGKILL);
}

Result<ChildProcess> ChildProcess::spawn(const std::vector<std::string>& argv, const std::filesystem::path& log_file,
                                         const std::vector<std::string>& extra_env) {
  if (argv.empty()) return make_error(ErrorCode::invalid_argument, "empty argv", "argv");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return make_error(ErrorCode::internal, "fork failed");
  if (pid == 0) {
    if (!log_file.empty()) {
      const int fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
      }
    }
    for (const auto& e : extra_env) putenv(const_cast<char*>(e.c_str()));
    execvp(args[0], args.data());  // PATH search for names like "redis-server"
    const char* what = "exec failed: ";
    (void)!::write(2, what, std::strlen(what));
    (void)!::write(2, args[0], std::strlen(args[0]));
    _exit(127);
  }
  ChildProcess child;
  child.pid_ = pid;
  return child;
}

bool ChildProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

int ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  int status = -1;
  const bool exited = wait_until(
      [&] {
        const pid_t r = waitpid(pid_, &status, WNOHANG);
        return r == pid_;
      },
      timeout);
  if (!exited) return -1;
  pid_ = -1;
  return status;
}

int ChildProcess::stop(int signal, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, signal);
  int status = wait_exit(timeout);
  if (status == -1 && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return -1;
  }
  return status;
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

TempDir::TempDir() {
  std::string templ = (std::filesystem::temp_directory_path() / "svckit-test-XXXXXX").string();
  char* made = mkdtemp(templ.data());
  path_ = made != nullptr ? std::filesystem::path(made) : std::filesystem::temp_directory_path();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {

/// 127.0.0.1:`port` (0: any free port, when bound).
sockaddr_in loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  return addr;
}

/// Binds a new TCP socket to 127.0.0.1:`port`; returns the port bound (the one chosen for 0), or
/// 0 when it could not be bound. The socket is closed again.
int bind_loopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  auto addr = loopback(port);
  int bound = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    socklen_t len = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) bound = ntohs(addr.sin_port);
  }
  close(fd);
  return bound;
}

}  // namespace

int free_port_outside_ephemeral() {
  int low = 32768;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> low;
  constexpr int kFirst = 10000;
  if (low <= kFirst + 1000) return free_port();
  static std::atomic<int> next{0};
  const int span = low - kFirst;
  const int start = static_cast<int>((static_cast<unsigned>(getpid()) * 7919U) % static_cast<unsigned>(span));
  for (int tries = 0; tries < 200; ++tries) {
    const int port = kFirst + (start + 97 * next.fetch_add(1)) % span;
    if (bind_loopback(port) == port) return port;
  }
  return free_port();
}

int free_port() { return bind_loopback(0); }

bool port_open(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  const auto addr = loopback(port);
  const bool ok = connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

Result<ChildProcess> start_listening_binary(std::vector<std::string> argv, const std::filesystem::path& dir, int& port,
                                            std::chrono::milliseconds timeout) {
  static int counter = 0;
  const auto port_file = dir / ("port-" + std::to_string(getpid()) + "-" + std::to_string(++counter));
  std::filesystem::remove(port_file);
  if (std::find(argv.begin(), argv.end(), "--port") == argv.end()) argv.insert(argv.end(), {"--port", "0"});
  argv.insert(argv.end(), {"--port-file", port_file.string()});
  const auto log = dir / (std::filesystem::path(argv[0]).filename().string() + ".log");
  auto child = ChildProcess::spawn(argv, log);
  if (!child) return child.error();
  port = 0;
  const bool ready = wait_until(
      [&] {
        if (!child->running()) return true;
        const auto text = read_file(port_file);
        if (text.empty() || text.back() != '\n') return false;
        port = std::atoi(text.c_str());
        return port > 0 && port_open(port);
      },
      timeout);
  if (!ready || port <= 0) {
    return make_error(ErrorCode::unavailable, argv[0] + " did not start listening; log:\n" + read_file(log));
  }
  return std::move(*child);
}

}  // namespace svckit::testing
