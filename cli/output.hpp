// Table and JSON rendering for the svckit CLI.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "svckit/registry/registry.hpp"

namespace svckit::cli {

/// The CLI's exit code for an error (docs/cli.md): 2 invalid input, 3 not found, 4 unavailable or
/// timed out, 5 refused by ACLs, 1 anything else.
int exit_code_for(const Error& e);
/// Prints `svckit: <message> [<field>]` to stderr and returns exit_code_for(e).
int report(const Error& e);
/// An invalid_argument error naming `field`.
Error invalid(std::string message, std::string field);
/// `v` with `digits` decimals.
std::string fixed(double v, int digits);

/// Left-aligned columns separated by two spaces; the first row is the header.
void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows);
void print_instances(std::ostream& out, const std::vector<ServiceInstance>& instances, bool json);
void print_services(std::ostream& out, const std::vector<ServiceSummary>& services, bool json);
void print_event(std::ostream& out, const RegistryEvent& event, bool json);
/// svckitd's GET /v1/cluster/members answer: the nodes (name, API, gateway, instances whose checks
/// each runs, the one answering marked *), then the store and its connection.
void print_members(std::ostream& out, const nlohmann::json& answer, bool json);

}  // namespace svckit::cli
