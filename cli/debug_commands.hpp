// The CLI's debugging commands: what a developer reaches for when a call between services fails.
//
//   svckit call SERVICE PATH [-X METHOD] [-d BODY|@FILE] [-H 'Name: value']...   through discovery,
//        with the client's balancing, retries and breakers; each attempt printed to stderr
//   svckit health SERVICE [ID] [--probe]     svckitd's checks of a service, or probes of its instances
//   svckit metrics [--service S] [--url URL] the client and gateway figures of a /metrics page, as tables
//   svckit ping URL|SERVICE [-c COUNT]       DNS, connect, TLS and HTTP timings of a URL or of each instance
//
// Each runs on an io_context of its own and returns the process's exit code (docs/cli.md).
#pragma once

#include <string>
#include <vector>

namespace svckit::cli {

struct CommonOptions {
  std::string registry;
  bool json = false;
};

struct CallCommand {
  std::string service;
  std::string path;
  std::string method = "GET";
  std::string data;  // a body, or @FILE
  std::vector<std::string> headers;
  std::string timeout = "10s";
  int attempts = 0;  // 0: the service's default (3)
  bool idempotent = false;
  bool include = false;  // print the status line and headers before the body
  bool quiet = false;    // no attempt lines
};
int run_call(const CommonOptions& common, const CallCommand& command);

struct HealthCommand {
  std::string service;
  std::string id;
  bool probe = false;
  std::string timeout = "5s";
};
int run_health(const CommonOptions& common, const HealthCommand& command);

struct MetricsCommand {
  std::string service;
  std::string url;  // default: svckitd's /metrics on the --registry host
};
int run_metrics(const CommonOptions& common, const MetricsCommand& command);

struct PingCommand {
  std::string target;  // http(s)://... or a service name
  int count = 1;
  std::string timeout = "5s";
};
int run_ping(const CommonOptions& common, const PingCommand& command);

}  // namespace svckit::cli
