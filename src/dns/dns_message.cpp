#include "svckit/dns/dns_message.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

namespace svckit::dns {
namespace {

constexpr std::size_t kHeaderSize = 12;
constexpr std::size_t kMaxNameLength = 253;

Error malformed(const std::string& what) { return make_error(ErrorCode::protocol, "malformed DNS message: " + what); }

void put16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

/// A name as labels (no compression), ending in the root label.
void put_name(std::string& out, std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::size_t start = 0;
  while (start < name.size()) {
    const auto dot = std::min(name.find('.', start), name.size());
    out.push_back(static_cast<char>(dot - start));
    out.append(name.substr(start, dot - start));
    start = dot + 1;
  }
  out.push_back('\0');
}

/// Reads a message front to back; every read checks the bounds.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  std::size_t offset() const { return offset_; }
  bool ok() const { return ok_; }
  std::string_view bytes() const { return bytes_; }

  std::uint8_t u8() {
    if (!need(1)) return 0;
    return static_cast<std::uint8_t>(bytes_[offset_++]);
  }
  std::uint16_t u16() {
    const std::uint16_t hi = u8();
    return static_cast<std::uint16_t>(hi << 8 | u8());
  }
  std::uint32_t u32() {
    const std::uint32_t hi = u16();
    return hi << 16 | u16();
  }
  std::string_view take(std::size_t n) {
    if (!need(n)) return {};
    auto out = bytes_.substr(offset_, n);
    offset_ += n;
    return out;
  }

  /// A possibly compressed name at the current offset; the offset moves past its in-place part.
  std::string name() {
    std::string out;
    std::size_t at = offset_;
    bool jumped = false;
    for (int hops = 0;; ++hops) {
      if (at >= bytes_.size() || hops > 127) return fail();
      const auto len = static_cast<std::uint8_t>(bytes_[at]);
      if ((len & 0xc0) == 0xc0) {  // pointer: must point strictly backwards, so it cannot loop
        if (at + 1 >= bytes_.size()) return fail();
        const std::size_t target = (std::size_t{len & 0x3fu} << 8) | static_cast<std::uint8_t>(bytes_[at + 1]);
        if (target >= at) return fail();
        if (!jumped) offset_ = at + 2;
        jumped = true;
        at = target;
        continue;
      }
      if ((len & 0xc0) != 0) return fail();  // 0x40 / 0x80: obsolete label types
      if (len == 0) {
        if (!jumped) offset_ = at + 1;
        return out;
      }
      if (at + 1 + len > bytes_.size()) return fail();
      if (!out.empty()) out.push_back('.');
      for (std::size_t i = 0; i < len; ++i) {
        const auto c = static_cast<unsigned char>(bytes_[at + 1 + i]);
        if (c == '.') return fail();  // a dot inside a label has no text form here: FORMERR, not a wrong name
        out.push_back(static_cast<char>(std::tolower(c)));
      }
      if (out.size() > kMaxNameLength + 2) return fail();
      at += 1 + len;
    }
  }

 private:
  bool need(std::size_t n) {
    if (!ok_ || bytes_.size() - offset_ < n) {
      ok_ = false;
      return false;
    }
    return true;
  }
  std::string fail() {
    ok_ = false;
    return {};
  }

  std::string_view bytes_;
  std::size_t offset_ = 0;
  bool ok_ = true;
};

Result<Record> read_record(Reader& in, std::uint16_t* record_class = nullptr) {
  Record r;
  r.name = in.name();
  r.type = in.u16();
  const auto klass = in.u16();  // IN; the OPT record puts its payload size here
  if (record_class != nullptr) *record_class = klass;
  r.ttl = in.u32();
  const auto length = in.u16();
  if (!in.ok()) return malformed("record header cut short");
  const auto data_start = in.offset();
  const auto data = in.take(length);
  if (!in.ok()) return malformed("record data runs past the end");
  switch (static_cast<RecordType>(r.type)) {
    case RecordType::a:
    case RecordType::aaaa: {
      const bool v4 = r.type == static_cast<std::uint16_t>(RecordType::a);
      if (data.size() != (v4 ? 4u : 16u)) return malformed("address record of the wrong size");
      char text[INET6_ADDRSTRLEN] = {};
      if (inet_ntop(v4 ? AF_INET : AF_INET6, data.data(), text, sizeof text) == nullptr) {
        return malformed("address record");
      }
      r.address = text;
      break;
    }
    case RecordType::cname:
    case RecordType::srv:
    case RecordType::soa: {
      // Names inside the data may point anywhere before them: read them with a reader over the
      // whole message positioned at the data.
      Reader inner(in.bytes().substr(0, in.offset()));
      inner.take(data_start);
      if (r.type == static_cast<std::uint16_t>(RecordType::srv)) {
        r.priority = inner.u16();
        r.weight = inner.u16();
        r.port = inner.u16();
        r.target = inner.name();
      } else if (r.type == static_cast<std::uint16_t>(RecordType::cname)) {
        r.target = inner.name();
      } else {
        inner.name();    // MNAME
        inner.name();    // RNAME
        inner.take(16);  // serial, refresh, retry, expire
        r.negative_ttl = std::min(r.ttl, inner.u32());
      }
      if (!inner.ok() || inner.offset() != in.offset()) return malformed("record data does not match its length");
      break;
    }
    default:
      break;  // skipped (OPT, TXT, ...)
  }
  return r;
}

}  // namespace

std::string rcode_name(std::uint8_t rcode) {
  switch (static_cast<Rcode>(rcode)) {
    case Rcode::no_error:
      return "NOERROR";
    case Rcode::format_error:
      return "FORMERR";
    case Rcode::server_failure:
      return "SERVFAIL";
    case Rcode::name_error:
      return "NXDOMAIN";
    case Rcode::refused:
      return "REFUSED";
    case Rcode::not_implemented:
      return "NOTIMP";
  }
  return "RCODE" + std::to_string(rcode);
}

std::optional<std::uint32_t> Message::negative_ttl() const {
  for (const auto& r : authority) {
    if (r.type == static_cast<std::uint16_t>(RecordType::soa)) return r.negative_ttl;
  }
  return std::nullopt;
}

Result<void> validate_name(std::string_view name, const std::string& field) {
  auto bad = [&](const std::string& why) {
    return make_error(ErrorCode::invalid_argument, "'" + std::string(name) + "' is not a domain name: " + why, field);
  };
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty()) return bad("it is empty");
  if (name.size() > kMaxNameLength) return bad("longer than 253 characters");
  std::size_t label = 0;
  for (const char c : name) {
    if (c == '.') {
      if (label == 0) return bad("an empty label");
      label = 0;
      continue;
    }
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_')
      return bad("a character DNS names do not have");
    if (++label > 63) return bad("a label longer than 63 characters");
  }
  if (label == 0) return bad("an empty label");
  return {};
}

std::string encode_query(std::uint16_t id, std::string_view name, RecordType type, std::uint16_t udp_payload) {
  std::string out;
  out.reserve(kHeaderSize + name.size() + 2 + 4 + 11);
  put16(out, id);
  put16(out, 0x0100);  // standard query, recursion desired
  put16(out, 1);       // one question
  put16(out, 0);
  put16(out, 0);
  put16(out, 1);  // one additional record: OPT
  put_name(out, name);
  put16(out, static_cast<std::uint16_t>(type));
  put16(out, 1);  // class IN
  // OPT: root name, type 41, class = payload size, TTL 0 (no extended rcode, version 0), no data.
  out.push_back('\0');
  put16(out, static_cast<std::uint16_t>(RecordType::opt));
  put16(out, udp_payload);
  put16(out, 0);
  put16(out, 0);
  put16(out, 0);
  return out;
}

namespace {

void put32(std::string& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v >> 16));
  put16(out, static_cast<std::uint16_t>(v & 0xffff));
}

/// One record in wire form; empty when it cannot be encoded (an address that does not parse).
std::string encode_record(const Record& r) {
  std::string rdata;
  switch (static_cast<RecordType>(r.type)) {
    case RecordType::a:
    case RecordType::aaaa: {
      const bool v4 = r.type == static_cast<std::uint16_t>(RecordType::a);
      unsigned char bytes[16];
      if (inet_pton(v4 ? AF_INET : AF_INET6, r.address.c_str(), bytes) != 1) return {};
      rdata.assign(reinterpret_cast<const char*>(bytes), v4 ? 4 : 16);
      break;
    }
    case RecordType::srv:
      put16(rdata, r.priority);
      put16(rdata, r.weight);
      put16(rdata, r.port);
      put_name(rdata, r.target);
      break;
    case RecordType::cname:
      put_name(rdata, r.target);
      break;
    case RecordType::soa:
      put_name(rdata, r.target);
      put_name(rdata, "hostmaster." + r.target);
      put32(rdata, 1);      // serial
      put32(rdata, 3600);   // refresh
      put32(rdata, 600);    // retry
      put32(rdata, 86400);  // expire
      put32(rdata, r.negative_ttl);
      break;
    default:
      return {};
  }
  std::string out;
  put_name(out, r.name);
  put16(out, r.type);
  put16(out, 1);  // IN
  put32(out, r.ttl);
  put16(out, static_cast<std::uint16_t>(rdata.size()));
  out += rdata;
  return out;
}

}  // namespace

std::string encode_response(const Message& query, std::uint8_t rcode, const std::vector<Record>& answers,
                            const std::vector<Record>& authority, const std::vector<Record>& additional,
                            std::size_t limit) {
  const auto encode_all = [](const std::vector<Record>& records) {
    std::vector<std::string> out;
    for (const auto& r : records) {
      if (auto wire = encode_record(r); !wire.empty()) out.push_back(std::move(wire));
    }
    return out;
  };
  auto an = encode_all(answers);
  const auto ns = encode_all(authority);
  auto ar = encode_all(additional);
  std::string question;
  if (!query.question_name.empty() || query.question_type != 0) {
    put_name(question, query.question_name);
    put16(question, query.question_type);
    put16(question, query.question_class);
  }
  std::string opt;
  if (query.edns_payload != 0) {  // OPT: root, type 41, our payload size, no extended rcode
    opt.push_back('\0');
    put16(opt, static_cast<std::uint16_t>(RecordType::opt));
    put16(opt, 1232);
    put32(opt, 0);
    put16(opt, 0);
  }
  const auto size_of = [](const std::vector<std::string>& v) {
    std::size_t n = 0;
    for (const auto& s : v) n += s.size();
    return n;
  };
  bool truncated = false;
  const auto total = [&] {
    return kHeaderSize + question.size() + size_of(an) + size_of(ns) + size_of(ar) + opt.size();
  };
  if (total() > limit) ar.clear();  // optional (RFC 2181 9): dropping them needs no TC
  while (total() > limit && !an.empty()) {
    an.pop_back();
    truncated = true;
  }
  std::string out;
  out.reserve(total());
  put16(out, query.id);
  std::uint16_t flags = 0x8000 | 0x0400;  // a response, authoritative
  flags |= static_cast<std::uint16_t>((query.opcode & 0x0f) << 11);
  if (query.recursion_desired) flags |= 0x0100;
  if (truncated) flags |= 0x0200;
  flags |= rcode & 0x0f;
  put16(out, flags);
  put16(out, question.empty() ? 0 : 1);
  put16(out, static_cast<std::uint16_t>(an.size()));
  put16(out, static_cast<std::uint16_t>(ns.size()));
  put16(out, static_cast<std::uint16_t>(ar.size() + (opt.empty() ? 0 : 1)));
  out += question;
  const std::vector<std::string>* sections[] = {&an, &ns, &ar};
  for (const auto* section : sections) {
    for (const auto& r : *section) out += r;
  }
  out += opt;
  return out;
}

Result<Message> decode_message(std::string_view bytes) {
  if (bytes.size() < kHeaderSize) return malformed("shorter than a header");
  Reader in(bytes);
  Message m;
  m.id = in.u16();
  const auto flags = in.u16();
  m.response = (flags & 0x8000) != 0;
  m.truncated = (flags & 0x0200) != 0;
  m.rcode = static_cast<std::uint8_t>(flags & 0x000f);
  m.opcode = static_cast<std::uint8_t>((flags >> 11) & 0x0f);
  m.recursion_desired = (flags & 0x0100) != 0;
  const auto questions = in.u16();
  const auto answers = in.u16();
  const auto authority = in.u16();
  const auto additional = in.u16();
  if (questions > 1) return malformed("more than one question");
  if (questions == 1) {
    m.question_name = in.name();
    m.question_type = in.u16();
    m.question_class = in.u16();
    if (!in.ok()) return malformed("question cut short");
  }
  // Each record takes at least 11 bytes: counts beyond what the bytes can hold are lies.
  const std::size_t left = bytes.size() - in.offset();
  if ((std::size_t{answers} + authority + additional) * 11 > left) return malformed("record counts exceed the message");
  const std::pair<std::uint16_t, std::vector<Record>*> sections[] = {
      {answers, &m.answers}, {authority, &m.authority}, {additional, &m.additional}};
  for (const auto& [count, section] : sections) {
    for (std::uint16_t i = 0; i < count; ++i) {
      std::uint16_t klass = 0;
      auto record = read_record(in, &klass);
      if (!record) return record.error();
      if (record->type == static_cast<std::uint16_t>(RecordType::opt)) {
        m.edns_payload = std::max<std::uint16_t>(klass, 512);  // RFC 6891 6.2.5: below 512 means 512
      }
      section->push_back(std::move(*record));
    }
  }
  return m;
}

}  // namespace svckit::dns
