// Logs as JSON lines, for log pipelines (Loki, Elasticsearch, Cloud Logging) that index fields:
//
//   {"time":"2026-12-06T12:00:00.123Z","level":"info","component":"svckitd",
//    "message":"event=gateway_listening address=127.0.0.1 port=8080",
//    "fields":{"event":"gateway_listening","address":"127.0.0.1","port":"8080"}}
//
// svckit logs events as `key=value` pairs (values with spaces quoted: key="a b"); they are parsed
// into "fields" so a pipeline can filter on them without a regex; `trace_id` and `span_id` (the
// gateway's access lines inside a trace carry them) are also copied to the top level, where log
// pipelines link a line to its trace. `component` names the logger:
// spdlog's logger name, or the process's name for the default logger. Times are UTC.
//
//   spdlog::set_formatter(svckit::make_json_log_formatter("order-service"));
//
// Thread-safety: as spdlog's formatters (one per sink, cloned).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <spdlog/formatter.h>

namespace svckit {

/// The `key=value` pairs of a log message, in order; a value may be "quoted" (a backslash escapes
/// the next character). Words that are not pairs are skipped.
std::vector<std::pair<std::string, std::string>> log_fields(std::string_view message);

/// A spdlog formatter writing one JSON object per line (see above). `component` is used for the
/// default (unnamed) logger.
std::unique_ptr<spdlog::formatter> make_json_log_formatter(std::string component);

}  // namespace svckit
