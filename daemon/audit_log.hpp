// AuditLog: every write svckitd is asked for — accepted or refused — as one JSON line: when, from
// which address and ACL token (its accessor, never the secret), which method and path, the route
// it matched and the answer's status. Never a body, a query or a header value (any may carry a
// secret).
#pragma once

#include <string>

#include "daemon/json_lines.hpp"

namespace svckit::daemon {

struct AuditEntry {
  std::string peer;
  std::string token;  // the ACL token's accessor ("anonymous", "unknown"); empty when ACLs are off
  std::string method;
  std::string path;   // the request target without its query
  std::string route;  // the pattern matched, or why it was refused before routing
  int status = 0;
};

/// Thread-safe. `lines` and `time` must outlive it.
class AuditLog {
 public:
  AuditLog(JsonLines& lines, const TimeSource& time) : lines_(lines), time_(time) {}
  void record(const AuditEntry& entry);

 private:
  JsonLines& lines_;
  const TimeSource& time_;
};

}  // namespace svckit::daemon
