#include "daemon/prometheus_sd.hpp"

#include <gtest/gtest.h>

namespace svckit::daemon {
namespace {

ServiceInstance instance(std::string id, std::string host, int port) {
  ServiceInstance in;
  in.service = "shop";
  in.id = std::move(id);
  in.host = std::move(host);
  in.port = port;
  return in;
}

TEST(PrometheusSd, LabelNamesAreSanitised) {
  EXPECT_EQ(prometheus_label_name("prometheus.io/path"), "prometheus_io_path");
  EXPECT_EQ(prometheus_label_name("a-b_C9"), "a_b_C9");
  EXPECT_EQ(prometheus_label_name(""), "");
}

TEST(PrometheusSd, OneGroupPerInstanceWithItsLabels) {
  auto a = instance("a1", "10.0.0.5", 8080);
  a.zone = "z1";
  a.tags = {"api", "canary-1"};
  a.metadata = {{"version", "1.2"}, {"team.name", "core"}};
  a.status = InstanceStatus::unhealthy;
  a.weight = 30;
  const auto groups = prometheus_sd_groups({a});
  ASSERT_EQ(groups.size(), 1U);
  EXPECT_EQ(groups[0]["targets"], nlohmann::json::array({"10.0.0.5:8080"}));
  const auto& l = groups[0]["labels"];
  EXPECT_EQ(l["__meta_svckit_service"], "shop");
  EXPECT_EQ(l["__meta_svckit_instance_id"], "a1");
  EXPECT_EQ(l["__meta_svckit_address"], "10.0.0.5");
  EXPECT_EQ(l["__meta_svckit_port"], "8080");
  EXPECT_EQ(l["__meta_svckit_zone"], "z1");
  EXPECT_EQ(l["__meta_svckit_status"], "unhealthy");
  EXPECT_EQ(l["__meta_svckit_weight"], "30");
  EXPECT_EQ(l["__meta_svckit_tags"], ",api,canary-1,");
  EXPECT_EQ(l["__meta_svckit_tagpresent_canary_1"], "true");
  EXPECT_EQ(l["__meta_svckit_metadata_team_name"], "core");
  EXPECT_EQ(l["__scheme__"], "http");
  EXPECT_FALSE(l.contains("__metrics_path__"));
  EXPECT_EQ(l["svckit_service"], "shop");
  EXPECT_EQ(l["svckit_instance"], "a1");
  for (const auto& [name, value] : l.items()) {
    EXPECT_TRUE(value.is_string()) << name;  // http_sd accepts string label values only
    EXPECT_EQ(prometheus_label_name(name), name);
  }
}

TEST(PrometheusSd, AnnotationsSteerTheScrape) {
  auto a = instance("a1", "::1", 8080);
  a.metadata = {
      {"prometheus.io/path", "/internal/metrics"}, {"prometheus.io/port", "9100"}, {"prometheus.io/scheme", "https"}};
  auto hidden = instance("h", "10.0.0.6", 80);
  hidden.metadata = {{"prometheus.io/scrape", "false"}};
  auto bad_path = instance("b", "10.0.0.7", 80);
  bad_path.metadata = {
      {"prometheus.io/path", "relative"}, {"prometheus.io/scheme", "ftp"}, {"prometheus.io/port", "70000"}};
  const auto groups = prometheus_sd_groups({a, hidden, bad_path});
  ASSERT_EQ(groups.size(), 2U);
  EXPECT_EQ(groups[0]["targets"][0], "[::1]:9100");
  EXPECT_EQ(groups[0]["labels"]["__metrics_path__"], "/internal/metrics");
  EXPECT_EQ(groups[0]["labels"]["__scheme__"], "https");
  EXPECT_EQ(groups[0]["labels"]["__meta_svckit_port"], "8080");  // the instance's own port stays visible
  EXPECT_EQ(groups[1]["labels"]["svckit_instance"], "b");
  EXPECT_EQ(groups[1]["targets"][0], "10.0.0.7:80");               // not a port: the instance's
  EXPECT_FALSE(groups[1]["labels"].contains("__metrics_path__"));  // only absolute paths
  EXPECT_EQ(groups[1]["labels"]["__scheme__"], "http");            // only http / https
  EXPECT_TRUE(prometheus_sd_groups({}).is_array());
}

}  // namespace
}  // namespace svckit::daemon
