// ServiceClient configuration from YAML and the environment, layered: built-in defaults, then
// YAML, then environment variables; per-service settings sit on top of the final defaults (so
// DEFAULT_TIMEOUT from the environment reaches every service that does not set its own).
//
// YAML (every key optional):
//   gateway_url: http://gateway:8080
//   defaults:
//     timeout: 10s            per_try_timeout: 3s       max_concurrent_calls: 0
//     policy: least_request   outlier_detection: true
//     retry: {max_attempts: 3, backoff: full_jitter, base: 25ms, cap: 1s,
//             statuses: [502, 503, 504], non_idempotent: false}
//     circuit_breaker: {window: count_based, size: 100, minimum_calls: 100, failure_rate: 50,
//                       slow_rate: 100, slow_call: 60s, open_wait: 60s, half_open_calls: 10}
//     retry_budget: {mode: token_bucket, max_tokens: 10, token_ratio: 0.1,    (gRPC A6)
//                    percent: 20, min_concurrency: 3}                        (mode: concurrency, Envoy)
//     hedging: {enabled: false, delay: 50ms}
//     headers: {X-Client: shop}        sent with every call unless the call sets it
//     api_key: ...   api_key_header: X-API-Key  (Authorization: sent as "Bearer <key>")
//   services:
//     model-service: {urls: [http://10.0.0.7:9000], timeout: 30s}
//
// Environment (the names Python services commonly use): GATEWAY_URL, DEFAULT_TIMEOUT (seconds or a duration),
// DEFAULT_RETRY_TIMES (retries after the first attempt), DEFAULT_RETRY_DELAY (backoff base),
// CB_FAILURE_THRESHOLD (N failures in a row open the service breaker), CB_RECOVERY_TIMEOUT,
// <SERVICE>_URL (comma-separated http:// URLs; MODEL_SERVICE_URL configures "model-service";
// values that are not http(s) URLs — DATABASE_URL=postgres://… — are left alone) and
// <SERVICE>_TIMEOUT (also for a service only found through discovery: JAVA_SERVICE_TIMEOUT=30
// sets java-service's timeout; for a service configured nowhere else, a value that is not a valid
// timeout is someone else's variable and is ignored), <SERVICE>_API_KEY (only for a service
// configured somewhere else: OPENAI_API_KEY is never sent to a discovered "openai").
// Errors name the source and the key (e.g. "environment DEFAULT_RETRY_TIMES", "client.yaml:
// services.model-service.timeout"); on error nothing is applied.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "svckit/client/service_client.hpp"
#include "svckit/core/environment.hpp"  // process_environment(), for add_env

namespace svckit {

class ClientConfigLoader {
 public:
  Result<void> add_yaml(const std::string& yaml_text, const std::string& source);
  /// `env`: NAME=value pairs (the process environment, or a test's).
  Result<void> add_env(const std::vector<std::pair<std::string, std::string>>& env);
  /// The merged, validated options.
  Result<ServiceClientOptions> build() const;

 private:
  struct Setting {
    std::string service;  // empty = defaults
    std::string key;      // e.g. "retry.max_attempts"
    std::string value;
    std::string source;  // for error messages
  };
  std::vector<Setting> settings_;
  std::string gateway_url_;
};

}  // namespace svckit
