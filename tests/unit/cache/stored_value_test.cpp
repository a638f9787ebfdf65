#include "svckit/cache/stored_value.hpp"

#include <gtest/gtest.h>

#include <random>

namespace svckit::cache {
namespace {

std::string repetitive(std::size_t n) {
  std::string s;
  while (s.size() < n) s += R"({"sku":"A-1","name":"mug","price":12},)";
  return s;
}

TEST(StoredValue, LargeCompressibleValuesAreDeflatedAndComeBackExactly) {
  const auto value = repetitive(50'000);
  const auto stored = encode_stored_value(value, 1024);
  EXPECT_LT(stored.size(), value.size() / 20);
  EXPECT_EQ(stored.substr(0, 5), std::string("\x1fSVZ1", 5));
  EXPECT_EQ(*decode_stored_value(stored), value);
}

TEST(StoredValue, EverySizeRoundTrips) {
  // Beast's inflater looks ahead before it sees a short stream's end (a 133-byte JSON document
  // failed to decode until the input was padded): every size from tiny to a few KiB comes back.
  for (std::size_t n = 1; n < 4000; n += 7) {
    std::string value;
    const std::string_view pattern = R"({"key": "app.db", "x": 1})";
    for (std::size_t i = 0; i < n; ++i) value += pattern[i % pattern.size()];
    const auto stored = encode_stored_value(value, 16);
    auto back = decode_stored_value(stored);
    ASSERT_TRUE(back) << n << ": " << back.error().message;
    ASSERT_EQ(*back, value) << n;
  }
}

TEST(StoredValue, SmallIncompressibleAndDisabledStayAsTheyAre) {
  EXPECT_EQ(encode_stored_value("short", 1024), "short");
  EXPECT_EQ(encode_stored_value(repetitive(5000), 0), repetitive(5000)) << "compression off";
  std::string noise;
  std::mt19937 bits(7);  // a fixed seed: the same bytes every run
  for (int i = 0; i < 4096; ++i) noise += static_cast<char>(bits() & 0xff);
  noise[0] = 'n';
  EXPECT_EQ(encode_stored_value(noise, 1024), noise) << "stored as is when deflating does not make it smaller";
  EXPECT_EQ(*decode_stored_value("plain json {}"), "plain json {}");
  EXPECT_EQ(*decode_stored_value(""), "");
}

TEST(StoredValue, AValueThatLooksLikeAFrameIsNeverMistakenForOne) {
  const std::string tricky = std::string("\x1fSVZ1", 5) + "not really compressed";
  const auto stored = encode_stored_value(tricky, 0);
  EXPECT_NE(stored, tricky);
  EXPECT_EQ(*decode_stored_value(stored), tricky);
  EXPECT_EQ(*decode_stored_value(encode_stored_value("\x1f", 1024)), "\x1f");
}

TEST(StoredValue, CorruptCutAndOversizedFramesAreErrors) {
  auto stored = encode_stored_value(repetitive(20'000), 100);
  auto cut = stored.substr(0, stored.size() / 2);
  EXPECT_EQ(decode_stored_value(cut).error().code, ErrorCode::protocol);
  auto flipped = stored;
  flipped[stored.size() / 2] = static_cast<char>(flipped[stored.size() / 2] ^ 0x55);
  EXPECT_FALSE(decode_stored_value(flipped).ok());
  EXPECT_FALSE(decode_stored_value(std::string("\x1fSVZ1\x00", 6)).ok()) << "header cut short";
  // A frame that claims more than the limit is refused before anything is inflated.
  EXPECT_EQ(decode_stored_value(stored, 1000).error().code, ErrorCode::protocol);
  auto lying = stored;
  lying[8] = static_cast<char>(lying[8] + 1);  // recorded size one more than the truth
  EXPECT_FALSE(decode_stored_value(lying).ok());
}

}  // namespace
}  // namespace svckit::cache
