// svckitd: the svckit registry daemon. See docs/svckitd.md.
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "daemon/config.hpp"
#include "daemon/svckitd.hpp"
#include "svckit/app/json_logs.hpp"
#include "svckit/core/log.hpp"

namespace {

int fail(const svckit::Error& e) {
  std::cerr << "svckitd: " << e.message << (e.field.empty() ? "" : " [" + e.field + "]") << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using svckit::daemon::SvckitdConfig;
  CLI::App app{"svckitd - service registry daemon (embedded registry, HTTP API, long-poll watches, metrics)"};
  std::string config_file;
  std::vector<std::pair<std::string, std::string>> flag_settings;
  auto flag = [&](const std::string& name, const std::string& key, const std::string& help) {
    app.add_option_function<std::string>(
        name, [&flag_settings, key](const std::string& v) { flag_settings.emplace_back(key, v); }, help);
  };
  app.add_option("-c,--config", config_file, "YAML configuration file");
  flag("--listen", "listen", "address:port to listen on (default 127.0.0.1:8500)");
  flag("--address", "address", "address to listen on");
  flag("--port", "port", "port to listen on; 0 picks a free one");
  flag("--port-file", "port_file", "file to write the bound port to once listening");
  flag("--threads", "threads", "I/O threads (0 = number of cores)");
  flag("--gateway-port", "gateway.port", "serve the gateway (/{service}/{path}) on this port; 0 picks one; off");
  flag("--log-level", "log_level", "trace, debug, info, warn, error, off; per component: info,gateway=debug");
  flag("--log-format", "log_format", "text (key=value lines) or json (one JSON object per line)");
  flag("--snapshot-file", "snapshot_file", "keep persistent registrations in this file across restarts");
  flag("--store", "store", "cluster mode: keep the registry in etcd (etcd://h1:p1,h2:p2?prefix=/svckit)");
  flag("--sweep-interval", "sweep_interval", "how often TTL expiry is checked (e.g. 1s)");
  flag("--expiry-grace", "expiry_grace", "how long expired instances stay listed as down (e.g. 30s)");
  std::vector<std::string> sets;
  app.add_option("--set", sets, "any setting as key=value, e.g. --set limits.max_watchers=100");
  CLI11_PARSE(app, argc, argv);

  SvckitdConfig config;
  if (!config_file.empty()) {
    std::ifstream in(config_file);
    if (!in)
      return fail(svckit::make_error(svckit::ErrorCode::invalid_argument, "cannot read " + config_file, "config"));
    std::stringstream ss;
    ss << in.rdbuf();
    if (auto r = svckit::daemon::apply_yaml(config, ss.str(), config_file); !r) return fail(r.error());
  }
  if (auto r = svckit::daemon::apply_env(config, [](const char* n) { return std::getenv(n); }); !r)
    return fail(r.error());
  for (const auto& s : sets) {
    const auto eq = s.find('=');
    if (eq == std::string::npos) {
      return fail(
          svckit::make_error(svckit::ErrorCode::invalid_argument, "--set expects key=value, got '" + s + "'", "set"));
    }
    flag_settings.emplace_back(s.substr(0, eq), s.substr(eq + 1));
  }
  for (const auto& [key, value] : flag_settings) {
    if (auto r = svckit::daemon::apply_setting(config, key, value, "command line"); !r) return fail(r.error());
  }
  if (auto r = svckit::daemon::validate(config); !r) return fail(r.error());
  config.config_file = config_file;

  if (config.log_format == "json") {
    spdlog::set_formatter(svckit::make_json_log_formatter("svckitd"));
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %l svckitd %v");
  }
  (void)svckit::logs::set_levels(config.log_level);  // validated with the rest of the config

  svckit::daemon::Svckitd daemon(config);
  if (auto r = daemon.start(); !r) return fail(r.error());
  std::cout << "svckitd listening on http://" << config.address << ":" << daemon.port() << std::endl;
  if (daemon.gateway_port() != 0) {
    std::cout << "svckitd gateway on http://" << config.address << ":" << daemon.gateway_port() << "/{service}/{path}"
              << std::endl;
    if (!config.gateway_port_file.empty()) std::ofstream(config.gateway_port_file) << daemon.gateway_port() << "\n";
  }
  if (daemon.dns_port() != 0) {
    std::cout << "svckitd DNS on " << (config.dns_address.empty() ? config.address : config.dns_address) << ":"
              << daemon.dns_port() << " (udp, tcp): <service>.service." << config.dns_domain << std::endl;
    if (!config.dns_port_file.empty()) std::ofstream(config.dns_port_file) << daemon.dns_port() << "\n";
  }
  if (!config.port_file.empty()) {
    std::ofstream(config.port_file) << daemon.port() << "\n";
  }
  daemon.run();
  return daemon.exit_code();
}
