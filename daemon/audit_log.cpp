#include "daemon/audit_log.hpp"

namespace svckit::daemon {

void AuditLog::record(const AuditEntry& entry) {
  lines_.write(nlohmann::json{{"time", utc_timestamp(time_.system_now())},
                              {"peer", entry.peer},
                              {"method", entry.method},
                              {"path", entry.path},
                              {"route", entry.route},
                              {"status", entry.status},
                              {"result", entry.status < 400 ? "accepted" : "refused"}});
}

}  // namespace svckit::daemon
