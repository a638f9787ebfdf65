#include "svckit/net/backend_url.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iterator>

#include "svckit/core/duration.hpp"
#include "svckit/core/environment.hpp"

namespace svckit::net {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<std::multimap<std::string, std::string>> parse_query(std::string_view query) {
  std::multimap<std::string, std::string> out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    auto key = url_decode(pair.substr(0, eq), true);
    if (!key) return key.error();
    auto value = url_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
    if (!value) return value.error();
    out.emplace(std::move(*key), std::move(*value));
  }
  return out;
}

namespace {

Result<HostPort> parse_host_port(std::string_view text, std::uint16_t default_port) {
  HostPort out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      return make_error(ErrorCode::invalid_argument, "unclosed '[' in host '" + std::string(text) + "'", "url");
    }
    out.host = std::string(text.substr(1, close - 1));
    const auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':')
        return make_error(ErrorCode::invalid_argument, "bad host '" + std::string(text) + "'", "url");
      port_text = rest.substr(1);
    }
  } else {
    const auto colon = text.rfind(':');
    out.host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) port_text = text.substr(colon + 1);
  }
  if (out.host.empty())
    return make_error(ErrorCode::invalid_argument, "missing host in '" + std::string(text) + "'", "url");
  out.port = default_port;
  if (!port_text.empty()) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc{} || ptr != port_text.data() + port_text.size() || value == 0 || value > 65535) {
      return make_error(ErrorCode::invalid_argument, "bad port '" + std::string(port_text) + "'", "url");
    }
    out.port = static_cast<std::uint16_t>(value);
  }
  if (out.port == 0)
    return make_error(ErrorCode::invalid_argument, "missing port in '" + std::string(text) + "'", "url");
  return out;
}

}  // namespace

Result<std::string> url_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) {
        return make_error(ErrorCode::invalid_argument, "truncated percent escape", "url");
      }
      const int hi = hex_value(text[i + 1]);
      const int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) return make_error(ErrorCode::invalid_argument, "bad percent escape", "url");
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string url_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Result<BackendUrl> parse_backend_url(std::string_view url, std::uint16_t default_port) {
  BackendUrl out;
  const auto sep = url.find("://");
  if (sep == std::string_view::npos || sep == 0) {
    return make_error(ErrorCode::invalid_argument, "'" + std::string(url) + "' is not a URL like scheme://host:port",
                      "url");
  }
  out.scheme = std::string(url.substr(0, sep));
  auto rest = url.substr(sep + 3);
  const auto q = rest.find('?');
  if (q != std::string_view::npos) {
    auto query = parse_query(rest.substr(q + 1));
    if (!query) return query.error();
    out.query = std::move(*query);
    rest = rest.substr(0, q);
  }
  const auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) out.path = std::string(rest.substr(slash));
  while (!authority.empty()) {
    const auto comma = authority.find(',');
    auto hp = parse_host_port(authority.substr(0, comma), default_port);
    if (!hp) return hp.error();
    out.hosts.push_back(std::move(*hp));
    authority = comma == std::string_view::npos ? std::string_view{} : authority.substr(comma + 1);
  }
  return out;
}

Result<void> check_url_options(const BackendUrl& url, std::string_view what, const std::vector<std::string_view>& known,
                               const std::vector<std::string_view>& also) {
  const auto listed = [&](const std::string& key) {
    return std::find(known.begin(), known.end(), key) != known.end() ||
           std::find(also.begin(), also.end(), key) != also.end();
  };
  for (const auto& [key, value] : url.query) {
    if (listed(key)) continue;
    std::string names;
    for (const auto* list : {&known, &also}) {
      for (const auto name : *list) names += (names.empty() ? "" : ", ") + std::string(name);
    }
    return make_error(ErrorCode::invalid_argument,
                      "unknown " + std::string(what) + " option ?" + key + "= (" +
                          (names.empty() ? std::string("it takes none") : "known: " + names) + ")",
                      key);
  }
  return {};
}

Result<std::chrono::milliseconds> backend_url_duration(const BackendUrl& url, const std::string& key,
                                                       std::chrono::milliseconds fallback) {
  auto it = url.query.find(key);
  if (it == url.query.end()) return fallback;
  return parse_duration(it->second, key);
}

Result<std::size_t> backend_url_count(const BackendUrl& url, const std::string& key, std::size_t fallback,
                                      std::size_t max) {
  auto it = url.query.find(key);
  if (it == url.query.end()) return fallback;
  std::size_t value = 0;
  const auto& text = it->second;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size() || value == 0 || value > max) {
    return make_error(ErrorCode::invalid_argument, key + " must be a number from 1 to " + std::to_string(max), key);
  }
  return value;
}

Result<TlsFiles> backend_url_tls(const BackendUrl& url, bool enabled_by_default) {
  TlsFiles out;
  out.enabled = enabled_by_default;
  if (auto it = url.query.find("tls"); it != url.query.end()) {
    if (it->second != "true" && it->second != "false") {
      return make_error(ErrorCode::invalid_argument, "tls must be true or false", "tls");
    }
    out.enabled = it->second == "true";
  }
  const std::pair<const char*, std::string*> files[] = {
      {"ca_file", &out.ca_file}, {"cert_file", &out.cert_file}, {"key_file", &out.key_file}};
  for (const auto& [key, field] : files) {
    auto it = url.query.find(key);
    if (it == url.query.end()) continue;
    if (!out.enabled) return make_error(ErrorCode::invalid_argument, std::string(key) + " needs tls=true", key);
    if (!std::ifstream(it->second)) {
      return make_error(ErrorCode::invalid_argument, "cannot read " + it->second, key);
    }
    *field = it->second;
  }
  if (out.cert_file.empty() != out.key_file.empty()) {
    return make_error(ErrorCode::invalid_argument, "a client certificate needs both cert_file and key_file",
                      out.cert_file.empty() ? "cert_file" : "key_file");
  }
  return out;
}

Result<std::string> backend_url_secret(const BackendUrl& url) {
  if (auto it = url.query.find("password_env"); it != url.query.end()) {
    for (const auto& [name, value] : process_environment()) {
      if (name == it->second && !value.empty()) return value;
    }
    return make_error(ErrorCode::invalid_argument, "environment variable " + it->second + " is not set",
                      "password_env");
  }
  if (auto it = url.query.find("password_file"); it != url.query.end()) {
    std::ifstream in(it->second);
    if (!in) return make_error(ErrorCode::invalid_argument, "cannot read " + it->second, "password_file");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return text;
  }
  return std::string{};
}

}  // namespace svckit::net
