// The ServiceInstance the registry tests register: a loopback host, a port, an optional TTL.
#pragma once

#include <chrono>
#include <string>

#include "svckit/core/service_instance.hpp"

namespace svckit::testing {

inline ServiceInstance test_instance(const std::string& service, int port,
                                     std::chrono::milliseconds ttl = std::chrono::milliseconds(0)) {
  ServiceInstance in;
  in.service = service;
  in.host = "127.0.0.1";
  in.port = port;
  in.ttl = ttl;
  return in;
}

}  // namespace svckit::testing
