// svckit: command-line client for any svckit registry. See docs/cli.md.
//
// Exit codes: 0 success; 1 other failure; 2 bad usage or invalid input; 3 not found;
// 4 registry unavailable or timed out.
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <spdlog/sinks/stdout_color_sinks.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command_runner.hpp"
#include "cli/daemon_request.hpp"
#include "cli/debug_commands.hpp"
#include "cli/output.hpp"
#include "cli/token_commands.hpp"
#include "svckit/core/duration.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/core/log.hpp"
#include "svckit/registry/registry_json.hpp"

namespace {

namespace asio = boost::asio;
using namespace svckit;

using cli::report;

struct Options {
  std::string registry;
  bool json = false;
  // register
  ServiceInstance instance;
  std::vector<std::string> tags;
  std::vector<std::string> meta;
  std::string status_text;
  std::string ttl_text = "0s";
  std::string check_path;
  std::string check_interval_text = "10s";
  // positional
  std::string service;
  std::string id;
  // filters
  std::vector<std::string> filter_tags;
  std::vector<std::string> filter_meta;
  std::string filter_status;
  std::string filter_zone;
  // watch
  int count = 0;
  std::string watch_timeout;
};

Result<std::map<std::string, std::string>> parse_pairs(const std::vector<std::string>& pairs,
                                                       const std::string& field) {
  std::map<std::string, std::string> out;
  for (const auto& p : pairs) {
    const auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      return make_error(ErrorCode::invalid_argument, "expected key=value, got '" + p + "'", field);
    }
    out[p.substr(0, eq)] = p.substr(eq + 1);
  }
  return out;
}

Result<InstanceStatus> parse_status(const std::string& text) {
  auto s = parse_instance_status(text);
  if (!s) {
    return make_error(ErrorCode::invalid_argument,
                      "status must be one of starting, healthy, unhealthy, maintenance, down; got '" + text + "'",
                      "status");
  }
  return *s;
}

Awaitable<int> run_command(const std::string& command, Options& o, Registry& registry) {
  if (command == "register") {
    auto ttl = parse_duration(o.ttl_text, "ttl");
    if (!ttl) co_return report(ttl.error());
    o.instance.ttl = *ttl;
    o.instance.tags = o.tags;
    auto meta = parse_pairs(o.meta, "meta");
    if (!meta) co_return report(meta.error());
    o.instance.metadata = *meta;
    if (!o.check_path.empty()) {  // a real HTTP check that svckitd (or whoever runs checks) runs
      auto interval = parse_duration(o.check_interval_text, "check-interval");
      if (!interval) co_return report(interval.error());
      HealthCheckSpec check;
      check.type = "http";
      check.path = o.check_path;
      check.interval = *interval;
      check.timeout = std::min(check.timeout, *interval);
      if (auto v = validate(check, "check"); !v) co_return report(v.error());
      o.instance.checks.push_back(std::move(check));
      o.instance.health_check_path = o.check_path;
      o.instance.status = InstanceStatus::starting;  // until the first check passes
    }
    if (!o.status_text.empty()) {
      auto s = parse_status(o.status_text);
      if (!s) co_return report(s.error());
      o.instance.status = *s;
    }
    if (o.instance.port == 0) {  // before normalize(), which derives the id from host:port
      co_return report(make_error(ErrorCode::invalid_argument, "port must be 1..65535", "port"));
    }
    o.instance.normalize();
    if (auto v = validate(o.instance); !v) co_return report(v.error());
    auto r = co_await registry.register_instance(o.instance);
    if (!r) co_return report(r.error());
    if (o.json) {
      std::cout << to_json(*r).dump(2) << "\n";
    } else {
      std::cout << "registered " << r->service << "/" << r->id << " at " << r->base_url() << "\n";
    }
    co_return 0;
  }
  if (command == "deregister" || command == "heartbeat") {
    // Not `cond ? co_await a : co_await b`: GCC 12 destroys the temporaries of such an expression
    // twice (free(): invalid pointer on every run).
    Result<void> r;
    if (command == "deregister") {
      r = co_await registry.deregister(o.service, o.id);
    } else {
      r = co_await registry.renew(o.service, o.id);
    }
    if (!r) co_return report(r.error());
    if (!o.json) std::cout << command << " " << o.service << "/" << o.id << ": ok\n";
    if (o.json) std::cout << "{\"ok\":true}\n";
    co_return 0;
  }
  if (command == "status") {
    auto s = parse_status(o.status_text);
    if (!s) co_return report(s.error());
    auto r = co_await registry.set_status(o.service, o.id, *s);
    if (!r) co_return report(r.error());
    if (o.json) {
      std::cout << "{\"status\":\"" << o.status_text << "\"}\n";
    } else {
      std::cout << o.service << "/" << o.id << " is now " << o.status_text << "\n";
    }
    co_return 0;
  }
  if (command == "services") {
    auto r = co_await registry.list_services();
    if (!r) co_return report(r.error());
    cli::print_services(std::cout, *r, o.json);
    co_return 0;
  }
  if (command == "instances") {
    InstanceFilter filter;
    if (!o.filter_status.empty()) {
      auto s = parse_status(o.filter_status);
      if (!s) co_return report(s.error());
      filter.status = *s;
    }
    filter.tags = o.filter_tags;
    filter.zone = o.filter_zone;
    auto meta = parse_pairs(o.filter_meta, "meta");
    if (!meta) co_return report(meta.error());
    filter.metadata = *meta;
    auto r = co_await registry.list(o.service, std::move(filter));
    if (!r) co_return report(r.error());
    cli::print_instances(std::cout, *r, o.json);
    co_return 0;
  }
  if (command == "get") {
    auto r = co_await registry.get(o.service, o.id);
    if (!r) co_return report(r.error());
    if (o.json) {
      std::cout << to_json(*r).dump(2) << "\n";
    } else {
      cli::print_instances(std::cout, {*r}, false);
    }
    co_return 0;
  }
  if (command == "watch") {
    std::chrono::milliseconds limit{0};
    if (!o.watch_timeout.empty()) {
      auto d = parse_duration(o.watch_timeout, "timeout");
      if (!d) co_return report(d.error());
      limit = *d;
    }
    const auto deadline = std::chrono::steady_clock::now() + limit;
    std::uint64_t index = 0;
    int printed = 0;
    for (;;) {
      auto wait = std::chrono::milliseconds(30'000);
      if (limit.count() > 0) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) co_return 0;
        wait = std::min(wait, left);
      }
      auto r = co_await registry.watch({o.service, index, index == 0 ? std::chrono::milliseconds(0) : wait});
      if (!r) co_return report(r.error());
      if (r->reset) {
        for (const auto& in : r->snapshot) {
          cli::print_event(std::cout, RegistryEvent{r->index, EventType::registered, in, {}}, o.json);
          if (o.count > 0 && ++printed >= o.count) co_return 0;
        }
      }
      for (const auto& e : r->events) {
        cli::print_event(std::cout, e, o.json);
        if (o.count > 0 && ++printed >= o.count) co_return 0;
      }
      index = r->index;
    }
  }
  co_return report(make_error(ErrorCode::invalid_argument, "unknown command " + command, "command"));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"svckit - register, inspect and watch services in a svckit registry"};
  app.require_subcommand(1);
  app.fallthrough();  // --json and --registry may follow the subcommand
  Options o;
  const char* env_registry = std::getenv("SVCKIT_REGISTRY");
  o.registry = env_registry != nullptr ? env_registry : "svckitd://127.0.0.1:8500";
  app.add_option("-r,--registry", o.registry, "registry URL (env SVCKIT_REGISTRY; default svckitd://127.0.0.1:8500)");
  app.add_flag("--json", o.json, "machine-readable JSON output");
  std::string token;
  std::string token_file;
  app.add_option("--token", token,
                 "ACL token for svckitd or Consul (env SVCKIT_TOKEN / CONSUL_HTTP_TOKEN; prefer --token-file: "
                 "a flag shows in the process list)");
  app.add_option("--token-file", token_file,
                 "file holding the ACL token (env SVCKIT_TOKEN_FILE / CONSUL_HTTP_TOKEN_FILE)");

  auto* reg = app.add_subcommand("register", "register an instance");
  reg->add_option("-s,--service", o.instance.service, "service name")->required();
  reg->add_option("--host", o.instance.host, "host or IP")->required();
  reg->add_option("-p,--port", o.instance.port, "port")->required();
  reg->add_option("--id", o.instance.id, "instance id (default host:port)");
  reg->add_option("--scheme", o.instance.scheme, "http or https");
  reg->add_option("--weight", o.instance.weight, "0..10000 (default 100)");
  reg->add_option("--zone", o.instance.zone, "zone");
  reg->add_option("--tag", o.tags, "tag (repeatable)");
  reg->add_option("--meta", o.meta, "metadata key=value (repeatable)");
  reg->add_option("--status", o.status_text, "initial status (default healthy)");
  reg->add_option("--ttl", o.ttl_text, "heartbeat TTL, e.g. 30s (default 0s = persistent)");
  reg->add_option("--check-path", o.check_path,
                  "add an HTTP health check of this path, e.g. /health (the instance starts as 'starting' and "
                  "turns healthy when a check passes)");
  reg->add_option("--check-interval", o.check_interval_text, "how often the check runs (default 10s)");

  auto add_target = [&](CLI::App* sub) {
    sub->add_option("service", o.service, "service name")->required();
    sub->add_option("id", o.id, "instance id")->required();
  };
  add_target(app.add_subcommand("deregister", "remove an instance"));
  add_target(app.add_subcommand("heartbeat", "renew an instance's TTL"));
  auto* status = app.add_subcommand("status", "set an instance's status");
  add_target(status);
  status->add_option("status", o.status_text, "starting, healthy, unhealthy, maintenance or down")->required();
  app.add_subcommand("services", "list services");
  auto* instances = app.add_subcommand("instances", "list a service's instances");
  instances->add_option("service", o.service, "service name")->required();
  instances->add_option("--status", o.filter_status, "only this status");
  instances->add_option("--tag", o.filter_tags, "only instances with this tag (repeatable)");
  instances->add_option("--zone", o.filter_zone, "only this zone");
  instances->add_option("--meta", o.filter_meta, "only instances with metadata key=value (repeatable)");
  add_target(app.add_subcommand("get", "show one instance"));
  cli::TokenRequest token_request;
  auto* tokens = app.add_subcommand("token", "manage svckitd's ACL tokens: create, list, read, revoke, self");
  tokens->add_option("action", token_request.action, "create, list, read, revoke or self")->required();
  tokens->add_option("accessor", token_request.accessor, "the token's AccessorID (read, revoke)");
  tokens->add_option("--description", token_request.description, "create: what the token is for");
  tokens->add_option("--rules", token_request.rules,
                     "create: JSON rules, e.g. '{\"service\": {\"web\": \"write\"}}', or @file");
  app.add_subcommand("members", "list svckitd's nodes (cluster mode), the checks each runs, and the store");
  cli::CallCommand call;
  auto* call_cmd = app.add_subcommand("call",
                                      "call a service by name through discovery (balancing, retries, breakers); "
                                      "each attempt is printed to stderr, the answer's body to stdout");
  call_cmd->add_option("service", call.service, "service name")->required();
  call_cmd->add_option("path", call.path, "path and query, e.g. /products/5?x=1")->required();
  call_cmd->add_option("-X,--request", call.method, "HTTP method (default GET)");
  call_cmd->add_option("-d,--data", call.data, "request body, @FILE, or @- for stdin");
  call_cmd->add_option("-H,--header", call.headers, "header 'Name: value' (repeatable)");
  call_cmd->add_option("--timeout", call.timeout, "the call's deadline, retries included (default 10s)");
  call_cmd->add_option("--attempts", call.attempts, "attempts at most, 1..10 (default: the client's 3)");
  call_cmd->add_flag("--idempotent", call.idempotent, "retry this method although it is not idempotent (POST)");
  call_cmd->add_flag("-i,--include", call.include, "print the answer's status line and headers");
  call_cmd->add_flag("-q,--quiet", call.quiet, "do not print the attempts");
  cli::HealthCommand health;
  auto* health_cmd = app.add_subcommand("health",
                                        "a service's instances with their registry status, svckitd's checks "
                                        "and their last results (or a probe of each with --probe)");
  health_cmd->add_option("service", health.service, "service name")->required();
  health_cmd->add_option("id", health.id, "only this instance");
  health_cmd->add_flag("--probe", health.probe, "also GET each instance's health path from here");
  health_cmd->add_option("--timeout", health.timeout, "probe timeout (default 5s)");
  cli::MetricsCommand metrics;
  auto* metrics_cmd = app.add_subcommand("metrics",
                                         "svckitd's (or --url's) /metrics as tables: gateway requests and "
                                         "client calls per service, p50/p99");
  metrics_cmd->add_option("--service", metrics.service, "only this service");
  metrics_cmd->add_option("--url", metrics.url, "read this /metrics URL instead of svckitd's (a service's own)");
  cli::PingCommand ping;
  auto* ping_cmd = app.add_subcommand("ping",
                                      "DNS, connect, TLS and HTTP timings of a URL, or of each instance of a "
                                      "service (its health path)");
  ping_cmd->add_option("target", ping.target, "http(s)://host:port/path, or a service name")->required();
  ping_cmd->add_option("-c,--count", ping.count, "pings per target, 1..1000 (default 1)");
  ping_cmd->add_option("--timeout", ping.timeout, "per ping (default 5s)");
  auto* watch = app.add_subcommand("watch", "print changes as they happen");
  watch->add_option("service", o.service, "only this service");
  watch->add_option("-n,--count", o.count, "exit after this many events");
  watch->add_option("--timeout", o.watch_timeout, "exit after this long, e.g. 30s");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help / --version exit 0; every usage error is 2, the documented code (not CLI11's own).
    return app.exit(e) == 0 ? 0 : 2;
  }
  const std::string command = app.get_subcommands().front()->get_name();
  // The library's log lines go to stderr (stdout carries the command's output), warnings and up
  // unless SVCKIT_LOG_LEVEL says otherwise (e.g. debug, or info,client=debug).
  spdlog::set_default_logger(spdlog::stderr_color_mt("svckit"));
  const char* log_level = std::getenv("SVCKIT_LOG_LEVEL");
  if (auto levels = logs::set_levels(log_level != nullptr ? log_level : "warn"); !levels) {
    return report(levels.error());
  }
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    if (!in) return report(make_error(ErrorCode::invalid_argument, "cannot read " + token_file, "token-file"));
    std::getline(in, token);
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  }
  if (!token.empty()) {
    // The registry backends read the token where Consul's tools do: hand it to them there, for
    // this process only.
    ::setenv("SVCKIT_TOKEN", token.c_str(), 1);
    ::setenv("CONSUL_HTTP_TOKEN", token.c_str(), 1);
  }

  const cli::CommonOptions common{o.registry, o.json};
  if (command == "call") return cli::run_call(common, call);
  if (command == "health") return cli::run_health(common, health);
  if (command == "metrics") return cli::run_metrics(common, metrics);
  if (command == "ping") return cli::run_ping(common, ping);
  if (command == "members") {
    asio::io_context members_io;
    int members_code = 1;
    asio::co_spawn(members_io,
                   cli::daemon_request(o.registry, http::Verb::get, "/v1/cluster/members", {}, "members",
                                       members_io.get_executor()),
                   [&](std::exception_ptr e, Result<nlohmann::json> answer) {
                     if (e || !answer) {
                       members_code =
                           report(e ? make_error(ErrorCode::internal, "the members command failed") : answer.error());
                     } else {
                       members_code = 0;
                       cli::print_members(std::cout, *answer, o.json);
                     }
                     members_io.stop();
                   });
    members_io.run();
    return members_code;
  }
  if (command == "token") {
    token_request.registry = o.registry;
    asio::io_context token_io;
    int token_code = 1;
    asio::co_spawn(token_io, cli::run_token_request(token_request, token_io.get_executor()),
                   [&](std::exception_ptr e, Result<nlohmann::json> answer) {
                     if (e || !answer) {
                       token_code =
                           report(e ? make_error(ErrorCode::internal, "the token command failed") : answer.error());
                     } else {
                       token_code = 0;
                       if (o.json || answer->contains("revoked")) {
                         std::cout << answer->dump() << "\n";
                       } else if (answer->is_array()) {
                         for (const auto& t : *answer) std::cout << cli::describe_token(t) << "\n";
                       } else {
                         std::cout << cli::describe_token(*answer);
                       }
                     }
                     token_io.stop();
                   });
    token_io.run();
    return token_code;
  }

  asio::io_context io;
  RealTimeSource time;
  RealRandom random;
  auto registry = cli::open_registry(o.registry, io.get_executor(), time, random);
  if (!registry) return report(registry.error());
  return cli::run_to_exit(io, run_command(command, o, **registry));
}
