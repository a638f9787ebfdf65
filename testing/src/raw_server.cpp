#include "svckit/testing/raw_server.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace svckit::testing {

RawServer::RawServer(Answer answer) : answer_(std::move(answer)) {
  listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||  // NOLINT
      ::listen(listener_, 64) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {  // NOLINT
    throw std::runtime_error("RawServer: cannot listen on 127.0.0.1");
  }
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] {
    std::vector<std::thread> connections;
    while (!stopping_) {
      pollfd p{listener_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd >= 0) connections.emplace_back([this, fd] { serve(fd); });
    }
    for (auto& t : connections) t.join();
  });
}

RawServer::~RawServer() {
  stopping_ = true;
  thread_.join();
  ::close(listener_);
}

namespace {
bool send_all(int fd, const std::string& out) {
  std::size_t written = 0;
  while (written < out.size()) {
    const auto n = ::send(fd, out.data() + written, out.size() - written, MSG_NOSIGNAL);
    if (n <= 0) return false;
    written += static_cast<std::size_t>(n);
  }
  return true;
}
}  // namespace

int RawServer::push(const std::string& bytes) {
  std::lock_guard lock(mutex_);
  int n = 0;
  for (const int fd : open_) n += send_all(fd, bytes) ? 1 : 0;
  return n;
}

void RawServer::serve(int fd) {
  {
    std::lock_guard lock(mutex_);
    open_.insert(fd);
  }
  std::string pending;
  char buffer[4096];
  while (!stopping_) {
    const auto end = pending.find("\r\n\r\n");
    if (end != std::string::npos) {
      const std::string head = pending.substr(0, end + 4);
      pending.erase(0, end + 4);
      const std::string out = answer_(head, ++requests_);
      if (out.empty()) break;
      {
        std::lock_guard lock(mutex_);
        if (!send_all(fd, out)) break;
      }
      ++answered_;
      continue;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const auto n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    pending.append(buffer, static_cast<std::size_t>(n));
  }
  std::lock_guard lock(mutex_);
  open_.erase(fd);
  ::close(fd);
}

}  // namespace svckit::testing
