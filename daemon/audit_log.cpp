#include "daemon/audit_log.hpp"

namespace svckit::daemon {

void AuditLog::record(const AuditEntry& entry) {
  nlohmann::json line{{"time", utc_timestamp(time_.system_now())},
                      {"peer", entry.peer},
                      {"method", entry.method},
                      {"path", entry.path},
                      {"route", entry.route},
                      {"status", entry.status},
                      {"result", entry.status < 400 ? "accepted" : "refused"}};
  if (!entry.token.empty()) line["token"] = entry.token;
  lines_.write(line);
}

}  // namespace svckit::daemon
