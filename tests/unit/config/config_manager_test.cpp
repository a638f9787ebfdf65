#include "svckit/config/config_manager.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "svckit/config/follow_changes.hpp"
#include "svckit/testing/process.hpp"
#include "svckit/testing/simulated_clock.hpp"
#include "svckit/testing/virtual_time.hpp"

namespace svckit::config {
namespace {

using nlohmann::json;
using testing::SimulatedClock;
using testing::TempDir;

struct Env {
  std::map<std::string, std::string> vars;
  std::function<const char*(const char*)> getenv() {
    return [this](const char* n) {
      auto it = vars.find(n);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
  std::function<std::vector<std::pair<std::string, std::string>>()> all() {
    return [this] { return std::vector<std::pair<std::string, std::string>>(vars.begin(), vars.end()); };
  }
};

void write(const std::filesystem::path& file, const std::string& text) { std::ofstream(file) << text; }

class Config : public ::testing::Test {
 protected:
  std::unique_ptr<ConfigManager> make(std::vector<ConfigValidator> validators = {}, std::size_t history = 32) {
    std::vector<std::unique_ptr<ConfigSource>> sources;
    sources.push_back(static_source("defaults", json{{"database", {{"pool", 5}, {"url", "postgres://localhost"}}},
                                                     {"feature", {{"beta", false}}}}));
    sources.push_back(file_source(file));
    sources.push_back(env_source("APP_", env.all()));
    ConfigOptions options;
    options.history = history;
    options.getenv = env.getenv();
    auto made = ConfigManager::create(std::move(sources), options, clock, std::move(validators));
    EXPECT_TRUE(made) << made.error().describe();
    return made ? std::move(*made) : nullptr;
  }
  TempDir dir;
  std::filesystem::path file = dir.path() / "app.yaml";
  Env env;
  SimulatedClock clock;
};

TEST_F(Config, LaterSourcesOverrideEarlierKeyByKey) {
  write(file, "database:\n  pool: 10\n  timeout: 2.5\nname: shop\nport: '8080'\n");
  env.vars["APP_DATABASE__POOL"] = "20";
  env.vars["APP_FEATURE__BETA"] = "true";
  env.vars["OTHER_X"] = "ignored";
  auto c = make();
  ASSERT_NE(c, nullptr);
  auto s = c->snapshot();
  EXPECT_EQ(s->version(), 1u);
  EXPECT_EQ(s->get<int>("database.pool", 0), 20) << "env over file over defaults";
  EXPECT_EQ(s->get<std::string>("database.url", ""), "postgres://localhost") << "defaults survive a partial override";
  EXPECT_DOUBLE_EQ(s->get<double>("database.timeout", 0), 2.5);
  EXPECT_TRUE(s->get<bool>("feature.beta", false));
  EXPECT_EQ(s->get<std::string>("port", ""), "8080") << "a quoted YAML scalar stays a string";
  EXPECT_EQ(s->get<int>("port", -1), -1) << "the wrong type gives the fallback";
  EXPECT_EQ(s->require<int>("nope.x").error().field, "nope.x");
  EXPECT_EQ(s->require<int>("name").error().code, ErrorCode::invalid_argument);
  EXPECT_EQ(c->get<std::string>("name", ""), "shop");
}

TEST_F(Config, ATomlFileIsASourceLikeYamlAndABrokenOneNamesItsLine) {
  file = dir.path() / "app.toml";
  write(file,
        "name = \"shop\"\nport = \"8080\"\n\n[database]\npool = 10\ntimeout = 2.5\n"
        "hosts = [\"a\", \"b\"]\nsince = 2026-12-02T10:00:00Z\n\n[feature]\nbeta = true\n");
  auto c = make();
  ASSERT_NE(c, nullptr);
  auto s = c->snapshot();
  EXPECT_EQ(s->get<int>("database.pool", 0), 10);
  EXPECT_DOUBLE_EQ(s->get<double>("database.timeout", 0), 2.5);
  EXPECT_EQ(s->get<std::string>("database.url", ""), "postgres://localhost") << "defaults survive";
  EXPECT_EQ(s->get<std::string>("port", ""), "8080") << "a TOML string stays a string";
  EXPECT_TRUE(s->get<bool>("feature.beta", false));
  EXPECT_EQ(s->get<std::vector<std::string>>("database.hosts", {}), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(s->get<std::string>("database.since", ""), "2026-12-02T10:00:00Z");
  write(file, "name = \"shop\"\n[database\npool = 11\n");
  auto broken = c->reload_if_changed();
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error().message.find("line 2"), std::string::npos) << broken.error().message;
  EXPECT_NE(broken.error().message.find("app.toml"), std::string::npos) << broken.error().message;
  EXPECT_EQ(c->snapshot()->get<int>("database.pool", 0), 10) << "the last good snapshot stays";
  // A raw control character (found by the fuzzer: it tripped toml++'s date-time reader).
  const char with_control[] = "name = \"shop\"\nsince = 2026-12-02T\x01\x00\x00%10:00Z\n";
  write(file, std::string(with_control, sizeof with_control - 1));
  auto control = c->reload_if_changed();
  ASSERT_FALSE(control);
  EXPECT_NE(control.error().message.find("line 2: control character 1"), std::string::npos) << control.error().message;
}

TEST_F(Config, VariablesExpandWithDefaultsAndAnUnsetOneNamesTheKey) {
  write(file, "db:\n  url: postgres://${DB_HOST:-localhost}:${DB_PORT}/app\n  note: costs $${PRICE}\n");
  env.vars["DB_PORT"] = "5433";
  auto c = make();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->get<std::string>("db.url", ""), "postgres://localhost:5433/app");
  EXPECT_EQ(c->get<std::string>("db.note", ""), "costs ${PRICE}");

  write(file, "db:\n  url: postgres://${DB_USER}@h/app\n");
  auto r = c->reload();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field, "db.url");
  EXPECT_NE(r.error().message.find("DB_USER"), std::string::npos);
  EXPECT_EQ(c->get<std::string>("db.url", ""), "postgres://localhost:5433/app") << "the last good version stays";
}

TEST_F(Config, AFileEditIsReloadedAndCallbacksGetExactlyTheChangedKeys) {
  write(file, "a: 1\nb:\n  c: x\n  d: [1, 2]\n");
  auto c = make();
  ASSERT_NE(c, nullptr);
  std::vector<ConfigChange> seen;
  std::uint64_t seen_version = 0;
  const auto id = c->on_change([&](const ConfigSnapshot& now, const std::vector<ConfigChange>& changes) {
    seen = changes;
    seen_version = now.version();
  });
  EXPECT_EQ(c->reload_if_changed().value(), false) << "nothing changed";
  write(file, "a: 1\nb:\n  c: y\n  d: [1, 2, 3]\ne: new\n");
  ASSERT_EQ(c->reload_if_changed().value(), true);
  EXPECT_EQ(seen_version, 2u);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].key, "b.c");
  EXPECT_EQ(seen[0].before, json("x"));
  EXPECT_EQ(seen[0].after, json("y"));
  EXPECT_EQ(seen[1].key, "b.d");
  EXPECT_EQ(seen[2].key, "e");
  EXPECT_FALSE(seen[2].before) << "added";
  write(file, "a: 1\nb:\n  c: y\n  d: [1, 2, 3]\n");
  ASSERT_TRUE(c->reload_if_changed().value());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].key, "e");
  EXPECT_FALSE(seen[0].after) << "removed";
  c->unsubscribe(id);
  write(file, "a: 2\n");
  ASSERT_TRUE(c->reload_if_changed().value());
  EXPECT_EQ(seen_version, 3u) << "no callback after unsubscribe";
}

TEST_F(Config, ABrokenEditOrARefusedOneKeepsTheLastGoodSnapshot) {
  write(file, "port: 8080\n");
  auto c = make({[](const json& tree) -> Result<void> {
    const auto port = tree.value("port", 0);
    if (port < 1 || port > 65535) return make_error(ErrorCode::invalid_argument, "port out of range", "port");
    return {};
  }});
  ASSERT_NE(c, nullptr);
  const auto before = c->snapshot();
  write(file, "port: [8080\n");  // YAML error
  auto broken = c->reload_if_changed();
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error().message.find("line"), std::string::npos) << broken.error().message;
  EXPECT_NE(c->last_error().find("app.yaml"), std::string::npos);
  write(file, "port: 70000\n");  // parses, refused by the validator
  auto refused = c->reload_if_changed();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().field, "port");
  EXPECT_EQ(c->snapshot(), before) << "the same snapshot object: nothing was applied";
  EXPECT_EQ(before->get<int>("port", 0), 8080);
  write(file, "port: 9090\n");
  ASSERT_TRUE(c->reload_if_changed().value());
  EXPECT_EQ(c->get<int>("port", 0), 9090);
  EXPECT_EQ(c->last_error(), "");
  EXPECT_EQ(before->get<int>("port", 0), 8080) << "an old snapshot never changes";
}

TEST_F(Config, RollbackMakesANewVersionAndHistoryIsBounded) {
  write(file, "v: 1\n");
  auto c = make({}, 3);
  ASSERT_NE(c, nullptr);
  for (int v = 2; v <= 3; ++v) {
    write(file, "v: " + std::to_string(v) + "\n");
    clock.advance(std::chrono::seconds(1));
    ASSERT_TRUE(c->reload().value());
  }
  std::vector<ConfigChange> seen;
  c->on_change([&](const ConfigSnapshot&, const std::vector<ConfigChange>& changes) { seen = changes; });
  const auto rolled = c->rollback(1);
  ASSERT_TRUE(rolled);
  EXPECT_EQ(*rolled, 4u) << "a rollback is a new version; history is not rewritten";
  EXPECT_EQ(c->get<int>("v", 0), 1);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].before, json(3));
  EXPECT_EQ(seen[0].after, json(1));
  const auto history = c->history();
  ASSERT_EQ(history.size(), 3u) << "bounded to 3";
  EXPECT_EQ(history.front().version, 2u);
  EXPECT_EQ(history.back().reason, "rollback to 1");
  EXPECT_EQ(history[1].applied_at - history[0].applied_at, std::chrono::seconds(1)) << "times from the clock given";
  EXPECT_EQ(c->rollback(1).error().code, ErrorCode::not_found) << "version 1 is no longer kept";
  EXPECT_FALSE(c->reload_if_changed().value()) << "a rollback holds until a source changes";
}

TEST_F(Config, SetIsARunTimeOverrideVersionedValidatedAndRolledBack) {
  write(file, "port: 8080\nfeature:\n  beta: false\n");
  auto c = make({[](const json& tree) -> Result<void> {
    const auto port = tree.value("port", 0);
    if (port < 1 || port > 65535) return make_error(ErrorCode::invalid_argument, "port out of range", "port");
    return {};
  }});
  ASSERT_NE(c, nullptr);
  std::vector<ConfigChange> seen;
  c->on_change([&](const ConfigSnapshot&, const std::vector<ConfigChange>& changes) { seen = changes; });

  auto v2 = c->set("feature.beta", true);
  ASSERT_TRUE(v2) << v2.error().describe();
  EXPECT_EQ(*v2, 2U);
  EXPECT_TRUE(c->get<bool>("feature.beta", false));
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].key, "feature.beta");
  EXPECT_EQ(c->history().back().reason, "set feature.beta");
  ASSERT_TRUE(c->set("limits", json{{"rps", 50}}, "ops: raise the limit"));
  EXPECT_EQ(c->get<int>("limits.rps", 0), 50);
  EXPECT_EQ(c->overrides(), (json{{"feature", {{"beta", true}}}, {"limits", {{"rps", 50}}}}));

  // Refused by the validator or malformed: nothing changes.
  const auto before = c->snapshot();
  auto refused = c->set("port", 70000);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().field, "port");
  EXPECT_EQ(c->set("a..b", 1).error().field, "key");
  EXPECT_EQ(c->set("", 1).error().field, "key");
  EXPECT_EQ(c->snapshot(), before);

  // An override holds over the sources across reloads, until unset.
  write(file, "port: 9090\nfeature:\n  beta: false\n");
  ASSERT_TRUE(c->reload_if_changed().value());
  EXPECT_EQ(c->get<int>("port", 0), 9090);
  EXPECT_TRUE(c->get<bool>("feature.beta", false)) << "the override still wins over the file";
  ASSERT_TRUE(c->unset("feature.beta"));
  EXPECT_FALSE(c->get<bool>("feature.beta", true)) << "the file's value shows again";
  EXPECT_EQ(c->unset("feature.beta").error().code, ErrorCode::not_found);

  // Rolled back like the rest: back to version 2 brings its override back, and with it its value.
  ASSERT_TRUE(c->rollback(2));
  EXPECT_TRUE(c->get<bool>("feature.beta", false));
  EXPECT_EQ(c->get<int>("port", 0), 8080);
  EXPECT_EQ(c->overrides(), (json{{"feature", {{"beta", true}}}}));
}

TEST(ConfigProfile, MicroserviceEnvThenEnvironmentChooseTheProfileFile) {
  Env env;
  EXPECT_EQ(*config_profile(env.getenv()), "dev");
  env.vars["ENVIRONMENT"] = "Prod";
  EXPECT_EQ(*config_profile(env.getenv()), "prod");
  env.vars["MICROSERVICE_ENV"] = "test";
  EXPECT_EQ(*config_profile(env.getenv()), "test");
  env.vars["MICROSERVICE_ENV"] = "../etc";
  EXPECT_EQ(config_profile(env.getenv()).error().field, "MICROSERVICE_ENV");

  TempDir dir;
  write(dir.path() / "app.yaml", "db: {pool: 5, url: local}\n");
  write(dir.path() / "app.prod.yaml", "db: {pool: 50}\n");
  SimulatedClock clock;
  auto prod = ConfigManager::create(profile_file_sources(dir.path() / "app.yaml", "prod"), {}, clock);
  ASSERT_TRUE(prod) << prod.error().describe();
  EXPECT_EQ((*prod)->get<int>("db.pool", 0), 50);
  EXPECT_EQ((*prod)->get<std::string>("db.url", ""), "local");
  auto test = ConfigManager::create(profile_file_sources(dir.path() / "app.yaml", "test"), {}, clock);
  ASSERT_TRUE(test) << "a profile without a file of its own adds nothing";
  EXPECT_EQ((*test)->get<int>("db.pool", 0), 5);
}

TEST_F(Config, SourcesReportTheirOwnErrors) {
  TempDir d;
  EXPECT_EQ(file_source(d.path() / "missing.yaml")->load().error().code, ErrorCode::unavailable);
  EXPECT_EQ(file_source(d.path() / "missing.yaml", true)->load().value(), json::object());
  write(d.path() / "a.json", R"({"x": {"y": [1, 2]}})");
  EXPECT_EQ(file_source(d.path() / "a.json")->load().value()["x"]["y"][1], 2);
  write(d.path() / "b.json", "[1]");
  EXPECT_EQ(file_source(d.path() / "b.json")->load().error().code, ErrorCode::invalid_argument);
  write(d.path() / "c.ini", "x=1");
  EXPECT_NE(file_source(d.path() / "c.ini")->load().error().message.find("unknown format"), std::string::npos);
  std::vector<std::unique_ptr<ConfigSource>> none;
  SimulatedClock clock;
  ConfigOptions o;
  o.history = 0;
  EXPECT_EQ(ConfigManager::create(std::move(none), o, clock).error().field, "history");
}

TEST(ConfigFollow, PollsInVirtualTimeAppliesEditsAndReportsABrokenFileOnce) {
  TempDir dir;
  const auto file = dir.path() / "app.yaml";
  write(file, "level: info\n");
  boost::asio::io_context io;
  testing::VirtualTime time(io);
  std::vector<std::unique_ptr<ConfigSource>> sources;
  sources.push_back(file_source(file));
  auto config = ConfigManager::create(std::move(sources), ConfigOptions{}, time).value();
  std::vector<std::string> errors;
  CancelToken stop;
  boost::asio::co_spawn(
      io,
      follow_changes(
          *config, time, std::chrono::seconds(1), [&](const Error& e) { errors.push_back(e.message); }, stop),
      boost::asio::detached);
  const auto start = time.steady_now();
  time.run_until(start + std::chrono::milliseconds(1500));
  EXPECT_EQ(config->snapshot()->version(), 1u);
  write(file, "level: debug\n");
  time.run_until(start + std::chrono::milliseconds(2500));
  EXPECT_EQ(config->get<std::string>("level", ""), "debug");
  write(file, "level: [\n");
  time.run_until(start + std::chrono::seconds(6));
  EXPECT_EQ(errors.size(), 1u) << "four failed polls, one report";
  EXPECT_EQ(config->get<std::string>("level", ""), "debug");
  write(file, "level: warn\n");
  time.run_until(start + std::chrono::seconds(7));
  EXPECT_EQ(config->get<std::string>("level", ""), "warn");
  EXPECT_EQ(config->snapshot()->version(), 3u);
  stop.cancel();
  time.run_until(start + std::chrono::seconds(8));
  EXPECT_EQ(time.sleepers(), 0u) << "the loop ended";
}

}  // namespace
}  // namespace svckit::config
