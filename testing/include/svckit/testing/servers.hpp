// Real servers from Debian packages, started on free loopback ports with their data in a TempDir
// the caller owns, and stopped (by pid) when the returned process is destroyed.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "svckit/http/client.hpp"
#include "svckit/testing/process.hpp"

namespace svckit::testing {

/// A throw-away PKI made with the openssl CLI in `dir`: a CA, a server certificate whose
/// subjectAltName is `server_names`, and a client certificate (CN "svckit-test-client"), all
/// signed by the CA; P-256 keys, valid two days.
struct TestPki {
  std::filesystem::path ca, server_cert, server_key, client_cert, client_key;
};
Result<TestPki> make_test_pki(const std::filesystem::path& dir,
                              const std::string& server_names = "DNS:localhost,IP:127.0.0.1");
/// HttpClient options trusting `ca` only, presenting `cert` + `key` when given (mutual TLS).
http::ClientOptions trusting(const std::filesystem::path& ca, const std::filesystem::path& cert = {},
                             const std::filesystem::path& key = {});
/// Puts `next`'s server certificate and key in place of `in_use`'s the way a certificate manager
/// does: written aside, then renamed over (the key first).
void rotate_server_certificate(const TestPki& in_use, const TestPki& next);

/// redis-server speaking TLS only on 127.0.0.1:`port` (chosen when 0) with `pki`'s server
/// certificate; `require_client_cert`: --tls-auth-clients yes (else optional). Ready when the
/// port accepts connections.
Result<ChildProcess> start_redis_tls(const std::filesystem::path& dir, const TestPki& pki, bool require_client_cert,
                                     int& port);

/// A RabbitMQ node for a test: one of its own (its epmd on a free port, node
/// rabbit-<port>@localhost, data under the directory; destroying it kills both), or a vhost of its
/// own on the node a ctest run shares (below).
struct RabbitMq {
  ChildProcess epmd;
  ChildProcess broker;  // the Erlang VM itself (SIGTERM: a clean shutdown; SIGKILL: a crash)
  int port = 0;         // AMQP
  int epmd_port = 0;
  int dist_port = 0;
  std::string vhost = "/";  // "tK" on the shared node
  bool shared = false;      // the run's shared node: never stop or restart it

  /// "amqp://127.0.0.1:<port>/<vhost, URL-encoded>" (no query).
  std::string url() const;
};
enum class RabbitMqNode {
  shared_if_any,  // a vhost of the run's shared node when there is one, else a node of its own
  own,            // always a node of its own (a test that crashes or restarts the broker)
};
/// Starts (or, after broker.stop(), restarts with its data and port) the node on 127.0.0.1:port
/// (chosen when 0), with epmd if it is not running; ready when it answers the AMQP handshake
/// (10–20 s). RabbitMQ 3.10 from Debian, run as the current user (HOME = dir).
/// With `shared_if_any`, a fresh `server` and SVCKIT_TEST_SHARED_RABBITMQ naming the directory of
/// a running shared node (tests/tools/shared_rabbitmq.sh, started by ctest's `rabbitmq` fixture),
/// the test claims one of that node's vhosts instead (a file created with O_EXCL: each vhost serves
/// one test process, so no test sees another's queues) — no node start, which costs 5–10 s.
Result<void> start_rabbitmq(const std::filesystem::path& dir, RabbitMq& server,
                            RabbitMqNode node = RabbitMqNode::shared_if_any);

/// nats-server with JetStream (store under `dir`/js) on 127.0.0.1:`port` (chosen here when 0; pass
/// the old port to restart it with its data); ready when it answers INFO.
Result<ChildProcess> start_nats(const std::filesystem::path& dir, int& port);

/// redis-server on 127.0.0.1:`port` (chosen here when 0; pass the old port to restart a stopped
/// server where its clients expect it), no persistence unless `extra` (more redis-server options,
/// later ones win: e.g. {"--appendonly", "yes"}) asks for it; ready when it answers PING.
Result<ChildProcess> start_redis(const std::filesystem::path& dir, int& port,
                                 const std::vector<std::string>& extra = {});

/// One etcd member. `initial_cluster` empty: a single-node cluster of its own.
struct EtcdNode {
  std::string name;
  int client_port = 0;
  int peer_port = 0;
  std::string initial_cluster;   // "n1=http://127.0.0.1:Q1,n2=..." for a multi-node cluster
  const TestPki* tls = nullptr;  // clients over https with this server certificate, and must
                                 // present a client certificate signed by its CA
};

/// Starts one etcd member with its data under dir/<name> (not waiting for it to be ready).
Result<ChildProcess> start_etcd_node(const EtcdNode& node, const std::filesystem::path& dir);
/// True when etcd on 127.0.0.1:port answers a v3 range request (it has a leader).
bool etcd_answers(int port);
/// A cluster of etcd members on free loopback ports, their data under the directory.
struct EtcdCluster {
  std::vector<EtcdNode> nodes;
  std::vector<ChildProcess> members;  // members[i] runs nodes[i]
  std::string endpoints;              // "127.0.0.1:P1,127.0.0.1:P2,..." (for etcd:// URLs)
};
/// Starts `size` members; ready when every one answers (it has a leader).
Result<EtcdCluster> start_etcd_cluster(const std::filesystem::path& dir, int size);
/// The index of the member that says it leads (/v3/maintenance/status), or nodes.size() when none.
std::size_t etcd_leader(const EtcdCluster& cluster);

/// A single-node etcd on 127.0.0.1:`port` (chosen here when 0); ready when it answers (with
/// `tls`: when the port accepts connections).
Result<ChildProcess> start_etcd(const std::filesystem::path& dir, int& port, const TestPki* tls = nullptr);

/// PostgreSQL (initdb + postgres in the foreground, trust auth, user "postgres") on
/// 127.0.0.1:`port`; ready when it accepts a connection and answers SELECT 1. As root, runs as the
/// `postgres` user (initdb refuses root) and hands `dir` to it.
Result<ChildProcess> start_postgres(const std::filesystem::path& dir, int& port);

/// dnsmasq answering from `records` only (conf lines: srv-host=, host-record=, local=/domain/ for
/// NXDOMAIN, local-ttl=...) on 127.0.0.1:`port`, UDP and TCP (chosen here when 0; pass the old port
/// to restart it where its clients expect it); ready when it answers a query. The conf file is
/// written to dir/dnsmasq.conf.
Result<ChildProcess> start_dnsmasq(const std::filesystem::path& dir, const std::string& records, int& port);
/// True when a DNS server on 127.0.0.1:port (UDP) answers a query within `timeout`.
bool dns_answers(int port, std::chrono::milliseconds timeout = std::chrono::milliseconds(300));

/// Prometheus (Debian's 2.42) with `config` (prometheus.yml text, written to dir/prometheus.yml)
/// on 127.0.0.1:`port` (chosen here when 0), its TSDB under dir/data; ready when /-/ready answers
/// 200. Its log goes to dir/prometheus.log.
Result<ChildProcess> start_prometheus(const std::filesystem::path& dir, const std::string& config, int& port);

/// Sends a raw RESP/SQL-free probe: true when a TCP connect to 127.0.0.1:port succeeds and the
/// server answers `request` with a reply starting with `expected` within `timeout`.
bool tcp_probe(int port, const std::string& request, const std::string& expected,
               std::chrono::milliseconds timeout = std::chrono::milliseconds(500));

}  // namespace svckit::testing
