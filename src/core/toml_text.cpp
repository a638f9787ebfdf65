// toml++ 3.3 checks its parser's invariants with TOML_ASSERT_ASSUME: an abort with asserts on,
// and under NDEBUG an optimizer assumption (undefined behaviour when it does not hold). Our fuzzer
// found input that breaks one (a control character inside a date-time). So for this file: no
// NDEBUG, and a failed check only marks the document (many checks sit in noexcept functions, so
// they cannot throw); parse_toml then refuses it. (Not in a unity batch: see src/CMakeLists.txt.)
#undef NDEBUG
namespace svckit::toml_checks {
inline thread_local bool failed = false;
inline void fail() noexcept { failed = true; }
}  // namespace svckit::toml_checks
#define TOML_ASSERT(expr) ((expr) ? static_cast<void>(0) : ::svckit::toml_checks::fail())

#include "core/toml_text.hpp"

#include <toml++/toml.h>
#include <sstream>

namespace svckit {

namespace {

using nlohmann::json;

template <class T>
std::string printed(const T& value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

json to_json(const toml::node& node) {
  if (const auto* table = node.as_table()) {
    json out = json::object();
    for (const auto& [key, value] : *table) out[std::string(key.str())] = to_json(value);
    return out;
  }
  if (const auto* array = node.as_array()) {
    json out = json::array();
    for (const auto& item : *array) out.push_back(to_json(item));
    return out;
  }
  if (const auto* s = node.as_string()) return s->get();
  if (const auto* i = node.as_integer()) return i->get();
  if (const auto* f = node.as_floating_point()) return f->get();
  if (const auto* b = node.as_boolean()) return b->get();
  if (const auto* d = node.as_date()) return printed(d->get());
  if (const auto* t = node.as_time()) return printed(t->get());
  if (const auto* dt = node.as_date_time()) return printed(dt->get());
  return nullptr;
}

}  // namespace

Result<json> parse_toml(std::string_view text, const std::string& source) {
  // TOML allows no raw control characters but tab and line ends (strings escape them): refused
  // here, before the parser (whose date-time reader trips over them).
  std::size_t line = 1;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte == '\n') ++line;
    if ((byte < 0x20 && byte != '\t' && byte != '\n' && byte != '\r') || byte == 0x7f) {
      return make_error(ErrorCode::invalid_argument,
                        source + ": TOML error at line " + std::to_string(line) + ": control character " +
                            std::to_string(byte) + " (escape it in a string)",
                        "file");
    }
  }
  try {
    toml_checks::failed = false;
    const toml::table table = toml::parse(text, source);
    if (toml_checks::failed) {
      return make_error(ErrorCode::invalid_argument, source + ": malformed TOML (the parser lost its place)", "file");
    }
    return to_json(table);
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    return make_error(ErrorCode::invalid_argument,
                      source + ": TOML error at line " + std::to_string(at.line) + ", column " +
                          std::to_string(at.column) + ": " + std::string(e.description()),
                      "file");
  }
}

}  // namespace svckit
