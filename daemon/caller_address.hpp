// The address a registration without one gets: the caller's, as a Consul agent, a Eureka server or a
// Nacos server would see it.
#pragma once

#include <string>

namespace svckit::daemon {

/// The peer address of a request as a host: an IPv4 caller on a dual-stack socket
/// ("::ffff:10.0.0.7") becomes "10.0.0.7".
inline std::string caller_host(std::string peer) {
  if (peer.starts_with("::ffff:") && peer.find('.') != std::string::npos) return peer.substr(7);
  return peer;
}

}  // namespace svckit::daemon
