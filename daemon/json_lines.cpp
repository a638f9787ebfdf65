#include "daemon/json_lines.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace svckit::daemon {

Result<std::unique_ptr<JsonLines>> JsonLines::open(const std::string& file, const std::string& setting) {
  if (file == "-") return std::unique_ptr<JsonLines>(new JsonLines(STDERR_FILENO, false));
  const int fd = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return make_error(ErrorCode::invalid_argument, "cannot open '" + file + "': " + std::strerror(errno), setting);
  }
  return std::unique_ptr<JsonLines>(new JsonLines(fd, true));
}

JsonLines::~JsonLines() {
  if (owned_) ::close(fd_);
}

void JsonLines::write(const nlohmann::json& line) {
  const auto text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  (void)!::write(fd_, text.data(), text.size());  // one call: O_APPEND keeps lines whole
}

std::string utc_timestamp(SystemTime time) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  const auto seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char out[64];  // room for any int the format could print (GCC checks)
  std::snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
                utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(ms % 1000));
  return out;
}

}  // namespace svckit::daemon
