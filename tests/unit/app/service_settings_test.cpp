// The environment-variable table of service_settings.hpp, row by row, and the service_discovery
// YAML shape Python services write (with ${VAR:-default}).
#include "svckit/app/service_settings.hpp"

#include <gtest/gtest.h>

#include <functional>

namespace svckit::app {
namespace {

using namespace std::chrono_literals;
using Env = std::vector<std::pair<std::string, std::string>>;

struct Row {
  const char* what;
  Env env;
  std::function<void(const ServiceSettings&)> check;
};

TEST(ServiceSettings, EachEnvironmentVariableOfTheTable) {
  const Row rows[] = {
      {"defaults",
       {},
       [](const ServiceSettings& s) {
         EXPECT_EQ(s.discovery.registry_url, "memory://");
         EXPECT_EQ(s.messaging_url, "memory://");
         EXPECT_EQ(s.queue_type, "memory");
         EXPECT_EQ(s.queue_url, "memory://");
         EXPECT_EQ(s.message_workers, 4);
         EXPECT_TRUE(s.health_check_enabled);
         EXPECT_EQ(s.profile, "dev");
       }},
      {"SVCKIT_REGISTRY",
       {{"SVCKIT_REGISTRY", "consul://10.0.0.5:8500?dc=eu"}},
       [](const ServiceSettings& s) { EXPECT_EQ(s.discovery.registry_url, "consul://10.0.0.5:8500?dc=eu"); }},
      {"MESSAGING_URL",
       {{"MESSAGING_URL", "amqp://mq:5672"}},
       [](const ServiceSettings& s) { EXPECT_EQ(s.messaging_url, "amqp://mq:5672"); }},
      {"REDIS_URL makes redis the queue",
       {{"REDIS_URL", "redis://cache:6379/2"}},
       [](const ServiceSettings& s) {
         EXPECT_EQ(s.redis_url, "redis://cache:6379/2");
         EXPECT_EQ(s.queue_type, "redis");
         EXPECT_EQ(s.queue_url, "redis://cache:6379/2");
       }},
      {"QUEUE_TYPE=memory over REDIS_URL",
       {{"REDIS_URL", "redis://cache:6379"}, {"QUEUE_TYPE", "Memory"}},
       [](const ServiceSettings& s) {
         EXPECT_EQ(s.queue_type, "memory");
         EXPECT_EQ(s.queue_url, "memory://");
       }},
      {"QUEUE_TYPE=rabbitmq with RABBITMQ_URL",
       {{"RABBITMQ_URL", "amqp://mq:5672/%2F?user=tasks"}, {"QUEUE_TYPE", "RabbitMQ"}},
       [](const ServiceSettings& s) {
         EXPECT_EQ(s.queue_type, "rabbitmq");
         EXPECT_EQ(s.queue_url, "amqp://mq:5672/%2F?user=tasks");
       }},
      {"QUEUE_TYPE=amqp on the event bus's amqp:// MESSAGING_URL",
       {{"MESSAGING_URL", "amqp://mq:5672"}, {"QUEUE_TYPE", "amqp"}},
       [](const ServiceSettings& s) {
         EXPECT_EQ(s.queue_type, "rabbitmq");
         EXPECT_EQ(s.queue_url, "amqp://mq:5672");
       }},
      {"MESSAGE_WORKERS",
       {{"MESSAGE_WORKERS", "16"}},
       [](const ServiceSettings& s) { EXPECT_EQ(s.message_workers, 16); }},
      {"HEALTH_CHECK_ENABLED=no",
       {{"HEALTH_CHECK_ENABLED", "no"}},
       [](const ServiceSettings& s) { EXPECT_FALSE(s.health_check_enabled); }},
      {"ENVIRONMENT", {{"ENVIRONMENT", "PROD"}}, [](const ServiceSettings& s) { EXPECT_EQ(s.profile, "prod"); }},
      {"MICROSERVICE_ENV over ENVIRONMENT",
       {{"ENVIRONMENT", "prod"}, {"MICROSERVICE_ENV", "test"}},
       [](const ServiceSettings& s) { EXPECT_EQ(s.profile, "test"); }},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.what);
    auto settings = load_service_settings(row.env);
    ASSERT_TRUE(settings) << settings.error().describe();
    row.check(*settings);
  }
}

TEST(ServiceSettings, BadValuesNameTheirVariable) {
  const std::pair<Env, const char*> rows[] = {
      {{{"MESSAGE_WORKERS", "0"}}, "MESSAGE_WORKERS"},
      {{{"MESSAGE_WORKERS", "4x"}}, "MESSAGE_WORKERS"},
      {{{"MESSAGE_WORKERS", "5000"}}, "MESSAGE_WORKERS"},
      {{{"QUEUE_TYPE", "kafka"}}, "QUEUE_TYPE"},
      {{{"QUEUE_TYPE", "rabbitmq"}}, "QUEUE_TYPE"},  // no RABBITMQ_URL, no amqp:// MESSAGING_URL
      {{{"RABBITMQ_URL", "http://mq:15672"}}, "RABBITMQ_URL"},
      {{{"QUEUE_TYPE", "redis"}}, "QUEUE_TYPE"},  // no REDIS_URL
      {{{"REDIS_URL", "localhost:6379"}}, "REDIS_URL"},
      {{{"MESSAGING_URL", "rabbit"}}, "MESSAGING_URL"},
      {{{"SVCKIT_REGISTRY", "127.0.0.1:8500"}}, "SVCKIT_REGISTRY"},
      {{{"HEALTH_CHECK_ENABLED", "maybe"}}, "HEALTH_CHECK_ENABLED"},
      {{{"ENVIRONMENT", "prod/../x"}}, "ENVIRONMENT"},
  };
  for (const auto& [env, field] : rows) {
    auto settings = load_service_settings(env);
    ASSERT_FALSE(settings) << field;
    EXPECT_EQ(settings.error().field, field);
    EXPECT_EQ(settings.error().code, ErrorCode::invalid_argument);
  }
}

TEST(ServiceSettings, TheServiceDiscoverySectionWithExpansionAndSecretsByName) {
  const std::string yaml = R"(
app_name: orders            # the rest of the application's file is not ours
service_discovery:
  backend: consul
  backend_config:
    url: ${CONSUL_URL:-http://localhost:8500}
    datacenter: dc1
    token: ${CONSUL_TOKEN:-}
  health_check_interval: 5s
  instance_ttl: 20
  auto_register: true
  auto_deregister: false
  selection: round_robin
)";
  auto s = load_service_settings({{"CONSUL_TOKEN", "secret"}}, yaml);
  ASSERT_TRUE(s) << s.error().describe();
  EXPECT_EQ(s->discovery.registry_url, "consul://localhost:8500?dc=dc1&token_env=CONSUL_TOKEN")
      << "the token travels by the variable's name, never in the URL";
  EXPECT_EQ(s->discovery.health_check_interval, 5s);
  EXPECT_EQ(s->discovery.instance_ttl, 20s) << "a bare number is seconds";
  EXPECT_FALSE(s->discovery.auto_deregister);
  EXPECT_EQ(s->discovery.selection, InstanceSelection::round_robin);
  EXPECT_FALSE(discovery_options(*s).deregister_on_shutdown);
  EXPECT_EQ(discovery_options(*s).selection, InstanceSelection::round_robin);

  // The default of ${CONSUL_URL:-...} gives way to the variable; an unset token adds none; the
  // environment's SVCKIT_REGISTRY wins over the file.
  s = load_service_settings({{"CONSUL_URL", "https://consul.internal:8501/"}}, yaml);
  ASSERT_TRUE(s) << s.error().describe();
  EXPECT_EQ(s->discovery.registry_url, "consul://consul.internal:8501?tls=true&dc=dc1");
  s = load_service_settings({{"SVCKIT_REGISTRY", "svckitd://a:8500,b:8500"}}, yaml);
  EXPECT_EQ(s->discovery.registry_url, "svckitd://a:8500,b:8500");

  const std::pair<const char*, const char*> bad[] = {
      {"service_discovery:\n  backend: zookeeper\n", "service_discovery.backend"},
      {"service_discovery:\n  backend: consul\n  backend_config: {token: abc123}\n",
       "service_discovery.backend_config.token"},
      {"service_discovery:\n  backend: consul\n  backend_config: {tokn: x}\n", "service_discovery.backend_config.tokn"},
      {"service_discovery:\n  instance_ttl: soon\n", "service_discovery.instance_ttl"},
      {"service_discovery:\n  instance_ttl: 0s\n", "service_discovery.instance_ttl"},
      {"service_discovery:\n  auto_register: perhaps\n", "service_discovery.auto_register"},
      {"service_discovery:\n  selection: fastest\n", "service_discovery.selection"},
      {"service_discovery:\n  backend: consul\n  backend_config: {url: ftp://x}\n",
       "service_discovery.backend_config.url"},
      {"service_discovery:\n  backend_config: {url: '${NOT_SET}'}\n", "service_discovery.backend_config.url"},
      {"service_discovery:\n  healthcheck: 1s\n", "service_discovery.healthcheck"},
      {"service_discovery:\n  backend: [consul]\n", "service_discovery.backend"},
      {"service_discovery:\n  backend: consul\n  backend_config: {datacenter: {a: 1}}\n",
       "service_discovery.backend_config.datacenter"},
      {"service_discovery:\n  backend: consul\n  backend_config: {url: 8500}\n",
       "service_discovery.backend_config.url"},
      {"service_discovery:\n  selection: [weighted]\n", "service_discovery.selection"},
  };
  for (const auto& [text, field] : bad) {
    auto r = load_service_settings({}, text);
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error().field, field) << text << " -> " << r.error().describe();
  }
  auto broken = load_service_settings({}, "service_discovery: [\n", "svc.yaml");
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error().describe().find("svc.yaml"), std::string::npos) << broken.error().describe();
}

TEST(ServiceSettings, OtherBackendsAndTheSelfRegistration) {
  auto s =
      load_service_settings({}, "service_discovery:\n  backend: etcd\n  backend_config: {url: 'http://e1:2379'}\n");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->discovery.registry_url, "etcd://e1:2379");
  s = load_service_settings({}, "service_discovery:\n  backend: redis\n  backend_config: {url: 'redis://r:6379/1'}\n");
  EXPECT_EQ(s->discovery.registry_url, "redis://r:6379/1") << "a URL of the backend's own scheme is used as is";
  s = load_service_settings({{"T", "x"}},
                            "service_discovery:\n  backend: consul\n  backend_config: {url: "
                            "'consul://c:8500?timeout=2s', datacenter: eu, token: '${T}'}\n");
  ASSERT_TRUE(s) << s.error().describe();
  EXPECT_EQ(s->discovery.registry_url, "consul://c:8500?timeout=2s&dc=eu&token_env=T")
      << "its own options are kept and the section's are added";
  s = load_service_settings({}, "service_discovery:\n  backend: eureka\n");
  EXPECT_EQ(s->discovery.registry_url, "eureka://127.0.0.1:8761/eureka");
  s = load_service_settings({{"NACOS_PASSWORD", "pw"}},
                            "service_discovery:\n  backend: nacos\n  backend_config: {username: nacos, password: "
                            "'${NACOS_PASSWORD}', namespace: dev}\n");
  ASSERT_TRUE(s) << s.error().describe();
  EXPECT_EQ(s->discovery.registry_url, "nacos://127.0.0.1:8848?namespace=dev&user=nacos&password_env=NACOS_PASSWORD");
  s = load_service_settings(
      {}, "service_discovery:\n  backend: consul\n  backend_config: {datacenter: 'dc1&token_env=HOME'}\n");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->discovery.registry_url, "consul://127.0.0.1:8500?dc=dc1%26token_env%3DHOME")
      << "a value cannot add an option";
  s = load_service_settings({}, "service_discovery:\n  backend: consul\n  backend_config: {datacenter: 2}\n");
  EXPECT_EQ(s->discovery.registry_url, "consul://127.0.0.1:8500?dc=2") << "YAML's number is the text it was";
  s = load_service_settings({}, "service_discovery:\n  backend: memory\n  cleanup_interval: 2s\n");
  EXPECT_EQ(s->discovery.registry_url, "memory://?sweep=2000ms");

  ServiceInstance me;
  me.service = "orders";
  me.host = "127.0.0.1";
  me.port = 8080;
  me.health_check_path = "/health";
  auto registered = self_registration(*s, me);
  ASSERT_TRUE(registered);
  EXPECT_EQ(registered->ttl, 30s);
  ASSERT_EQ(registered->checks.size(), 1U);
  EXPECT_EQ(registered->checks[0].interval, 10s);
  EXPECT_EQ(registered->status, InstanceStatus::starting);
  s = load_service_settings({{"HEALTH_CHECK_ENABLED", "false"}}, "service_discovery:\n  auto_register: false\n");
  EXPECT_FALSE(self_registration(*s, me)) << "auto_register: false";
  s = load_service_settings({{"HEALTH_CHECK_ENABLED", "false"}});
  EXPECT_TRUE(self_registration(*s, me)->checks.empty()) << "no checks when health checking is off";
}

}  // namespace
}  // namespace svckit::app
