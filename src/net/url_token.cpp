#include "svckit/net/url_token.hpp"

#include <fstream>
#include <iterator>
#include <optional>

#include "svckit/core/environment.hpp"

namespace svckit::net {
namespace {

std::optional<std::string> variable(std::string_view name) {
  for (const auto& [key, value] : process_environment()) {
    if (key == name && !value.empty()) return value;
  }
  return std::nullopt;
}

Result<std::string> file_content(const std::string& path, const std::string& field) {
  std::ifstream in(path);
  if (!in) return make_error(ErrorCode::invalid_argument, "cannot read the token file " + path, field);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

Result<std::string> backend_url_token(const BackendUrl& url, std::string_view default_env) {
  if (auto it = url.query.find("token_env"); it != url.query.end()) {
    if (auto value = variable(it->second)) return *value;
    return make_error(ErrorCode::invalid_argument, "environment variable " + it->second + " is not set", "token_env");
  }
  if (auto it = url.query.find("token_file"); it != url.query.end()) return file_content(it->second, "token_file");
  if (default_env.empty()) return std::string{};
  if (auto value = variable(default_env)) return *value;
  const auto file_env = std::string(default_env) + "_FILE";
  if (auto path = variable(file_env)) return file_content(*path, file_env);
  return std::string{};
}

}  // namespace svckit::net
