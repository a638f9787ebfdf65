// Dynamic configuration: defaults < a YAML file < APP_* environment variables, ${VAR:-default}
// expansion, a validator, a hot edit seen by a change callback, and a rollback.
// Run as a test (example_config); docs/config.md shows it.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "svckit/config/config_manager.hpp"
#include "svckit/core/time_source.hpp"

int main() {
  namespace cfg = svckit::config;
  const auto file = std::filesystem::temp_directory_path() / ("config_example_" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(file) << "database:\n  url: postgres://${DB_HOST:-localhost}/shop\n  pool: 10\n";

  svckit::RealTimeSource time;
  std::vector<std::unique_ptr<cfg::ConfigSource>> sources;
  sources.push_back(cfg::static_source("defaults", {{"database", {{"pool", 4}, {"timeout_ms", 500}}}}));
  sources.push_back(cfg::file_source(file));
  sources.push_back(cfg::env_source("APP_", svckit::process_environment));  // APP_DATABASE__POOL=20
  const cfg::ConfigValidator pool_in_range = [](const nlohmann::json& tree) -> svckit::Result<void> {
    const int pool = tree["database"].value("pool", 0);
    if (pool < 1 || pool > 100) {
      return svckit::make_error(svckit::ErrorCode::invalid_argument, "database.pool must be 1..100", "database.pool");
    }
    return {};
  };
  auto made = cfg::ConfigManager::create(std::move(sources), cfg::ConfigOptions{}, time, {pool_in_range});
  if (!made) {
    std::fprintf(stderr, "config: %s\n", made.error().describe().c_str());
    return 1;
  }
  auto& config = **made;

  auto snapshot = config.snapshot();  // one consistent version for the whole request
  std::printf("v%llu url=%s pool=%d timeout=%d\n", static_cast<unsigned long long>(snapshot->version()),
              snapshot->get<std::string>("database.url", "").c_str(), snapshot->get<int>("database.pool", 0),
              snapshot->get<int>("database.timeout_ms", 0));

  config.on_change([](const cfg::ConfigSnapshot& now, const std::vector<cfg::ConfigChange>& changes) {
    for (const auto& c : changes) {
      std::printf("v%llu changed %s: %s -> %s\n", static_cast<unsigned long long>(now.version()), c.key.c_str(),
                  c.before ? c.before->dump().c_str() : "(none)", c.after ? c.after->dump().c_str() : "(none)");
    }
  });
  std::ofstream(file) << "database:\n  url: postgres://${DB_HOST:-localhost}/shop\n  pool: 25\n";
  (void)config.reload_if_changed();  // in a service: co_spawn(follow_changes(config, sleeper, 1s, ...))
  std::ofstream(file) << "database:\n  pool: 500\n";
  const auto refused = config.reload_if_changed();  // the validator says no: v2 stays
  const auto rolled_back = config.rollback(1);      // v1's content as v3
  std::filesystem::remove(file);
  std::printf("refused: %s; after rollback v%llu pool=%d\n", refused ? "no" : refused.error().message.c_str(),
              static_cast<unsigned long long>(rolled_back ? *rolled_back : 0), config.get<int>("database.pool", 0));
  return !refused && rolled_back && *rolled_back == 3 &&
                 config.get<int>("database.pool", 0) == snapshot->get<int>("database.pool", 0)
             ? 0
             : 1;
}
