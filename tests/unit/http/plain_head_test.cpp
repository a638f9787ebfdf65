// The fast head parsers: take the plain heads real servers and clients send, read them as Beast's
// parser does, and leave every other head to Beast.
#include "src/http/plain_head.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/plain_head_check.hpp"

namespace svckit::http {
namespace {

bool taken_and_agrees(const std::string& text, bool head_request = false) {
  bool taken = false;
  const auto differs = testing::plain_head_disagreement(text, head_request, &taken);
  EXPECT_EQ(differs, "") << text;
  return taken;
}

TEST(ResponseHead, TakesWhatServersSendAndReadsItAsBeastDoes) {
  const std::vector<std::string> heads = {
      // nginx
      "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Tue, 08 Dec 2026 00:45:15 GMT\r\n"
      "Content-Type: application/json\r\nContent-Length: 11\r\nConnection: keep-alive\r\n\r\n{\"ok\":true}",
      // HAProxy's own answer, closing
      "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\ncache-control: no-cache\r\n"
      "content-type: text/html\r\nconnection: close\r\n\r\n",
      // HTTP/1.0 kept alive, a custom reason, repeated fields, unknown fields, odd case
      "HTTP/1.0 200 Fine Indeed\r\nCONNECTION: Keep-Alive\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
      "X-Thing: \r\ncOnTeNt-LeNgTh: 3\r\n\r\nabc",
      "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n",  // 1.0 without keep-alive: closes
      // values: trailing and inner spaces and tabs, obs-text, an empty reason, tokens in a list
      "HTTP/1.1 200 \r\nX-A:  spaced value \t \r\nX-B:\tq\x80\xff r\r\nConnection: foo ,  close\r\n"
      "Content-Length: 000\r\n\r\n",
      // no body whatever is declared
      "HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n",
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\nETag: \"abc\"\r\n\r\n",
  };
  for (const auto& head : heads) EXPECT_TRUE(taken_and_agrees(head)) << head;
  // An answer to HEAD: no body, though it declares one.
  EXPECT_TRUE(taken_and_agrees("HTTP/1.1 200 OK\r\nContent-Length: 123456\r\n\r\n", true));

  Response out;
  const auto facts = detail::parse_plain_response_head(
      "HTTP/1.1 201 Created\r\nLocation: /orders/7\r\nContent-Length: 5\r\n\r\n", false, out);
  ASSERT_TRUE(facts);
  EXPECT_EQ(facts->body_bytes, 5U);
  EXPECT_TRUE(facts->keep_alive);
  EXPECT_EQ(out.result(), Status::created);
  EXPECT_EQ(out[beast_http::field::location], "/orders/7");
}

TEST(ResponseHead, LeavesEveryOtherHeadToBeast) {
  const std::vector<std::string> others = {
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 0\r\n\r\n",  // obs-fold
      "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",                         // bare LF
      "HTTP/1.1 200 OK\r\nX-A: a\nb\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-A: a\x01\r\nContent-Length: 0\r\n\r\n",  // a control character
      "HTTP/1.1 100 Continue\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
      "HTTP/1.1 200 OK\r\nConnection: upgrade\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",  // 20 digits
      "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
      "HTTP/1.1 200 OK\r\nConnection: ,close\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nConnection: \"close\"\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n",  // the body runs to the end of the stream
      "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",  // no space after the status
      "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-A : b\r\nContent-Length: 0\r\n\r\n",  // space before the colon
      "HTTP/1.1 200 OK\r\n: b\r\nContent-Length: 0\r\n\r\n",      // no name
      "HTTP/1.1 200 OK\r\nX(A): b\r\nContent-Length: 0\r\n\r\n",  // not a token
      "HTTP/1.1 200 OK\r\nX-A b\r\nContent-Length: 0\r\n\r\n",    // no colon
      "HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n",         // a control character in the reason
  };
  for (const auto& text : others) {
    Response out;
    const auto end = detail::head_end(text);
    ASSERT_EQ(end, text.size()) << text;
    EXPECT_FALSE(detail::parse_plain_response_head(text, false, out)) << text;
  }
  // Too long for the fast path (Beast's to read or refuse), however plain.
  const std::string big =
      "HTTP/1.1 200 OK\r\nX-Big: " + std::string(detail::kMaxPlainHead, 'a') + "\r\nContent-Length: 0\r\n\r\n";
  EXPECT_EQ(detail::head_end(big), 0U);
  Response out;
  EXPECT_FALSE(detail::parse_plain_response_head(big, false, out));
}

TEST(ResponseHead, FindsTheEndOnlyOnceTheWholeHeadIsThere) {
  const std::string text = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  const auto head = text.size() - 2;
  for (std::size_t cut = 0; cut < head; ++cut) {
    EXPECT_EQ(detail::head_end(std::string_view(text).substr(0, cut)), 0U) << cut;
    Response out;  // a cut head is never taken, wherever it is cut
    EXPECT_FALSE(detail::parse_plain_response_head(std::string_view(text).substr(0, cut), false, out)) << cut;
  }
  EXPECT_EQ(detail::head_end(text), head);
  // Read piece by piece, resuming where the last look stopped: the end is found at the same place
  // however the pieces fall (the blank line split across two pieces too).
  for (std::size_t piece = 1; piece <= 6; ++piece) {
    std::size_t scanned = 0;
    std::size_t found = 0;
    for (std::size_t have = piece; found == 0 && have < text.size() + piece; have += piece) {
      const auto bytes = std::string_view(text).substr(0, have);
      found = detail::head_end(bytes, detail::kMaxPlainHead, scanned);
      if (found == 0) scanned = detail::scan_resume(bytes);
    }
    EXPECT_EQ(found, head) << piece;
  }
  EXPECT_EQ(detail::head_end("\r\n\r\n"), 4U);
  EXPECT_EQ(detail::head_end("\r\r\n\r\r\n\r\n"), 8U);
}

TEST(ResponseHead, EveryByteSwappedStillAgreesWithBeast) {
  // Each byte of a plain head replaced by each interesting byte in turn: whatever the fast path
  // still takes, it must read as Beast does.
  const std::string base =
      "HTTP/1.1 200 OK\r\nContent-Type: a/b\r\nConnection: keep-alive, x\r\nContent-Length: 2\r\n\r\nok";
  const std::string swaps = std::string(
      " \t\r\n:,;\"()\x7f\x80\x00\x01"
      "aZ09-",
      19);
  std::size_t taken = 0;
  for (std::size_t i = 0; i < base.size() - 2; ++i) {
    for (const char c : swaps) {
      auto text = base;
      text[i] = c;
      bool took = false;
      EXPECT_EQ(testing::plain_head_disagreement(text, false, &took), "") << i << " " << static_cast<int>(c);
      EXPECT_EQ(testing::plain_head_disagreement(text, true), "") << i << " " << static_cast<int>(c);
      taken += took ? 1 : 0;
    }
  }
  EXPECT_GT(taken, 100U);  // the check ran on taken heads, not only on declined ones
}

bool request_taken_and_agrees(const std::string& text, std::size_t limit = 8192) {
  bool taken = false;
  EXPECT_EQ(testing::plain_request_disagreement(text, limit, &taken), "") << text;
  return taken;
}

TEST(RequestHead, TakesWhatClientsSendWithoutABodyAndReadsItAsBeastDoes) {
  const std::vector<std::string> heads = {
      // wrk
      "GET /plain HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n",
      // curl
      "GET /orders/7?expand=items HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
      // a browser-ish request with obs-text, odd case, repeated fields, an empty value
      "HEAD /a%20b/\xc3\xa9 HTTP/1.0\r\nconnection: KEEP-ALIVE\r\nAccept: a\r\nAccept: b\r\nX-E:\r\n\r\n",
      "DELETE /x HTTP/1.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
      "OPTIONS * HTTP/1.1\r\nHost: h\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n",
      "GET http://example.com:80/abs HTTP/1.1\r\nHost: example.com\r\n\r\n",
  };
  for (const auto& head : heads) EXPECT_TRUE(request_taken_and_agrees(head)) << head;

  RequestHead out;
  const auto facts = detail::parse_plain_request_head("GET /x HTTP/1.0\r\nHost: h\r\n\r\n", out);
  ASSERT_TRUE(facts);
  EXPECT_FALSE(facts->keep_alive);  // HTTP/1.0 without keep-alive
  EXPECT_EQ(out.method(), Verb::get);
  EXPECT_EQ(out.target(), "/x");
  EXPECT_EQ(out[beast_http::field::host], "h");
}

TEST(RequestHead, LeavesBodiesAndEveryOtherHeadToBeast) {
  const std::vector<std::string> others = {
      "POST /orders HTTP/1.1\r\nContent-Length: 2\r\n\r\n",  // a body: Beast reads bodies
      "POST /orders HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
      "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
      "BREW /pot HTTP/1.1\r\n\r\n",  // an extension method Beast has no name for
      "GET  / HTTP/1.1\r\n\r\n",     // two spaces
      "GET / HTTP/1.1 \r\n\r\n",
      "GET / HTTP/2.0\r\n\r\n",
      "GET /\x7f HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n",  // obs-fold
      "GET / HTTP/1.1\nHost: h\r\n\r\n",         // bare LF
      "GET / HTTP/1.1\r\nHost : h\r\n\r\n",      // space before the colon
      "GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
      "G(T / HTTP/1.1\r\n\r\n",
      " GET / HTTP/1.1\r\n\r\n",
  };
  for (const auto& text : others) {
    RequestHead out;
    ASSERT_EQ(detail::head_end(text), text.size()) << text;
    EXPECT_FALSE(detail::parse_plain_request_head(text, out)) << text;
    EXPECT_EQ(testing::plain_request_disagreement(text), "") << text;
  }
  // Past the server's header limit: not even looked at (Beast refuses it with 431).
  const std::string head = "GET / HTTP/1.1\r\nX-Long: " + std::string(100, 'a') + "\r\n\r\n";
  EXPECT_EQ(detail::head_end(head, 64), 0U);
  EXPECT_EQ(detail::head_end(head, head.size()), head.size());
}

TEST(RequestHead, EveryByteSwappedStillAgreesWithBeast) {
  const std::string base = "GET /a?b=c HTTP/1.1\r\nHost: h:1\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
  const std::string swaps = std::string(
      " \t\r\n:,;\"()\x7f\x80\x00\x01"
      "aZ09-",
      19);
  std::size_t taken = 0;
  for (std::size_t i = 0; i < base.size(); ++i) {
    for (const char c : swaps) {
      auto text = base;
      text[i] = c;
      bool took = false;
      EXPECT_EQ(testing::plain_request_disagreement(text, 8192, &took), "") << i << " " << static_cast<int>(c);
      taken += took ? 1 : 0;
    }
  }
  EXPECT_GT(taken, 100U);
}

}  // namespace
}  // namespace svckit::http
