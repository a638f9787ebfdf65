// JsonLines: an append-only file of JSON lines (svckitd's audit log, the gateway's access log), or
// stderr. Each line is one write(2) on an O_APPEND descriptor, so lines written by concurrent
// requests or threads never interleave. Files are created with mode 0600.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "svckit/core/result.hpp"
#include "svckit/core/time_source.hpp"

namespace svckit::daemon {

/// Thread-safe.
class JsonLines {
 public:
  /// `file` "-" = stderr. Errors name `setting` (e.g. "audit.file") and the reason.
  static Result<std::unique_ptr<JsonLines>> open(const std::string& file, const std::string& setting);
  ~JsonLines();
  JsonLines(const JsonLines&) = delete;
  JsonLines& operator=(const JsonLines&) = delete;

  void write(const nlohmann::json& line);

 private:
  JsonLines(int fd, bool owned) : fd_(fd), owned_(owned) {}
  const int fd_;
  const bool owned_;
};

/// "2026-12-05T09:58:12.345Z" (UTC, milliseconds).
std::string utc_timestamp(SystemTime time);

}  // namespace svckit::daemon
