#include "svckit/core/prometheus_text.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>

namespace svckit {

std::string_view MetricSample::label(std::string_view key) const noexcept {
  for (const auto& [k, v] : labels) {
    if (k == key) return v;
  }
  return {};
}

namespace {

bool name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

/// One line being read; `fail` makes the error that names the line.
struct LineReader {
  std::string_view text;
  std::size_t pos = 0;
  std::size_t line_no = 0;

  Error fail(const std::string& expected) const {
    return make_error(ErrorCode::invalid_argument,
                      "metrics text, line " + std::to_string(line_no) + ": expected " + expected,
                      "line " + std::to_string(line_no));
  }
  bool at_end() const { return pos >= text.size(); }
  char peek() const { return at_end() ? '\0' : text[pos]; }
  void skip_blanks() {
    while (!at_end() && (text[pos] == ' ' || text[pos] == '\t')) ++pos;
  }
  std::string_view name(bool allow_colon) {
    const auto start = pos;
    if (at_end() || !name_start(text[pos]) || (!allow_colon && text[pos] == ':')) return {};
    ++pos;
    while (!at_end() && name_char(text[pos]) && (allow_colon || text[pos] != ':')) ++pos;
    return text.substr(start, pos - start);
  }
};

Result<double> parse_value(std::string_view token) {
  if (token == "+Inf" || token == "Inf") return std::numeric_limits<double>::infinity();
  if (token == "-Inf") return -std::numeric_limits<double>::infinity();
  if (token == "NaN") return std::numeric_limits<double>::quiet_NaN();
  double value = 0;
  const auto* first = token.data();
  if (!token.empty() && token.front() == '+') ++first;
  const auto [end, ec] = std::from_chars(first, token.data() + token.size(), value);
  if (ec != std::errc() || end != token.data() + token.size() || first == token.data() + token.size()) {
    return make_error(ErrorCode::invalid_argument, "not a number");
  }
  return value;
}

Result<void> parse_labels(LineReader& in, MetricSample& sample) {
  ++in.pos;  // '{'
  for (;;) {
    in.skip_blanks();
    if (in.peek() == '}') {
      ++in.pos;
      return {};
    }
    const auto key = in.name(false);
    if (key.empty()) return in.fail("a label name or '}'");
    in.skip_blanks();
    if (in.peek() != '=') return in.fail("'=' after label " + std::string(key));
    ++in.pos;
    in.skip_blanks();
    if (in.peek() != '"') return in.fail("a quoted value for label " + std::string(key));
    ++in.pos;
    std::string value;
    for (;;) {
      if (in.at_end()) return in.fail("the closing quote of label " + std::string(key));
      const char c = in.text[in.pos++];
      if (c == '"') break;
      if (c != '\\') {
        value += c;
        continue;
      }
      if (in.at_end()) return in.fail("an escape after '\\' in label " + std::string(key));
      const char e = in.text[in.pos++];
      if (e == 'n') {
        value += '\n';
      } else if (e == '\\' || e == '"') {
        value += e;
      } else {
        return in.fail("\\\\, \\\" or \\n in label " + std::string(key));
      }
    }
    sample.labels.emplace_back(std::string(key), std::move(value));
    in.skip_blanks();
    if (in.peek() == ',') {
      ++in.pos;
      continue;
    }
    if (in.peek() != '}') return in.fail("',' or '}' after label " + std::string(key));
  }
}

Result<MetricSample> parse_sample(LineReader& in) {
  MetricSample sample;
  const auto name = in.name(true);
  if (name.empty()) return in.fail("a metric name");
  sample.name = std::string(name);
  in.skip_blanks();
  if (in.peek() == '{') {
    if (auto labels = parse_labels(in, sample); !labels) return labels.error();
  }
  in.skip_blanks();
  const auto value_start = in.pos;
  while (!in.at_end() && in.text[in.pos] != ' ' && in.text[in.pos] != '\t') ++in.pos;
  auto value = parse_value(in.text.substr(value_start, in.pos - value_start));
  if (!value) return in.fail("a sample value (a number, +Inf, -Inf or NaN)");
  sample.value = *value;
  in.skip_blanks();
  if (!in.at_end()) {  // a timestamp: milliseconds since the epoch
    const auto ts_start = in.pos;
    while (!in.at_end() && in.text[in.pos] != ' ' && in.text[in.pos] != '\t') ++in.pos;
    std::int64_t ts = 0;
    const auto token = in.text.substr(ts_start, in.pos - ts_start);
    const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), ts);
    if (ec != std::errc() || end != token.data() + token.size()) return in.fail("a timestamp or the end of the line");
    in.skip_blanks();
    if (!in.at_end()) return in.fail("the end of the line");
  }
  return sample;
}

}  // namespace

Result<std::vector<MetricSample>> parse_prometheus_text(std::string_view text, std::size_t max_samples) {
  std::vector<MetricSample> out;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    LineReader in{line, 0, line_no};
    in.skip_blanks();
    if (in.at_end() || in.peek() == '#') continue;
    if (out.size() >= max_samples) {
      return make_error(ErrorCode::invalid_argument,
                        "metrics text: more than " + std::to_string(max_samples) + " samples",
                        "line " + std::to_string(line_no));
    }
    auto sample = parse_sample(in);
    if (!sample) return sample.error();
    out.push_back(std::move(*sample));
  }
  return out;
}

std::vector<std::pair<double, double>> buckets_of(const std::vector<MetricSample>& samples, std::string_view name,
                                                  const std::vector<std::pair<std::string, std::string>>& match) {
  const std::string bucket_name = std::string(name) + "_bucket";
  std::map<double, double> sums;
  for (const auto& s : samples) {
    if (s.name != bucket_name) continue;
    const bool matches =
        std::all_of(match.begin(), match.end(), [&](const auto& kv) { return s.label(kv.first) == kv.second; });
    if (!matches) continue;
    auto le = parse_value(s.label("le"));
    if (!le || std::isnan(*le)) continue;
    sums[*le] += s.value;
  }
  return {sums.begin(), sums.end()};
}

std::optional<double> histogram_quantile(double q, const std::vector<std::pair<double, double>>& buckets) {
  if (buckets.empty() || !(q >= 0 && q <= 1)) return std::nullopt;
  for (const auto& [le, count] : buckets) {
    if (std::isnan(count) || std::isnan(le) || le == -std::numeric_limits<double>::infinity()) return std::nullopt;
  }
  const double total = buckets.back().second;
  if (!(total > 0)) return std::nullopt;
  const double rank = q * total;
  double lower = 0;
  double below = 0;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    const auto [le, count] = buckets[i];
    if (count >= rank) {
      if (std::isinf(le)) return i == 0 ? 0.0 : buckets[i - 1].first;
      const double in_bucket = count - below;
      if (in_bucket <= 0) return le;
      // A convex combination (lower + (le - lower) * f could overflow for far-apart bounds).
      const double f = std::clamp((rank - below) / in_bucket, 0.0, 1.0);
      const double v = lower * (1 - f) + le * f;
      return std::clamp(v, std::min(lower, le), std::max(lower, le));
    }
    lower = le;
    below = count;
  }
  return buckets.back().first;
}

}  // namespace svckit
