#include "cli/output.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "svckit/core/duration.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/registry/registry_json.hpp"

#include <iostream>
#include <sstream>

namespace svckit::cli {

int exit_code_for(const Error& e) {
  switch (e.code) {
    case ErrorCode::invalid_argument:
    case ErrorCode::payload_too_large:
      return 2;
    case ErrorCode::not_found:
      return 3;
    case ErrorCode::unavailable:
    case ErrorCode::timeout:
      return 4;
    case ErrorCode::unauthenticated:
    case ErrorCode::permission_denied:
      return 5;
    default:
      return 1;
  }
}

Error invalid(std::string message, std::string field) {
  return make_error(ErrorCode::invalid_argument, std::move(message), std::move(field));
}

std::string fixed(double v, int digits) {
  std::ostringstream out;
  out.precision(digits);
  out << std::fixed << v;
  return out.str();
}

int report(const Error& e) {
  std::cerr << "svckit: " << e.message << (e.field.empty() ? "" : " [" + e.field + "]") << "\n";
  return exit_code_for(e);
}

void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out << line << "\n";
  }
}

namespace {
std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out.empty() ? "-" : out;
}
}  // namespace

void print_instances(std::ostream& out, const std::vector<ServiceInstance>& instances, bool json) {
  if (json) {
    nlohmann::json array = nlohmann::json::array();
    for (const auto& in : instances) array.push_back(to_json(in));
    out << array.dump(2) << "\n";
    return;
  }
  std::vector<std::vector<std::string>> rows{
      {"SERVICE", "ID", "ADDRESS", "STATUS", "WEIGHT", "ZONE", "TAGS", "TTL", "LAST HEARTBEAT"}};
  for (const auto& in : instances) {
    rows.push_back({in.service, in.id, in.base_url(), std::string(to_string(in.status)), std::to_string(in.weight),
                    in.zone.empty() ? "-" : in.zone, join(in.tags), in.persistent() ? "-" : format_duration(in.ttl),
                    format_rfc3339(in.last_heartbeat)});
  }
  print_table(out, rows);
}

void print_services(std::ostream& out, const std::vector<ServiceSummary>& services, bool json) {
  if (json) {
    nlohmann::json array = nlohmann::json::array();
    for (const auto& s : services) array.push_back(to_json(s));
    out << array.dump(2) << "\n";
    return;
  }
  std::vector<std::vector<std::string>> rows{{"SERVICE", "INSTANCES", "HEALTHY"}};
  for (const auto& s : services) rows.push_back({s.name, std::to_string(s.instances), std::to_string(s.healthy)});
  print_table(out, rows);
}

void print_event(std::ostream& out, const RegistryEvent& event, bool json) {
  if (json) {
    out << to_json(event).dump() << std::endl;
    return;
  }
  out << event.index << "  " << to_string(event.type) << "  " << event.instance.service << "/" << event.instance.id
      << "  " << event.instance.base_url() << "  " << to_string(event.instance.status);
  if (event.previous_status) out << " (was " << to_string(*event.previous_status) << ")";
  out << std::endl;
}

void print_members(std::ostream& out, const nlohmann::json& answer, bool json) {
  if (json) {
    out << answer.dump() << "\n";
    return;
  }
  std::vector<std::vector<std::string>> rows{{"NODE", "API", "GATEWAY", "CHECKED", "STARTED"}};
  for (const auto& m : answer.value("members", nlohmann::json::array())) {
    rows.push_back({m.value("name", "") + (m.value("self", false) ? " *" : ""), m.value("api", ""),
                    m.value("gateway", "").empty() ? "-" : m.value("gateway", ""),
                    std::to_string(m.value("checked_instances", 0)), m.value("started", "-")});
  }
  print_table(out, rows);
  if (answer.contains("store")) {
    const auto& store = answer["store"];
    out << "store: " << store.value("url", "") << (store.value("connected", false) ? " (connected" : " (NOT connected")
        << ", revision " << store.value("revision", 0) << ")";
    if (store.contains("held_here")) {
      out << "; heartbeats answered here for " << store.value("held_here", 0) << " TTL instance(s)";
    }
    out << "\n";
  } else {
    out << "store: embedded (one node)\n";
  }
}

}  // namespace svckit::cli
