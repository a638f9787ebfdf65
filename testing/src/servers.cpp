#include "svckit/testing/servers.hpp"

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <arpa/inet.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glob.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "svckit/dns/dns_message.hpp"
#include "svckit/http/client.hpp"
#include "svckit/testing/http_call.hpp"

namespace svckit::testing {
namespace {

std::filesystem::path postgres_bin(const std::string& name) {
  glob_t g{};
  std::filesystem::path found;
  if (glob(("/usr/lib/postgresql/*/bin/" + name).c_str(), 0, nullptr, &g) == 0 && g.gl_pathc > 0) {
    found = g.gl_pathv[g.gl_pathc - 1];  // newest version
  }
  globfree(&g);
  return found;
}

/// As root: argv run as `user` through setpriv (an exec, no extra process to outlive a kill).
std::vector<std::string> as_user(const passwd* user, std::vector<std::string> argv) {
  if (user == nullptr) return argv;
  std::vector<std::string> out{"setpriv", "--reuid=" + std::to_string(user->pw_uid),
                               "--regid=" + std::to_string(user->pw_gid), "--init-groups", "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

void chown_tree(const std::filesystem::path& dir, const passwd* user) {
  if (user == nullptr) return;
  if (::chown(dir.c_str(), user->pw_uid, user->pw_gid) != 0) return;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    (void)::lchown(entry.path().c_str(), user->pw_uid, user->pw_gid);
  }
}

bool postgres_answers(int port) {
  const auto conninfo =
      "host=127.0.0.1 port=" + std::to_string(port) + " user=postgres dbname=postgres connect_timeout=2";
  PGconn* conn = PQconnectdb(conninfo.c_str());
  bool ok = false;
  if (PQstatus(conn) == CONNECTION_OK) {
    PGresult* r = PQexec(conn, "SELECT 1");
    ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
  }
  PQfinish(conn);
  return ok;
}

}  // namespace

bool tcp_probe(int port, const std::string& request, const std::string& expected, std::chrono::milliseconds timeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    pollfd p{fd, POLLIN, 0};
    char buf[256];
    while (reply.size() < expected.size() && ::poll(&p, 1, static_cast<int>(timeout.count())) == 1) {
      const auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      reply.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return reply.rfind(expected, 0) == 0;
}

namespace {

/// Waits until `answers` (or the process ended); unavailable with `what` and its log otherwise.
Result<void> wait_started(ChildProcess& child, const std::function<bool()>& answers, const std::string& what,
                          const std::filesystem::path& log, std::chrono::seconds timeout) {
  const bool ready = wait_until([&] { return !child.running() || answers(); }, timeout);
  if (!ready || !child.running()) {
    return make_error(ErrorCode::unavailable, what + " did not start; log:\n" + read_file(log));
  }
  return {};
}

}  // namespace

bool dns_answers(int port, std::chrono::milliseconds timeout) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const auto query = dns::encode_query(0x5eed, "probe.invalid", dns::RecordType::a);
  bool answered = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, query.data(), query.size(), 0) == static_cast<ssize_t>(query.size())) {
    pollfd p{fd, POLLIN, 0};
    char buf[512];
    answered = ::poll(&p, 1, static_cast<int>(timeout.count())) == 1 && ::recv(fd, buf, sizeof buf, 0) > 0;
  }
  ::close(fd);
  return answered;
}

Result<ChildProcess> start_prometheus(const std::filesystem::path& dir, const std::string& config, int& port) {
  if (port == 0) port = free_port();
  {
    std::ofstream out(dir / "prometheus.yml");
    out << config;
  }
  auto child = ChildProcess::spawn(
      {"prometheus", "--config.file", (dir / "prometheus.yml").string(), "--storage.tsdb.path", (dir / "data").string(),
       "--web.listen-address", "127.0.0.1:" + std::to_string(port), "--log.level", "debug"},
      dir / "prometheus.log");
  if (!child) return child.error();
  auto started = wait_started(
      *child, [&] { return http_call(port, "GET", "/-/ready", {}, {}, std::chrono::seconds(1)).status == 200; },
      "prometheus", dir / "prometheus.log", std::chrono::seconds(30));
  if (!started) return started.error();
  return std::move(*child);
}

Result<ChildProcess> start_dnsmasq(const std::filesystem::path& dir, const std::string& records, int& port) {
  if (port == 0) port = free_port();
  const auto conf = dir / "dnsmasq.conf";
  std::ofstream(conf) << records << "\n";
  auto child = ChildProcess::spawn({"dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts",
                                    "--port=" + std::to_string(port), "--listen-address=127.0.0.1", "--bind-interfaces",
                                    "--pid-file=" + (dir / "dnsmasq.pid").string(), "--conf-file=" + conf.string()},
                                   dir / "dnsmasq.log");
  if (!child) return child.error();
  auto started = wait_started(
      *child, [&] { return dns_answers(port); }, "dnsmasq", dir / "dnsmasq.log", std::chrono::seconds(20));
  if (!started) return started.error();
  return std::move(*child);
}

namespace {
bool run_tool(const std::vector<std::string>& argv, const std::filesystem::path& log) {
  auto child = ChildProcess::spawn(argv, log);
  return child.ok() && child->wait_exit(std::chrono::seconds(60)) == 0;
}
}  // namespace

Result<TestPki> make_test_pki(const std::filesystem::path& dir, const std::string& server_names) {
  TestPki pki{dir / "ca.pem", dir / "server.pem", dir / "server.key", dir / "client.pem", dir / "client.key"};
  const auto log = dir / "openssl.log";
  const std::vector<std::string> key{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"};
  auto request = [&](const std::filesystem::path& key_out, const std::filesystem::path& out, const std::string& subject,
                     bool self_signed) {
    std::vector<std::string> argv{"openssl", "req"};
    if (self_signed) argv.insert(argv.end(), {"-x509", "-days", "2"});
    argv.insert(argv.end(), key.begin(), key.end());
    argv.insert(argv.end(), {"-keyout", key_out.string(), "-out", out.string(), "-subj", subject});
    return run_tool(argv, log);
  };
  auto sign = [&](const std::filesystem::path& csr, const std::filesystem::path& out, const std::string& extensions) {
    const auto ext = dir / (out.filename().string() + ".ext");
    std::ofstream(ext) << extensions << "\n";
    return run_tool(
        {"openssl", "x509", "-req", "-in", csr.string(), "-CA", pki.ca.string(), "-CAkey", (dir / "ca.key").string(),
         "-CAcreateserial", "-out", out.string(), "-days", "2", "-extfile", ext.string()},
        log);
  };
  const bool made = request(dir / "ca.key", pki.ca, "/CN=svckit test CA", true) &&
                    request(pki.server_key, dir / "server.csr", "/CN=localhost", false) &&
                    sign(dir / "server.csr", pki.server_cert, "subjectAltName=" + server_names) &&
                    request(pki.client_key, dir / "client.csr", "/CN=svckit-test-client", false) &&
                    sign(dir / "client.csr", pki.client_cert, "extendedKeyUsage=clientAuth");
  if (!made) return make_error(ErrorCode::internal, "openssl failed:\n" + read_file(log));
  return pki;
}

Result<ChildProcess> start_redis_tls(const std::filesystem::path& dir, const TestPki& pki, bool require_client_cert,
                                     int& port) {
  if (port == 0) port = free_port();
  auto child = ChildProcess::spawn({"redis-server",
                                    "--port",
                                    "0",
                                    "--tls-port",
                                    std::to_string(port),
                                    "--bind",
                                    "127.0.0.1",
                                    "--save",
                                    "",
                                    "--appendonly",
                                    "no",
                                    "--dir",
                                    dir.string(),
                                    "--tls-cert-file",
                                    pki.server_cert.string(),
                                    "--tls-key-file",
                                    pki.server_key.string(),
                                    "--tls-ca-cert-file",
                                    pki.ca.string(),
                                    "--tls-auth-clients",
                                    require_client_cert ? "yes" : "optional"},
                                   dir / "redis.log");
  if (!child) return child.error();
  auto started = wait_started(
      *child, [&] { return port_open(port); }, "redis-server (TLS)", dir / "redis.log", std::chrono::seconds(20));
  if (!started) return started.error();
  return std::move(*child);
}

Result<ChildProcess> start_redis(const std::filesystem::path& dir, int& port, const std::vector<std::string>& extra) {
  if (port == 0) port = free_port();
  std::vector<std::string> argv{"redis-server", "--port", std::to_string(port), "--bind", "127.0.0.1",
                                "--save",       "",       "--appendonly",       "no",     "--dir",
                                dir.string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto child = ChildProcess::spawn(argv, dir / "redis.log");
  if (!child) return child.error();
  auto started = wait_started(
      *child, [&] { return tcp_probe(port, "PING\r\n", "+PONG"); }, "redis-server", dir / "redis.log",
      std::chrono::seconds(20));
  if (!started) return started.error();
  return std::move(*child);
}

Result<ChildProcess> start_nats(const std::filesystem::path& dir, int& port) {
  if (port == 0) port = free_port();
  auto child = ChildProcess::spawn(
      {"nats-server", "-a", "127.0.0.1", "-p", std::to_string(port), "-js", "-sd", (dir / "js").string()},
      dir / "nats.log");
  if (!child) return child.error();
  auto started = wait_started(
      *child, [&] { return tcp_probe(port, "PING\r\n", "INFO"); }, "nats-server", dir / "nats.log",
      std::chrono::seconds(20));
  if (!started) return started.error();
  return std::move(*child);
}

namespace {
Result<void> start_rabbitmq_once(const std::filesystem::path& dir, RabbitMq& server);
}  // namespace

std::string RabbitMq::url() const {
  std::string path;
  for (const char c : vhost) {
    if (std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.') {
      path += c;
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      path += '%';
      path += kHex[static_cast<unsigned char>(c) >> 4];
      path += kHex[static_cast<unsigned char>(c) & 0xf];
    }
  }
  return "amqp://127.0.0.1:" + std::to_string(port) + "/" + path;
}

namespace {

/// A vhost of the run's shared node claimed for `server`; false when there is none to claim.
bool claim_shared_rabbitmq(RabbitMq& server) {
  const char* where = std::getenv("SVCKIT_TEST_SHARED_RABBITMQ");
  if (where == nullptr || *where == '\0') return false;
  const std::filesystem::path dir(where);
  int port = 0, vhosts = 0;
  std::ifstream(dir / "port") >> port;
  std::ifstream(dir / "vhosts") >> vhosts;
  const std::string header("AMQP\0\0\x09\x01", 8);
  if (port <= 0 || vhosts <= 0 || !tcp_probe(port, header, std::string("\x01\x00\x00", 3))) return false;
  for (int k = 1; k <= vhosts; ++k) {
    const auto name = "t" + std::to_string(k);
    const int fd = ::open((dir / "claims" / name).c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (fd < 0) continue;  // another test process has it
    ::close(fd);
    server.port = port;
    server.vhost = name;
    server.shared = true;
    return true;
  }
  return false;
}

}  // namespace

Result<void> start_rabbitmq(const std::filesystem::path& dir, RabbitMq& server, RabbitMqNode node) {
  if (server.shared)
    return make_error(ErrorCode::invalid_argument, "the shared RabbitMQ node is not this test's to start");
  const bool fresh = server.port == 0 && server.dist_port == 0;
  if (fresh && node == RabbitMqNode::shared_if_any && claim_shared_rabbitmq(server)) return {};
  for (int attempt = 1;; ++attempt) {
    auto started = start_rabbitmq_once(dir, server);
    // A port found free was taken by another process (a parallel test) before the broker bound
    // it: a fresh node tries again on new ports; a restart keeps its ports and reports the error.
    const bool port_taken = !started && (started.error().message.find("could not bind") != std::string::npos ||
                                         started.error().message.find("eaddrinuse") != std::string::npos);
    if (started || !fresh || !port_taken || attempt == 3) return started;
    server.broker = ChildProcess{};
    server.port = 0;
    server.dist_port = 0;
  }
}

namespace {

Result<void> start_rabbitmq_once(const std::filesystem::path& dir, RabbitMq& server) {
  // Outside the ephemeral range: a crash test restarts the broker on these ports after a SIGKILL.
  if (server.port == 0) server.port = free_port_outside_ephemeral();
  if (server.epmd_port == 0) server.epmd_port = free_port_outside_ephemeral();
  if (server.dist_port == 0) server.dist_port = free_port_outside_ephemeral();
  const auto epmd_port = std::to_string(server.epmd_port);
  if (!server.epmd.running()) {
    auto epmd = ChildProcess::spawn({"epmd", "-port", epmd_port, "-address", "127.0.0.1"}, dir / "epmd.log");
    if (!epmd) return epmd.error();
    server.epmd = std::move(*epmd);
    auto started = wait_started(
        server.epmd, [&] { return port_open(server.epmd_port); }, "epmd", dir / "epmd.log", std::chrono::seconds(10));
    if (!started) return started.error();
  }
  const auto node = "rabbit-" + std::to_string(server.port);
  // RUNNING_UNDER_SYSTEMD: the script execs the VM (no signal-forwarding shell in between).
  const std::vector<std::string> env{"HOME=" + dir.string(),
                                     "ERL_EPMD_PORT=" + epmd_port,
                                     "RUNNING_UNDER_SYSTEMD=true",
                                     "RABBITMQ_NODE_PORT=" + std::to_string(server.port),
                                     "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
                                     "RABBITMQ_NODENAME=" + node + "@localhost",
                                     "RABBITMQ_DIST_PORT=" + std::to_string(server.dist_port),
                                     "RABBITMQ_MNESIA_BASE=" + (dir / "mnesia").string(),
                                     "RABBITMQ_LOG_BASE=" + (dir / "log").string(),
                                     "RABBITMQ_FEATURE_FLAGS_FILE=" + (dir / "feature_flags").string(),
                                     "RABBITMQ_ENABLED_PLUGINS_FILE=" + (dir / "enabled_plugins").string(),
                                     "RABBITMQ_CONFIG_FILE=" + (dir / "rabbitmq").string(),
                                     "RABBITMQ_ADVANCED_CONFIG_FILE=" + (dir / "advanced.config").string()};
  auto broker = ChildProcess::spawn({"/usr/lib/rabbitmq/bin/rabbitmq-server"}, dir / "rabbitmq.log", env);
  if (!broker) return broker.error();
  server.broker = std::move(*broker);
  // AMQP 0-9-1 protocol header → the broker answers connection.start: a method frame on channel 0.
  const std::string header("AMQP\0\0\x09\x01", 8);
  const std::string start_frame("\x01\x00\x00", 3);
  return wait_started(
      server.broker, [&] { return tcp_probe(server.port, header, start_frame); }, "rabbitmq-server",
      dir / "rabbitmq.log", std::chrono::seconds(120));  // a restart after a crash recovers its queues first
}

}  // namespace

namespace {
const std::string kEtcdProbe =
    "POST /v3/kv/range HTTP/1.1\r\nHost: etcd\r\nContent-Type: application/json\r\nContent-Length: 14\r\n"
    "Connection: close\r\n\r\n{\"key\":\"AA==\"}";
}  // namespace

bool etcd_answers(int port) { return tcp_probe(port, kEtcdProbe, "HTTP/1.1 200"); }

Result<ChildProcess> start_etcd_node(const EtcdNode& node, const std::filesystem::path& dir) {
  const std::string client_url =
      (node.tls ? "https" : "http") + std::string("://127.0.0.1:") + std::to_string(node.client_port);
  std::vector<std::string> argv{"etcd",
                                "--name",
                                node.name,
                                "--data-dir",
                                (dir / node.name).string(),
                                "--listen-client-urls",
                                client_url,
                                "--advertise-client-urls",
                                client_url,
                                "--listen-peer-urls",
                                "http://127.0.0.1:" + std::to_string(node.peer_port),
                                "--initial-advertise-peer-urls",
                                "http://127.0.0.1:" + std::to_string(node.peer_port),
                                "--log-level",
                                "warn",
                                "--logger",
                                "zap"};
  if (node.tls) {
    argv.insert(argv.end(), {"--cert-file", node.tls->server_cert.string(), "--key-file", node.tls->server_key.string(),
                             "--client-cert-auth", "--trusted-ca-file", node.tls->ca.string()});
  }
  if (!node.initial_cluster.empty()) {
    argv.insert(argv.end(), {"--initial-cluster", node.initial_cluster, "--initial-cluster-state", "new"});
  } else {
    argv.insert(argv.end(), {"--initial-cluster", node.name + "=http://127.0.0.1:" + std::to_string(node.peer_port)});
  }
  return ChildProcess::spawn(argv, dir / (node.name + ".log"));
}

Result<ChildProcess> start_etcd(const std::filesystem::path& dir, int& port, const TestPki* tls) {
  if (port == 0) port = free_port();
  static int counter = 0;
  const EtcdNode node{"etcd" + std::to_string(counter++), port, free_port(), "", tls};
  auto child = start_etcd_node(node, dir);
  if (!child) return child.error();
  auto started = wait_started(
      *child, [&] { return tls != nullptr ? port_open(port) : etcd_answers(port); }, "etcd", dir / (node.name + ".log"),
      std::chrono::seconds(30));
  if (!started) return started.error();
  return std::move(*child);
}

Result<EtcdCluster> start_etcd_cluster(const std::filesystem::path& dir, int size) {
  EtcdCluster cluster;
  std::string initial;
  for (int i = 0; i < size; ++i) {
    cluster.nodes.push_back(EtcdNode{"n" + std::to_string(i), free_port(), free_port(), ""});
    initial += (i ? "," : "") + cluster.nodes.back().name +
               "=http://127.0.0.1:" + std::to_string(cluster.nodes.back().peer_port);
  }
  for (auto& node : cluster.nodes) {
    node.initial_cluster = initial;
    auto child = start_etcd_node(node, dir);
    if (!child) return child.error();
    cluster.members.push_back(std::move(*child));
    cluster.endpoints +=
        (cluster.endpoints.empty() ? "" : ",") + std::string("127.0.0.1:") + std::to_string(node.client_port);
  }
  for (std::size_t i = 0; i < cluster.nodes.size(); ++i) {
    const auto& node = cluster.nodes[i];
    auto started = wait_started(
        cluster.members[i], [&] { return etcd_answers(node.client_port); }, "etcd member " + node.name,
        dir / (node.name + ".log"), std::chrono::seconds(30));
    if (!started) return started.error();
  }
  return cluster;
}

std::size_t etcd_leader(const EtcdCluster& cluster) {
  // Through svckit's HTTP client: etcd's gateway cancels a request whose client half-closes.
  boost::asio::io_context io;
  http::HttpClient client(io.get_executor());
  std::vector<std::string> bodies(cluster.nodes.size());
  boost::asio::co_spawn(
      io,
      [&]() -> http::Awaitable<void> {
        for (std::size_t i = 0; i < cluster.nodes.size(); ++i) {
          http::Request request{http::Verb::post, "/v3/maintenance/status", 11};
          request.body() = "{}";
          request.prepare_payload();
          const net::HostPort member{"127.0.0.1", static_cast<std::uint16_t>(cluster.nodes[i].client_port), false};
          auto answer = co_await client.send(member, std::move(request), std::chrono::seconds(5));
          if (answer && answer->result_int() == 200) bodies[i] = answer->body();
        }
      },
      boost::asio::detached);
  io.run();
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    const auto status = nlohmann::json::parse(bodies[i], nullptr, false);
    if (!status.is_object() || !status.contains("header") || !status["header"].is_object()) continue;
    if (status.value("leader", std::string("?")) == status["header"].value("member_id", std::string("!"))) return i;
  }
  return cluster.nodes.size();
}

Result<ChildProcess> start_postgres(const std::filesystem::path& dir, int& port) {
  const auto initdb = postgres_bin("initdb");
  const auto postgres = postgres_bin("postgres");
  if (initdb.empty() || postgres.empty()) {
    return make_error(ErrorCode::unavailable, "PostgreSQL binaries not found under /usr/lib/postgresql/*/bin");
  }
  const passwd* user = ::geteuid() == 0 ? ::getpwnam("postgres") : nullptr;
  if (::geteuid() == 0 && user == nullptr) return make_error(ErrorCode::unavailable, "no 'postgres' user to run as");
  const auto data = dir / "pgdata";
  std::filesystem::create_directories(data);
  chown_tree(dir, user);
  auto init = ChildProcess::spawn(as_user(user, {initdb.string(), "-D", data.string(), "-A", "trust", "-U", "postgres",
                                                 "--no-sync", "-E", "UTF8", "--locale=C"}),
                                  dir / "initdb.log");
  if (!init) return init.error();
  const int status = init->wait_exit(std::chrono::seconds(120));
  if (status != 0) return make_error(ErrorCode::unavailable, "initdb failed; log:\n" + read_file(dir / "initdb.log"));

  port = free_port();
  auto child =
      ChildProcess::spawn(as_user(user, {postgres.string(), "-D", data.string(), "-p", std::to_string(port), "-k",
                                         dir.string(), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"}),
                          dir / "postgres.log");
  if (!child) return child.error();
  auto started = wait_started(
      *child, [&] { return port_open(port) && postgres_answers(port); }, "postgres", dir / "postgres.log",
      std::chrono::seconds(60));
  if (!started) return started.error();
  return std::move(*child);
}

http::ClientOptions trusting(const std::filesystem::path& ca, const std::filesystem::path& cert,
                             const std::filesystem::path& key) {
  http::ClientOptions o;
  o.ca_file = ca.string();
  o.cert_file = cert.string();
  o.key_file = key.string();
  return o;
}

void rotate_server_certificate(const TestPki& in_use, const TestPki& next) {
  std::filesystem::copy_file(next.server_cert, in_use.server_cert.string() + ".new");
  std::filesystem::copy_file(next.server_key, in_use.server_key.string() + ".new");
  std::filesystem::rename(in_use.server_key.string() + ".new", in_use.server_key);
  std::filesystem::rename(in_use.server_cert.string() + ".new", in_use.server_cert);
}

}  // namespace svckit::testing
