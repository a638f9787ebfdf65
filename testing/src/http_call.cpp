#include "svckit/testing/http_call.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace svckit::testing {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

/// A connection to 127.0.0.1:port with `bytes` written (as many as the server took: it may answer
/// and close before reading everything, e.g. 413); -1 when the connect failed (`error` says why).
int connect_and_send(int port, const std::string& bytes, std::string* error = nullptr) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {  // NOLINT
    if (error != nullptr) *error = "connect to port " + std::to_string(port) + ": " + std::strerror(errno);
    close(fd);
    return -1;
  }
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const auto n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  return fd;
}

/// The payload of a chunked body (chunk extensions and trailers skipped); stops at a malformed
/// or missing chunk (what arrived so far).
std::string dechunk(const std::string& body) {
  std::string out;
  std::size_t at = 0;
  for (;;) {
    const auto line_end = body.find("\r\n", at);
    if (line_end == std::string::npos) break;
    std::size_t size = 0;
    try {
      size = std::stoul(body.substr(at, line_end - at), nullptr, 16);
    } catch (const std::exception&) {
      break;
    }
    if (size == 0 || line_end + 2 + size > body.size()) break;
    out.append(body, line_end + 2, size);
    at = line_end + 2 + size + 2;
  }
  return out;
}

}  // namespace

std::string HttpAnswer::header(const std::string& name) const {
  const auto needle = "\r\n" + lower(name) + ":";
  const auto hay = lower(raw_headers);
  const auto pos = hay.find(needle);
  if (pos == std::string::npos) return {};
  const auto start = pos + needle.size();
  const auto end = raw_headers.find("\r\n", start);
  auto value = raw_headers.substr(start, end - start);
  value.erase(0, value.find_first_not_of(' '));
  return value;
}

HttpAnswer raw_http(int port, const std::string& bytes, std::chrono::milliseconds timeout, bool half_close) {
  HttpAnswer answer;
  const int fd = connect_and_send(port, bytes, &answer.error);
  if (fd < 0) return answer;
  if (half_close) shutdown(fd, SHUT_WR);
  std::string data;
  std::string ended = "the server closed the connection";
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      ended = "no answer within " + std::to_string(timeout.count()) + " ms";
      break;
    }
    const auto n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) ended = std::string("recv: ") + std::strerror(errno);
    if (n <= 0) break;
    data.append(buf, static_cast<std::size_t>(n));
    // Stop at the end of the first response when Content-Length says so.
    const auto head_end = data.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      HttpAnswer probe;
      probe.raw_headers = data.substr(0, head_end + 2);
      const auto cl = probe.header("Content-Length");
      if (!cl.empty() && data.size() >= head_end + 4 + std::stoul(cl)) break;
    }
  }
  close(fd);
  const auto head_end = data.find("\r\n\r\n");
  if (data.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos) {
    answer.error = ended + " after " + std::to_string(data.size()) + " bytes of answer";
    return answer;
  }
  answer.status = std::atoi(data.c_str() + 9);
  answer.raw_headers = data.substr(0, head_end + 2);
  answer.body = data.substr(head_end + 4);
  const auto cl = answer.header("Content-Length");
  if (!cl.empty()) answer.body.resize(std::min(answer.body.size(), std::stoul(cl)));
  return answer;
}

std::string raw_exchange(int port, const std::string& bytes, std::chrono::milliseconds timeout) {
  std::string data;
  const int fd = connect_and_send(port, bytes);
  if (fd < 0) return data;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    const auto n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    data.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  return data;
}

int count_responses(const std::string& bytes) {
  int n = 0;
  for (auto at = bytes.find("HTTP/1.1 "); at != std::string::npos; at = bytes.find("HTTP/1.1 ", at + 1)) ++n;
  return n;
}

HttpAnswer http_call(int port, const std::string& method, const std::string& target, const std::string& body,
                     const std::vector<std::string>& extra_headers, std::chrono::milliseconds timeout) {
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& h : extra_headers) request += h + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") {
    request += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  auto answer = raw_http(port, request, timeout, /*half_close=*/false);
  if (lower(answer.header("Transfer-Encoding")).find("chunked") != std::string::npos) {
    answer.body = dechunk(answer.body);
  }
  return answer;
}

}  // namespace svckit::testing
