#include "http/wire.hpp"

namespace svckit::http::detail {

namespace {

void append_fields(std::string& out, const beast_http::fields& fields) {
  for (const auto& field : fields) {
    out.append(field.name_string()).append(": ").append(field.value()).append("\r\n");
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

}  // namespace

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
