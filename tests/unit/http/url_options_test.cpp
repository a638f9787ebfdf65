// Every backend URL refuses an option it does not know, naming it: registries, event buses, lock
// backends and remote config sources all go through net::check_url_options. Before, a typo in a
// nats://, redis:// event bus or svckitd:// / memory:// registry URL was ignored silently.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "svckit/config/remote_config.hpp"
#include "svckit/coord/lock_backend_url.hpp"
#include "svckit/core/random.hpp"
#include "svckit/core/sleeper.hpp"
#include "svckit/core/time_source.hpp"
#include "svckit/events/event_bus_url.hpp"
#include "svckit/net/backend_url.hpp"
#include "svckit/net/plugin_table.hpp"
#include "svckit/registry/plugin_registry.hpp"

namespace svckit {
namespace {

void expect_refused(const Result<void>& r, const std::string& option, const std::string& url) {
  ASSERT_FALSE(r.ok()) << url << " was accepted";
  EXPECT_EQ(r.error().code, ErrorCode::invalid_argument) << url;
  EXPECT_EQ(r.error().field, option) << url << ": " << r.error().message;
  EXPECT_NE(r.error().message.find("?" + option + "="), std::string::npos) << r.error().message;
}

template <class T>
Result<void> outcome(const Result<T>& r) {
  if (r.ok()) return {};
  return r.error();
}

TEST(UrlOptions, TheMessageNamesTheOptionAndListsTheKnownOnes) {
  auto url = net::parse_backend_url("redis://127.0.0.1:6379?prefx=a", 6379);
  ASSERT_TRUE(url.ok());
  auto r = net::check_url_options(*url, "redis://", net::kConnectionOptions, {"prefix"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "prefx");
  EXPECT_NE(r.error().message.find("unknown redis:// option ?prefx="), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("prefix"), std::string::npos);
  auto none = net::parse_backend_url("file:///etc/x.yaml?reload=1", 0);
  ASSERT_TRUE(none.ok());
  auto refused = net::check_url_options(*none, "file://", {});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("it takes none"), std::string::npos) << refused.error().message;
  auto fine = net::parse_backend_url("redis://127.0.0.1?prefix=a&timeout=1s", 6379);
  ASSERT_TRUE(fine.ok());
  EXPECT_TRUE(net::check_url_options(*fine, "redis://", net::kConnectionOptions, {"prefix"}).ok());
}

TEST(UrlOptions, EveryConnectorRefusesATypoBeforeConnecting) {
  boost::asio::io_context io;
  RealTimeSource time;
  RealRandom random;
  AsioSleeper sleeper;
  RegistryPlugins::Builder builder;
  register_builtin_plugins(builder);
  const auto registries = std::move(builder).build();
  const RegistryDeps deps{io.get_executor(), time, random};
  for (const std::string url :
       {"memory://?swep=1s", "svckitd://127.0.0.1:1?tmeout=1s", "redis://127.0.0.1:1?prefx=a",
        "etcd://127.0.0.1:1?prefx=/a", "consul://127.0.0.1:1?tokn_env=X", "file:///tmp/x.yaml?prefx=a",
        "dns+srv://127.0.0.1:1/_http._tcp.{service}.local?tmeout=1s"}) {
    const auto option = url.substr(url.find('?') + 1, url.find('=') - url.find('?') - 1);
    expect_refused(outcome(registries.create(url, deps)), option, url);
  }
  for (const std::string url : {"redis://127.0.0.1:1?prefx=a", "rediss://127.0.0.1:1?prefx=a",
                                "nats://127.0.0.1:1?strem=s", "amqp://127.0.0.1:1?prefetc=1", "memory://?prefix=a"}) {
    const auto option = url.substr(url.find('?') + 1, url.find('=') - url.find('?') - 1);
    expect_refused(outcome(events::connect_event_bus(url, io.get_executor(), time, random, sleeper)), option, url);
  }
  for (const std::string url :
       {"redis://127.0.0.1:1?rechek=1s", "etcd://127.0.0.1:1?prefx=/a", "memory://?recheck=1s"}) {
    const auto option = url.substr(url.find('?') + 1, url.find('=') - url.find('?') - 1);
    expect_refused(outcome(coord::connect_lock_backend(url, io.get_executor(), time, sleeper)), option, url);
  }
  for (const std::string url : {"redis://127.0.0.1:1?chanel=c", "etcd://127.0.0.1:1/cfg?prefx=a",
                                "http://127.0.0.1:1/cfg?intervl=1s", "svckitd://127.0.0.1:1?timeout=1s"}) {
    const auto option = url.substr(url.find('?') + 1, url.find('=') - url.find('?') - 1);
    expect_refused(outcome(config::connect_config_backend(url, io.get_executor())), option, url);
  }
}

TEST(PluginTable, ChecksSchemeAndOptionsBeforeTheFactoryRuns) {
  struct Deps {
    int calls = 0;
  };
  using Table = net::PluginTable<std::string, Deps*>;
  Table::Builder builder("widget");
  builder.add("wx", {7000, {"size"}, [](const net::BackendUrl& url, std::string_view text, Deps* const& deps) {
                       ++deps->calls;
                       return Result<std::string>(std::string(text) + " port " + std::to_string(url.hosts.at(0).port));
                     }});
  const auto table = std::move(builder).build();
  Deps deps;
  auto made = table.create("wx://h?size=2", &deps);
  ASSERT_TRUE(made.ok()) << made.error().describe();
  EXPECT_EQ(*made, "wx://h?size=2 port 7000") << "the default port fills a host without one";
  auto typo = table.create("wx://h?sise=2", &deps);
  ASSERT_FALSE(typo.ok());
  EXPECT_EQ(typo.error().field, "sise");
  EXPECT_NE(typo.error().message.find("wx:// widget"), std::string::npos) << typo.error().message;
  auto unknown = table.create("zz://h", &deps);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().field, "url");
  EXPECT_NE(unknown.error().message.find("expected wx://"), std::string::npos) << unknown.error().message;
  EXPECT_FALSE(table.create("no scheme", &deps).ok());
  EXPECT_EQ(deps.calls, 1) << "refused URLs never reach the factory";
  EXPECT_EQ(table.schemes(), std::vector<std::string>{"wx"});
}

}  // namespace
}  // namespace svckit
