#include "svckit/app/json_logs.hpp"

#include <chrono>
#include <nlohmann/json.hpp>

#include <spdlog/details/log_msg.h>

namespace svckit {

namespace {

bool key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

std::string utc_time(spdlog::log_clock::time_point t) {
  const auto since = t.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since - seconds).count();
  const std::time_t tt = seconds.count();
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(millis));
  return out;
}

class JsonLogFormatter final : public spdlog::formatter {
 public:
  explicit JsonLogFormatter(std::string component) : component_(std::move(component)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string_view message(msg.payload.data(), msg.payload.size());
    const std::string_view logger(msg.logger_name.data(), msg.logger_name.size());
    const auto level = spdlog::level::to_string_view(msg.level);
    nlohmann::json line{{"time", utc_time(msg.time)},
                        {"level", std::string(level.data(), level.size())},
                        {"component", logger.empty() ? component_ : std::string(logger)},
                        {"message", std::string(message)}};
    auto fields = log_fields(message);
    if (!fields.empty()) {
      auto& out = line["fields"] = nlohmann::json::object();
      for (auto& [key, value] : fields) {
        // A line logged inside a trace names it: lifted to the top, where log pipelines (Loki's
        // derived fields, Elasticsearch's ECS trace.id) link a line to its trace.
        if (key == "trace_id" || key == "span_id") line[key] = value;
        out[key] = std::move(value);
      }
    }
    const auto text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(text.data(), text.data() + text.size());
    dest.push_back('\n');
  }

  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonLogFormatter>(component_); }

 private:
  std::string component_;
};

}  // namespace

std::vector<std::pair<std::string, std::string>> log_fields(std::string_view message) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t i = 0;
  const auto n = message.size();
  while (i < n) {
    while (i < n && message[i] == ' ') ++i;
    const auto start = i;
    while (i < n && key_char(message[i])) ++i;
    if (i == start || i >= n || message[i] != '=') {  // not a pair: skip the word
      while (i < n && message[i] != ' ') ++i;
      continue;
    }
    std::string key(message.substr(start, i - start));
    ++i;  // '='
    std::string value;
    if (i < n && message[i] == '"') {
      ++i;
      while (i < n && message[i] != '"') {
        if (message[i] == '\\' && i + 1 < n) ++i;
        value += message[i++];
      }
      if (i < n) ++i;  // closing quote
    } else {
      const auto end = message.find(' ', i);
      value = std::string(message.substr(i, end == std::string_view::npos ? n - i : end - i));
      i = end == std::string_view::npos ? n : end;
    }
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

std::unique_ptr<spdlog::formatter> make_json_log_formatter(std::string component) {
  return std::make_unique<JsonLogFormatter>(std::move(component));
}

}  // namespace svckit
