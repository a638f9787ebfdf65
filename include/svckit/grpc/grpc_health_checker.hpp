// The `grpc` health check type: grpc.health.v1 Health/Check on the instance (or the check's
// `target`) within the check's timeout; healthy when the answer is SERVING. `params.service`
// names the service to ask about ("" = the server as a whole), as Consul's GRPC check
// "host:port/service" does. svckitd runs it like http or tcp:
//
//     {"type": "grpc", "interval_ms": 5000, "timeout_ms": 1000, "params": {"service": "svckit.demo.ProductService"}}
//
// `params.tls: "true"` checks over TLS, trusting the CAs the checker was made with
// (GrpcCheckerTls: svckitd's health.grpc_tls.ca_file, empty = gRPC's default roots) and
// presenting its client certificate when one is set — the trust is the operator's, never named by
// a check (a registering client cannot point svckitd at files on its host).
//
// A refused connection fails at once with gRPC's connection error ("failed to connect to all
// addresses; ... Connection refused"); a hung server at the timeout. This header needs no gRPC
// header; the serving side is grpc_health.hpp.
#pragma once

#include <memory>
#include <string>

#include "svckit/health/health_checker.hpp"

namespace svckit::rpc {

/// PEM files for checks with params.tls "true" (read at each such check: rotated files apply).
struct GrpcCheckerTls {
  std::string ca_file;    // empty: gRPC's default roots
  std::string cert_file;  // with key_file: a client certificate for servers that require one
  std::string key_file;
};

/// The `grpc` HealthChecker. Thread-safe.
std::shared_ptr<HealthChecker> make_grpc_health_checker(GrpcCheckerTls tls = {});
/// Adds it to a HealthCheckers builder under the type name "grpc".
void register_grpc_health_checker(HealthCheckers::Builder& builder, GrpcCheckerTls tls = {});

}  // namespace svckit::rpc
