#include "daemon/instance_list_body.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace svckit::daemon {
namespace {

std::vector<std::shared_ptr<const std::string>> records(std::size_t n, std::size_t bytes) {
  std::vector<std::shared_ptr<const std::string>> out;
  out.reserve(n);  // as the registry's json_records takes them
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(std::make_shared<const std::string>(R"({"id":")" + std::to_string(i) + R"(","pad":")" +
                                                      std::string(bytes, 'x') + "\"}"));
  }
  return out;
}

/// Every piece, checked against size() and the piece bound.
std::string drain(InstanceListBody& body, std::size_t largest_record) {
  std::string all;
  int pieces = 0;
  for (auto piece = body.next(); !piece.empty(); piece = body.next()) {
    EXPECT_LE(piece.size(), InstanceListBody::kPieceBytes + largest_record + 64) << "piece " << pieces;
    all += piece;
    ++pieces;
  }
  EXPECT_TRUE(body.next().empty()) << "stays at its end";
  EXPECT_EQ(all.size(), body.size()) << "the Content-Length promised is what is written";
  return all;
}

TEST(InstanceListBody, AnEmptyListIsAValidDocument) {
  InstanceListBody body({}, R"(],"index":7,"service":"a"})");
  const auto doc = nlohmann::json::parse(drain(body, 0));
  EXPECT_TRUE(doc["instances"].empty());
  EXPECT_EQ(doc["index"], 7);
}

TEST(InstanceListBody, ALargeListComesInBoundedPiecesWithEveryRecordOnce) {
  InstanceListBody body(records(5000, 300), R"(],"index":9,"service":"big"})");
  EXPECT_GT(body.size(), 5000u * 300);
  EXPECT_LT(body.held_bytes(), 16u * 5000 + InstanceListBody::kPieceBytes + 1024)
      << "a pointer per record, not the text";
  const auto doc = nlohmann::json::parse(drain(body, 320));
  ASSERT_EQ(doc["instances"].size(), 5000u);
  for (std::size_t i = 0; i < 5000; ++i) EXPECT_EQ(doc["instances"][i]["id"], std::to_string(i));
  EXPECT_EQ(doc["service"], "big");
}

TEST(InstanceListBody, ARecordLargerThanAPieceIsWrittenWhole) {
  InstanceListBody body(records(3, 200'000), R"(],"index":1,"service":"s"})");
  const auto doc = nlohmann::json::parse(drain(body, 200'020));
  EXPECT_EQ(doc["instances"].size(), 3u);
}

TEST(InstanceListBody, WrittenRecordsAreReleased) {
  auto list = records(400, 1000);
  const std::weak_ptr<const std::string> first = list.front();
  InstanceListBody body(std::move(list), "]}");
  ASSERT_FALSE(body.next().empty());
  EXPECT_TRUE(first.expired()) << "the registry may drop a record once it is written";
}

}  // namespace
}  // namespace svckit::daemon
