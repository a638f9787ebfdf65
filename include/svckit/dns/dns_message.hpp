// DNS messages (RFC 1035) as service discovery needs them: queries for SRV (RFC 2782), A and AAAA
// records with an EDNS0 OPT record (RFC 6891), and responses decoded with name compression. Pure
// functions, no I/O: the resolver (dns_resolver.hpp) sends and receives the bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "svckit/core/result.hpp"

namespace svckit::dns {

enum class RecordType : std::uint16_t { a = 1, cname = 5, soa = 6, aaaa = 28, srv = 33, opt = 41 };

/// Response codes a resolver tells apart (RFC 1035 4.1.1); others are kept as their number.
enum class Rcode : std::uint8_t {
  no_error = 0,
  format_error = 1,
  server_failure = 2,
  name_error = 3,
  not_implemented = 4,
  refused = 5
};
std::string rcode_name(std::uint8_t rcode);

/// One resource record. Names are lower case without the trailing dot.
struct Record {
  std::string name;
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  std::string address;                               // A / AAAA: the address in text form
  std::string target;                                // CNAME: the canonical name; SRV: the target host
  std::uint16_t priority = 0, weight = 0, port = 0;  // SRV
  std::uint32_t negative_ttl = 0;                    // SOA: min(ttl, MINIMUM), RFC 2308
};

struct Message {
  std::uint16_t id = 0;
  bool response = false;
  bool truncated = false;
  std::uint8_t opcode = 0;  // 0: a standard query
  bool recursion_desired = false;
  std::uint16_t question_class = 1;  // IN
  std::uint16_t edns_payload = 0;    // the UDP size an OPT record offers; 0: no OPT record
  std::uint8_t rcode = 0;
  std::string question_name;  // empty when the message carries no question
  std::uint16_t question_type = 0;
  std::vector<Record> answers;
  std::vector<Record> authority;
  std::vector<Record> additional;

  /// How long a negative answer (NXDOMAIN, or no records) may be cached: from the SOA in the
  /// authority section; nullopt when there is none.
  std::optional<std::uint32_t> negative_ttl() const;
};

/// Checks a domain name: labels of 1..63 letters, digits, '-' or '_' (SRV labels), at most 253
/// characters, an optional trailing dot. Errors name `field`.
Result<void> validate_name(std::string_view name, const std::string& field);

/// A recursion-desired query for `name` with an EDNS0 OPT record offering `udp_payload` bytes
/// (1232: the DNS flag day 2020 size that avoids IP fragmentation).
/// REQUIRES: validate_name(name) succeeded.
std::string encode_query(std::uint16_t id, std::string_view name, RecordType type, std::uint16_t udp_payload = 1232);

/// An authoritative answer to `query` (its id, question and recursion flag echoed): `rcode` and
/// the three sections, names uncompressed, with an OPT record when the query had one. When the
/// encoding would exceed `limit` bytes, additional records are dropped first, then answers from the
/// end — and then the TC flag is set (RFC 2181 9: the client asks again over TCP). A/AAAA records take
/// `address` in text form; SRV takes priority, weight, port and target; SOA takes `target` as the
/// primary name server and `negative_ttl` as its MINIMUM.
std::string encode_response(const Message& query, std::uint8_t rcode, const std::vector<Record>& answers,
                            const std::vector<Record>& authority, const std::vector<Record>& additional,
                            std::size_t limit);

/// Decodes a whole message. Never reads out of bounds; compression pointers must point backwards
/// (no loops); records of types it does not need (and the OPT record) are skipped. Errors are
/// `protocol`.
Result<Message> decode_message(std::string_view bytes);

}  // namespace svckit::dns
