// to_wire: the same bytes as Beast's serializer for every message the hot paths write by hand.
#include "src/http/wire.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/write.hpp>

#include <sstream>
#include <vector>

namespace svckit::http {
namespace {

template <bool IsRequest>
std::string beast_bytes(const beast_http::message<IsRequest, beast_http::string_body>& message) {
  std::ostringstream out;
  out << message;
  return out.str();
}

template <bool IsRequest>
std::string wire_bytes(const beast_http::message<IsRequest, beast_http::string_body>& message) {
  std::string wire;
  const auto rest = detail::to_wire(wire, message);
  return wire + std::string(rest);
}

TEST(Wire, RequestsAreWhatBeastWrites) {
  Request get{Verb::get, "/orders/7?expand=items&x=%20", 11};
  get.set(beast_http::field::host, "127.0.0.1:8080");
  get.insert("X-Forwarded-For", "10.0.0.1, 127.0.0.1");
  get.insert("x-custom", "");
  get.insert("X-Forwarded-For", "again");  // repeated fields stay, in order
  get.prepare_payload();
  EXPECT_EQ(wire_bytes(get), beast_bytes(get));

  Request post{Verb::post, "/orders", 10};
  post.set(beast_http::field::content_type, "application/json");
  post.body() = R"({"product":7,"count":2})";
  post.prepare_payload();
  EXPECT_EQ(wire_bytes(post), beast_bytes(post));

  Request odd{Verb::unknown, "/", 11};
  odd.method_string("PURGE");
  EXPECT_EQ(wire_bytes(odd), beast_bytes(odd));
}

TEST(Wire, ResponsesAreWhatBeastWritesWithTheirReasonAndStatus) {
  for (const unsigned status : {100U, 101U, 200U, 204U, 304U, 404U, 418U, 499U, 503U, 599U}) {
    Response r{static_cast<Status>(status), 11};
    r.set(beast_http::field::server, "svckit");
    r.body() = status == 204 || status == 304 ? "" : "{\"ok\":true}";
    r.prepare_payload();
    EXPECT_EQ(wire_bytes(r), beast_bytes(r)) << status;
  }
  Response custom{Status::ok, 10};
  custom.reason("Fine Indeed");
  custom.keep_alive(true);
  EXPECT_EQ(wire_bytes(custom), beast_bytes(custom));
}

// set_keep_alive and prepare_payload skip Beast's work only where it would change nothing: every
// case here must come out byte for byte as Beast's own keep_alive() / prepare_payload() leave it.
TEST(Wire, KeepAliveAndPayloadShortcutsLeaveWhatBeastWould) {
  const std::vector<std::vector<std::pair<std::string, std::string>>> heads{
      {},
      {{"Connection", "keep-alive"}},
      {{"Connection", "close"}},
      {{"connection", "Upgrade, close"}},
      {{"Connection", "x-private"}, {"X-Private", "1"}},
      {{"Connection", "keep-alive"}, {"Connection", "close"}},
      {{"Content-Length", "11"}},
      {{"Content-Length", "3"}},
      {{"Content-Length", "011"}},
      {{"Content-Length", "11"}, {"Content-Length", "11"}},
      {{"Transfer-Encoding", "chunked"}, {"Content-Length", "11"}},
      {{"Transfer-Encoding", "gzip"}},
      {{"Server", "nginx"}, {"Content-Type", "application/json"}, {"Content-Length", "0"}}};
  const std::vector<std::string> bodies{"", "{\"ok\":true}"};
  int cases = 0;
  for (const auto& fields : heads) {
    for (const unsigned version : {10U, 11U}) {
      for (const bool keep : {true, false}) {
        Request ours{Verb::get, "/", version};
        for (const auto& [name, value] : fields) ours.insert(name, value);
        Request theirs = ours;
        detail::set_keep_alive(ours, keep);
        theirs.keep_alive(keep);
        EXPECT_EQ(beast_bytes(ours), beast_bytes(theirs)) << version << " keep " << keep << " " << cases;
        ++cases;
      }
      for (const unsigned status : {200U, 404U, 204U, 304U, 101U}) {
        for (const auto& body : bodies) {
          if ((status == 204 || status == 304 || status == 101) && !body.empty()) continue;  // Beast throws
          Response ours{static_cast<Status>(status), version};
          for (const auto& [name, value] : fields) ours.insert(name, value);
          ours.body() = body;
          Response theirs = ours;
          detail::prepare_payload(ours);
          theirs.prepare_payload();
          EXPECT_EQ(beast_bytes(ours), beast_bytes(theirs)) << status << " body " << body.size() << " " << cases;
          ++cases;
        }
      }
    }
  }
  EXPECT_GT(cases, 200);
}

TEST(Wire, ALargeBodyIsLeftWhereItIsAsASecondPiece) {
  Response big{Status::ok, 11};
  big.body().assign(detail::kWireInlineBody + 1, 'x');
  big.prepare_payload();
  std::string wire;
  const auto rest = detail::to_wire(wire, big);
  EXPECT_EQ(rest.data(), big.body().data()) << "not copied";
  EXPECT_EQ(rest.size(), big.body().size());
  EXPECT_TRUE(wire.ends_with("\r\n\r\n"));
  EXPECT_EQ(wire + std::string(rest), beast_bytes(big));

  Response edge{Status::ok, 11};
  edge.body().assign(detail::kWireInlineBody, 'y');
  edge.prepare_payload();
  EXPECT_TRUE(detail::to_wire(wire, edge).empty()) << "up to the limit it is copied behind the head";
  EXPECT_EQ(wire, beast_bytes(edge));

  Request huge_head{Verb::get, "/", 11};
  huge_head.set("X-Large", std::string(20'000, 'h'));
  EXPECT_EQ(wire_bytes(huge_head), beast_bytes(huge_head));
  (void)detail::to_wire(wire, huge_head);
  detail::keep_wire_small(wire);
  EXPECT_LE(wire.capacity(), 8u * 1024) << "an idle connection does not keep a large buffer";
}

}  // namespace
}  // namespace svckit::http
