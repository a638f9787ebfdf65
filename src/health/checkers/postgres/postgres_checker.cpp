// postgres: connects through libpq's non-blocking API and runs SELECT 1; healthy when it answers 1.
// libpq owns the socket; we only wait on it (a stream_descriptor that is released, never closed).
#include <utility>  // before Asio 1.74 awaitable.hpp, which uses std::exchange without it

#include <libpq-fe.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

#include "health/checkers/checkers.hpp"

namespace svckit::health_detail {
namespace {

namespace asio = boost::asio;

/// One check's connection, shared with its deadline handler.
struct PgSession : std::enable_shared_from_this<PgSession> {
  explicit PgSession(const asio::any_io_executor& ex) : executor(ex), timer(ex) {}
  ~PgSession() {
    if (waiter) waiter->release();
    if (conn != nullptr) PQfinish(conn);
  }

  void arm(std::chrono::milliseconds t) {
    timeout = t;
    timer.expires_after(t);
    timer.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      self->timed_out = true;
      if (self->waiter) self->waiter->cancel();
    });
  }

  /// Waits until libpq's socket is readable or writable; false on timeout or error.
  asio::awaitable<bool> wait(asio::posix::stream_descriptor::wait_type type) {
    const int fd = PQsocket(conn);
    if (fd < 0 || timed_out) co_return false;
    waiter.emplace(executor, fd);
    boost::system::error_code ec;
    co_await waiter->async_wait(type, asio::redirect_error(asio::use_awaitable, ec));
    waiter->release();
    waiter.reset();
    co_return !ec && !timed_out;
  }

  CheckResult result(bool ok, std::string message) const {
    CheckResult r;
    r.ok = ok;
    r.message = timed_out ? "timed out after " + std::to_string(timeout.count()) + "ms" : std::move(message);
    r.latency = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
    return r;
  }
  std::string error() const {
    std::string e = conn != nullptr ? PQerrorMessage(conn) : "libpq: out of memory";
    while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
    return e;
  }

  asio::any_io_executor executor;
  asio::steady_timer timer;
  std::optional<asio::posix::stream_descriptor> waiter;
  PGconn* conn = nullptr;
  std::chrono::milliseconds timeout{0};
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  bool timed_out = false;
};

std::string param(const HealthCheckSpec& spec, const char* key, const char* fallback) {
  auto it = spec.params.find(key);
  return it != spec.params.end() ? it->second : fallback;
}

class PostgresChecker final : public HealthChecker {
 public:
  asio::awaitable<CheckResult> check(const CheckTarget& target, const HealthCheckSpec& spec) override {
    using Wait = asio::posix::stream_descriptor::wait_type;
    auto s = std::make_shared<PgSession>(co_await asio::this_coro::executor);
    s->arm(spec.timeout);

    const std::string port = std::to_string(target.port);
    const std::string dbname = param(spec, "dbname", "postgres");
    const std::string user = param(spec, "user", "postgres");
    const std::string password = param(spec, "password", "");
    std::vector<const char*> keys{"host", "port", "dbname", "user", "application_name"};
    std::vector<const char*> values{target.host.c_str(), port.c_str(), dbname.c_str(), user.c_str(), "svckit-health"};
    if (!password.empty()) {
      keys.push_back("password");
      values.push_back(password.c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    s->conn = PQconnectStartParams(keys.data(), values.data(), 0);
    if (s->conn == nullptr || PQstatus(s->conn) == CONNECTION_BAD) co_return s->result(false, s->error());

    // NOLINTNEXTLINE(bugprone-infinite-loop): PQconnectPoll in the increment moves it on
    for (auto poll = PGRES_POLLING_WRITING; poll != PGRES_POLLING_OK; poll = PQconnectPoll(s->conn)) {
      if (poll == PGRES_POLLING_FAILED) co_return s->result(false, s->error());
      if (!co_await s->wait(poll == PGRES_POLLING_READING ? Wait::wait_read : Wait::wait_write)) {
        co_return s->result(false, "connect: " + s->error());
      }
    }
    if (PQsetnonblocking(s->conn, 1) != 0 || PQsendQuery(s->conn, "SELECT 1") == 0) {
      co_return s->result(false, s->error());
    }
    // NOLINTNEXTLINE(bugprone-infinite-loop): PQflush in the increment moves it on
    for (int flushed = PQflush(s->conn); flushed != 0; flushed = PQflush(s->conn)) {
      if (flushed < 0 || !co_await s->wait(Wait::wait_write)) co_return s->result(false, "send: " + s->error());
    }
    bool answered_one = false;
    std::string failure = "no result";
    for (;;) {  // read until libpq has every result (the last PQgetResult is null)
      if (PQconsumeInput(s->conn) == 0) co_return s->result(false, s->error());
      bool done = false;
      while (PQisBusy(s->conn) == 0) {
        PGresult* r = PQgetResult(s->conn);
        if (r == nullptr) {
          done = true;
          break;
        }
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && std::string(PQgetvalue(r, 0, 0)) == "1") {
          answered_one = true;
        } else {
          failure = PQresultErrorMessage(r);
        }
        PQclear(r);
      }
      if (done) break;
      if (!co_await s->wait(Wait::wait_read)) co_return s->result(false, "read: " + s->error());
    }
    co_return answered_one ? s->result(true, "SELECT 1") : s->result(false, failure);
  }
};

}  // namespace

std::shared_ptr<HealthChecker> make_postgres_checker() { return std::make_shared<PostgresChecker>(); }

}  // namespace svckit::health_detail
