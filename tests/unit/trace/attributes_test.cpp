#include "svckit/trace/attributes.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace svckit::trace {
namespace {

std::vector<std::string> keys(const Attributes& a) {
  std::vector<std::string> out;
  for (const auto& [key, value] : a) out.emplace_back(key);
  return out;
}

TEST(Attributes, KeepEachTypeAndTheOrderTheyWereFirstSetIn) {
  Attributes a;
  EXPECT_TRUE(a.empty());
  EXPECT_TRUE(a.begin() == a.end());
  a.set("http.request.method", "GET");
  a.set("server.port", 8080);
  a.set("ratio", 0.5);
  a.set("svckit.hedge", true);
  a.set("an.empty.string", std::string_view());
  a.set(std::string(300, 'k'), std::string(70'000, 'v'));  // sizes past one and two bytes
  ASSERT_EQ(a.size(), 6U);
  EXPECT_EQ(keys(a), (std::vector<std::string>{"http.request.method", "server.port", "ratio", "svckit.hedge",
                                               "an.empty.string", std::string(300, 'k')}));
  EXPECT_EQ(std::get<std::string_view>(*a.find("http.request.method")), "GET");
  EXPECT_EQ(std::get<std::int64_t>(*a.find("server.port")), 8080);
  EXPECT_EQ(std::get<double>(*a.find("ratio")), 0.5);
  EXPECT_TRUE(std::get<bool>(*a.find("svckit.hedge")));
  EXPECT_EQ(std::get<std::string_view>(*a.find("an.empty.string")), "");
  EXPECT_EQ(std::get<std::string_view>(*a.find(std::string(300, 'k'))), std::string(70'000, 'v'));
  EXPECT_FALSE(a.find("http.request"));  // a prefix of a key is not the key
  EXPECT_FALSE(a.find("missing"));
}

// OpenTelemetry's SetAttribute: a key set again keeps its place and takes the new value, of any
// size or type; the attributes after it are untouched.
TEST(Attributes, SettingAKeyAgainReplacesItsValueWhereItStands) {
  Attributes a;
  a.set("first", "1");
  a.set("middle", "a short value");
  a.set("last", std::int64_t{-1});
  a.set("middle", std::string(1000, 'x'));
  EXPECT_EQ(std::get<std::string_view>(*a.find("middle")).size(), 1000U);
  a.set("middle", 42);
  EXPECT_EQ(std::get<std::int64_t>(*a.find("middle")), 42);
  a.set("middle", false);
  EXPECT_FALSE(std::get<bool>(*a.find("middle")));
  a.set("middle", "again text");
  ASSERT_EQ(a.size(), 3U);
  EXPECT_EQ(keys(a), (std::vector<std::string>{"first", "middle", "last"}));
  EXPECT_EQ(std::get<std::string_view>(*a.find("middle")), "again text");
  EXPECT_EQ(std::get<std::int64_t>(*a.find("last")), -1);
  EXPECT_EQ(std::get<std::string_view>(*a.find("first")), "1");
}

// set() looks for a key only when a key of its size (mod 64) is in: keys of sizes 1 and 65 share
// that, and each is still found and replaced, never confused with the other.
TEST(Attributes, KeysOfSizesThatShareTheLookUpBitAreStillToldApart) {
  Attributes a;
  const std::string long_key(65, 'k');
  a.set("k", 1);
  a.set(long_key, 2);
  a.set("k", 3);
  a.set(long_key, "four");
  a.set("j", 5);  // same size as "k", another key
  ASSERT_EQ(a.size(), 3U);
  EXPECT_EQ(std::get<std::int64_t>(*a.find("k")), 3);
  EXPECT_EQ(std::get<std::string_view>(*a.find(long_key)), "four");
  EXPECT_EQ(std::get<std::int64_t>(*a.find("j")), 5);
  const auto back = Attributes::from_bytes(a.bytes());  // rebuilt by a walk, not by set()
  ASSERT_TRUE(back);
  Attributes again = *back;
  again.set(long_key, 6);
  again.set("j", true);
  EXPECT_EQ(again.size(), 3U);
  EXPECT_EQ(std::get<std::int64_t>(*again.find(long_key)), 6);
}

// Decoders append without a look-up (keys are unique by the format's contract): a repeated key
// is kept twice, and find() gives the first.
TEST(Attributes, AppendAddsWithoutLookingAndFindGivesTheFirst) {
  Attributes a;
  a.append("k", AttributeValue(std::string("one")));
  a.append("k", AttributeValue(std::int64_t{2}));
  a.append(AttributeView{"n", AttributeValueView(1.5)});
  ASSERT_EQ(a.size(), 3U);
  EXPECT_EQ(std::get<std::string_view>(*a.find("k")), "one");
  EXPECT_EQ(std::get<double>(*a.find("n")), 1.5);
}

// A key or value that views the attributes' own buffer (what find() and iteration give) is copied
// before the buffer grows or shifts under it.
TEST(Attributes, AKeyOrValueViewingTheirOwnBytesIsCopiedSafely) {
  Attributes a;
  a.set("orig", std::string(40, 'o'));
  for (int i = 0; i < 6; ++i) {  // the buffer doubles on the way
    const auto value = [&] { return std::get<std::string_view>(*a.find("orig")); };
    a.set("orig" + std::to_string(i), value());
    a.append(AttributeView{(*a.begin()).key, AttributeValueView(value())});
  }
  a.set("orig", std::get<std::string_view>(*a.find("orig0")).substr(1));  // replaced by a view of a later one
  EXPECT_EQ(std::get<std::string_view>(*a.find("orig")), std::string(39, 'o'));
  EXPECT_EQ(std::get<std::string_view>(*a.find("orig5")), std::string(40, 'o'));
  EXPECT_EQ(a.size(), 13U);
}

TEST(Attributes, CopiesAndMovesKeepEveryAttribute) {
  Attributes a;
  a.set("k", "v");
  a.set("n", 7);
  Attributes copy = a;
  EXPECT_TRUE(copy == a);
  copy.set("extra", true);  // a copy has a buffer of its own
  EXPECT_EQ(a.size(), 2U);
  Attributes moved = std::move(copy);
  EXPECT_EQ(moved.size(), 3U);
  EXPECT_TRUE(copy.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty, by contract
  copy = moved;
  EXPECT_TRUE(copy == moved);
  copy = Attributes();
  EXPECT_TRUE(copy.empty());
}

TEST(Attributes, EqualityIsSameKeysValuesAndOrder) {
  Attributes a, b;
  a.set("x", 1);
  a.set("y", "two");
  b.set("y", "two");
  b.set("x", 1);
  EXPECT_FALSE(a == b);
  b.clear();
  EXPECT_TRUE(b.empty());
  b.set("x", 1);
  b.set("y", "two");
  EXPECT_TRUE(a == b);
  b.set("y", "tw0");
  EXPECT_FALSE(a == b);
  Attributes nan1, nan2;
  nan1.set("d", std::numeric_limits<double>::quiet_NaN());
  nan2.set("d", std::numeric_limits<double>::quiet_NaN());
  EXPECT_TRUE(nan1 == nan2);  // bit for bit
}

TEST(Attributes, FromBytesTakesBackWhatBytesGaveAndRefusesAnythingElse) {
  Attributes a;
  a.set("s", "text");
  a.set("i", std::numeric_limits<std::int64_t>::min());
  a.set("d", -0.0);
  a.set("b", true);
  const std::string packed(a.bytes());
  const auto back = Attributes::from_bytes(packed);
  ASSERT_TRUE(back);
  EXPECT_TRUE(*back == a);
  EXPECT_EQ(back->size(), 4U);
  EXPECT_TRUE(std::signbit(std::get<double>(*back->find("d"))));
  ASSERT_TRUE(Attributes::from_bytes(""));
  EXPECT_TRUE(Attributes::from_bytes("")->empty());

  // A truncated form is refused, except one cut at a record's boundary (a shorter list, the
  // first three); never read past its end.
  std::size_t accepted = 0;
  for (std::size_t n = 1; n < packed.size(); ++n) {
    const std::string cut = packed.substr(0, n);  // its own buffer: ASan sees any read past it
    if (const auto r = Attributes::from_bytes(cut)) {
      ++accepted;
      EXPECT_EQ(r->size(), accepted) << n;
      EXPECT_EQ(r->bytes(), cut);
    }
  }
  EXPECT_EQ(accepted, 3U);
  // An unknown type byte, a bool that is not 0 or 1, a size past the end: refused.
  std::string bad_tag = packed;
  bad_tag[4 + 1] = '\x07';  // the first record's type byte (after its 4-byte key size and "s")
  EXPECT_FALSE(Attributes::from_bytes(bad_tag));
  std::string bad_bool = packed;
  bad_bool.back() = '\x02';
  EXPECT_FALSE(Attributes::from_bytes(bad_bool));
  std::string huge_key = packed;
  const std::uint32_t big = 0xfffffffc;  // with the 4 size bytes, wraps a 32-bit sum to 0
  std::memcpy(huge_key.data(), &big, 4);
  EXPECT_FALSE(Attributes::from_bytes(huge_key));
  std::string huge_value = packed;
  std::memcpy(huge_value.data() + 4 + 1 + 1, &big, 4);  // the first value's size
  EXPECT_FALSE(Attributes::from_bytes(huge_value));
}

}  // namespace
}  // namespace svckit::trace
