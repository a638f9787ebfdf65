#include "http/wire.hpp"

#include <charconv>

namespace svckit::http::detail {

namespace {

void append_fields(std::string& out, const beast_http::fields& fields) {
  for (const auto& field : fields) {
    const std::string_view name = field.name_string();
    const std::string_view value = field.value();
    // Beast keeps each field as one "Name: value\r\n" line (name, ": ", value, CRLF in one block):
    // copied in one piece when it is laid out so, written piece by piece otherwise.
    if (value.data() == name.data() + name.size() + 2 && name.data()[name.size()] == ':' &&
        name.data()[name.size() + 1] == ' ' && value.data()[value.size()] == '\r' &&
        value.data()[value.size() + 1] == '\n') {
      out.append(name.data(), name.size() + 2 + value.size() + 2);
    } else {
      out.append(name).append(": ").append(value).append("\r\n");
    }
  }
  out.append("\r\n");
}

void append_version(std::string& out, unsigned version) {
  out.append("HTTP/");
  out.push_back(static_cast<char>('0' + version / 10));
  out.push_back('.');
  out.push_back(static_cast<char>('0' + version % 10));
}

std::string_view append_body(std::string& out, const std::string& body) {
  if (body.size() > kWireInlineBody) return body;
  out.append(body);
  return {};
}

/// Whether `fields` has a field with this id (a walk: a message has few fields, and Beast's own
/// lookup compares names case-insensitively down a tree).
bool has_field(const beast_http::fields& fields, beast_http::field id) {
  for (const auto& field : fields) {
    if (field.name() == id) return true;
  }
  return false;
}

template <class Message>
void keep_alive_of(Message& message, bool keep) {
  if (message.version() == 11 && !has_field(message.base(), beast_http::field::connection)) {
    if (!keep) message.set(beast_http::field::connection, "close");
    return;
  }
  message.keep_alive(keep);
}

}  // namespace

void set_keep_alive(Request& message, bool keep) { keep_alive_of(message, keep); }
void set_keep_alive(Response& message, bool keep) { keep_alive_of(message, keep); }

void prepare_payload(Response& message) {
  const auto status = message.result_int();
  if (status >= 200 && status != 204 && status != 304) {
    std::string_view length;
    int lengths = 0;
    bool transfer_encoding = false;
    for (const auto& field : message.base()) {
      if (field.name() == beast_http::field::content_length) {
        length = field.value();
        ++lengths;
      } else if (field.name() == beast_http::field::transfer_encoding) {
        transfer_encoding = true;
      }
    }
    char size[24];
    const auto end = std::to_chars(size, size + sizeof size, message.body().size()).ptr;
    if (lengths == 1 && !transfer_encoding && length == std::string_view(size, static_cast<std::size_t>(end - size))) {
      return;
    }
  }
  message.prepare_payload();
}

std::string_view to_wire(std::string& out, const Request& message) {
  out.clear();
  out.append(message.method_string()).push_back(' ');
  out.append(message.target()).push_back(' ');
  append_version(out, message.version());
  out.append("\r\n");
  append_fields(out, message.base());
  return append_body(out, message.body());
}

std::string_view to_wire(std::string& out, const Response& message) {
  out.clear();
  append_version(out, message.version());
  const unsigned status = message.result_int() % 1000;
  const char code[5] = {' ', static_cast<char>('0' + status / 100), static_cast<char>('0' + status / 10 % 10),
                        static_cast<char>('0' + status % 10), ' '};
  out.append(code, sizeof code);
  out.append(message.reason()).append("\r\n");
  append_fields(out, message.base());
  return append_body(out, message.body());
}

}  // namespace svckit::http::detail
