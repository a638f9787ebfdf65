// RedisClient against a real redis-server: replies, error mapping, AUTH, deadlines, cancellation
// of a blocking command, script reload after SCRIPT FLUSH, and recovery after a server restart.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <csignal>
#include <future>

#include "svckit/redis/redis_client.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/servers.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;
using redis::RedisClient;
using redis::RedisOptions;
using redis::Reply;
template <class T>
using Awaitable = redis::Awaitable<T>;

class RedisClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = start_redis(dir.path(), port);
    ASSERT_TRUE(started) << started.error().message;
    server = std::move(*started);
  }
  void TearDown() override { io.stop(); }

  RedisOptions options() const {
    RedisOptions o;
    o.server = {"127.0.0.1", static_cast<std::uint16_t>(port), false};
    return o;
  }
  Result<Reply> run(RedisClient& client, std::vector<std::string> args) {
    return io.run([&]() -> Awaitable<Result<Reply>> { co_return co_await client.command(args); });
  }

  TempDir dir;
  int port = 0;
  ChildProcess server;
  IoThread io;
};

TEST_F(RedisClientTest, DecodesEveryReplyKindAndMapsErrors) {
  RedisClient client(io.executor(), options());
  EXPECT_EQ(run(client, {"PING"})->text, "PONG");
  EXPECT_EQ(run(client, {"SET", "k", std::string("a\0b", 3)})->kind, Reply::Kind::status);
  EXPECT_EQ(run(client, {"GET", "k"})->text, std::string("a\0b", 3)) << "binary-safe";
  EXPECT_TRUE(run(client, {"GET", "missing"})->is_nil());
  EXPECT_EQ(run(client, {"INCRBY", "n", "41"})->integer, 41);
  auto array = run(client, {"MGET", "k", "missing"});
  ASSERT_TRUE(array);
  ASSERT_EQ(array->elements.size(), 2u);
  EXPECT_TRUE(array->elements[1].is_nil());
  auto wrong = run(client, {"INCR", "k"});
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::internal);
  EXPECT_NE(wrong.error().message.find("not an integer"), std::string::npos) << wrong.error().message;
  EXPECT_EQ(run(client, {"PING"})->text, "PONG") << "an error reply leaves the connection usable";
  EXPECT_EQ(client.connections_opened(), 1u) << "one connection, reused";
}

TEST_F(RedisClientTest, ScriptsMapTheirErrorPrefixesAndSurviveAScriptFlush) {
  RedisClient client(io.executor(), options());
  const redis::RedisScript script{
      "if ARGV[1] == 'missing' then return redis.error_reply('NOT_FOUND no such thing') end "
      "return redis.call('INCRBY', KEYS[1], ARGV[1])"};
  const auto eval = [&](const std::string& arg) {
    const std::vector<std::string> keys{"counter"};
    const std::vector<std::string> args{arg};
    return io.run([&]() -> Awaitable<Result<Reply>> { co_return co_await client.eval(script, keys, args); });
  };
  EXPECT_EQ(eval("2")->integer, 2);
  auto missing = eval("missing");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::not_found);
  EXPECT_EQ(missing.error().message, "no such thing");
  ASSERT_TRUE(run(client, {"SCRIPT", "FLUSH"}));
  EXPECT_EQ(eval("3")->integer, 5) << "NOSCRIPT makes the client load the script again";
}

TEST_F(RedisClientTest, AuthenticatesWithAPasswordAndRefusesAWrongOne) {
  RedisClient admin(io.executor(), options());
  ASSERT_TRUE(run(admin, {"CONFIG", "SET", "requirepass", "s3cret"}));
  RedisClient anonymous(io.executor(), options());
  auto refused = run(anonymous, {"GET", "x"});
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("NOAUTH"), std::string::npos) << refused.error().message;

  auto wrong_options = options();
  wrong_options.password = "wrong";
  RedisClient wrong(io.executor(), wrong_options);
  auto denied = run(wrong, {"PING"});
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, ErrorCode::unavailable);
  EXPECT_EQ(denied.error().message.find("wrong"), std::string::npos) << "the password is never in a message";

  auto good_options = options();
  good_options.password = "s3cret";
  good_options.database = 3;
  RedisClient good(io.executor(), good_options);
  ASSERT_TRUE(run(good, {"SET", "in-db-3", "1"}));
  EXPECT_TRUE(run(good, {"GET", "in-db-3"})->text == "1");
  auto db0 = run(admin, {"GET", "in-db-3"});  // admin's connection authenticated before requirepass
  ASSERT_TRUE(db0);
  EXPECT_TRUE(db0->is_nil()) << "SELECT put the key in database 3";
}

TEST_F(RedisClientTest, ASlowReplyTimesOutAndABlockingCommandCanBeCancelled) {
  auto fast = options();
  fast.command_timeout = 200ms;
  RedisClient client(io.executor(), fast);
  auto slow = run(client, {"BLPOP", "nothing", "2"});  // answers after 2s, past the 200ms deadline
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error().code, ErrorCode::timeout);
  EXPECT_EQ(run(client, {"PING"})->text, "PONG") << "a fresh connection replaces the timed-out one";

  const std::vector<std::string> blpop{"BLPOP", "q", "30"};
  auto cancel = std::make_shared<CancelToken>();
  auto waiting = boost::asio::co_spawn(
      io.io(), [&]() -> Awaitable<Result<Reply>> { co_return co_await client.blocking_command(blpop, 30s, cancel); },
      boost::asio::use_future);
  ASSERT_EQ(waiting.wait_for(300ms), std::future_status::timeout) << "BLPOP waits";
  cancel->cancel();
  ASSERT_EQ(waiting.wait_for(5s), std::future_status::ready);
  auto cancelled = waiting.get();
  ASSERT_FALSE(cancelled);
  EXPECT_EQ(cancelled.error().code, ErrorCode::cancelled);

  auto popped = boost::asio::co_spawn(
      io.io(), [&]() -> Awaitable<Result<Reply>> { co_return co_await client.blocking_command(blpop, 30s); },
      boost::asio::use_future);
  ASSERT_TRUE(run(client, {"RPUSH", "q", "job"}));
  ASSERT_EQ(popped.wait_for(5s), std::future_status::ready);
  auto job = popped.get();
  ASSERT_TRUE(job) << job.error().message;
  EXPECT_EQ(job->elements.at(1).text, "job");
}

TEST_F(RedisClientTest, AStoppedServerIsUnavailableAndTheClientRecoversWhenItReturns) {
  RedisClient client(io.executor(), options());
  ASSERT_TRUE(run(client, {"SET", "k", "v"}));
  server.stop(SIGKILL);
  auto down = run(client, {"GET", "k"});
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, ErrorCode::unavailable) << down.error().message;
  auto restarted = start_redis(dir.path(), port);  // the same port, no data kept
  ASSERT_TRUE(restarted) << restarted.error().message;
  server = std::move(*restarted);
  auto back = run(client, {"GET", "k"});
  ASSERT_TRUE(back) << "the same client reconnects on its own: " << back.error().message;
  EXPECT_TRUE(back->is_nil());
}

}  // namespace
}  // namespace svckit::testing
