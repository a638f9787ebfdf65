#include "daemon/trace_store.hpp"

#include <algorithm>
#include <charconv>
#include <set>

namespace svckit::daemon {

using http::Awaitable;
using http::Response;
using http::RouteContext;
using nlohmann::json;

namespace {

bool is_root(const trace::SpanData& s) {
  return std::all_of(s.parent_span_id.begin(), s.parent_span_id.end(), [](std::uint8_t b) { return b == 0; });
}

const char* kind_name(trace::SpanKind kind) {
  switch (kind) {
    case trace::SpanKind::server:
      return "server";
    case trace::SpanKind::client:
      return "client";
    case trace::SpanKind::producer:
      return "producer";
    case trace::SpanKind::consumer:
      return "consumer";
    case trace::SpanKind::internal:
      break;
  }
  return "internal";
}

json attribute_json(const trace::AttributeValue& v) {
  return std::visit([](const auto& x) { return json(x); }, v);
}

double ms(std::int64_t ns) { return static_cast<double>(ns) / 1e6; }

}  // namespace

TraceStore::TraceStore(std::size_t max_spans, std::size_t max_bytes, std::string local_service,
                       MetricsRegistry& metrics)
    : max_spans_(max_spans),
      max_bytes_(max_bytes),
      local_service_(std::move(local_service)),
      received_(metrics.counter("svckit_traces_spans_received_total", "Spans svckitd stored for /v1/traces.").get()),
      dropped_(metrics
                   .counter("svckit_traces_spans_dropped_total",
                            "Spans svckitd did not keep (store off, or a trace past its span limit).")
                   .get()) {}

void TraceStore::add_locked(PackedSpan span, Evicted& evicted) {
  const auto size = span.weight();
  if (max_spans_ == 0 || size > max_bytes_) {
    dropped_.inc();
    return;
  }
  const auto& id = span.trace_id();
  auto [it, fresh] = traces_.try_emplace(id);
  auto& trace = it->second;
  if (trace.spans.size() >= kMaxSpansPerTrace) {
    dropped_.inc();
    return;
  }
  if (fresh) {
    arrival_.push_back(id);
    trace.spans.reserve(4);  // a gateway request's trace here: server, call and attempt spans
  }
  trace.spans.push_back(std::move(span));
  trace.bytes += size;
  ++spans_;
  bytes_ += size;
  received_.inc();
  while ((spans_ > max_spans_ || bytes_ > max_bytes_) && !arrival_.empty()) {  // the oldest traces go
    auto old = traces_.find(arrival_.front());
    arrival_.pop_front();
    if (old == traces_.end()) continue;
    spans_ -= old->second.spans.size();
    bytes_ -= old->second.bytes;
    evicted.add(std::move(old->second));
    traces_.erase(old);
  }
}

void TraceStore::on_end(trace::SpanData span) {
  auto packed = PackedSpan::pack(local_service_, span);
  if (!packed) {
    dropped_.inc();
    return;
  }
  Evicted evicted;  // freed after the lock: the other threads' spans need not wait for it
  std::lock_guard lock(mutex_);
  add_locked(std::move(*packed), evicted);
}

void TraceStore::add(std::vector<trace::ReceivedSpan> spans) {
  std::vector<PackedSpan> packed;
  packed.reserve(spans.size());
  for (const auto& s : spans) {
    if (auto p = PackedSpan::pack(s.service, s.span)) {
      packed.push_back(std::move(*p));
    } else {
      dropped_.inc();
    }
  }
  Evicted evicted;
  std::lock_guard lock(mutex_);
  for (auto& s : packed) add_locked(std::move(s), evicted);
}

std::size_t TraceStore::span_count() const {
  std::lock_guard lock(mutex_);
  return spans_;
}

std::size_t TraceStore::byte_count() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

std::vector<TraceStore::Summary> TraceStore::recent(std::size_t limit, const std::string& service) const {
  std::vector<Summary> out;
  std::lock_guard lock(mutex_);
  for (const auto& [id, trace] : traces_) {
    const auto& spans = trace.spans;
    if (spans.empty()) continue;
    Summary s;
    s.trace_id = trace::to_hex(id);
    s.spans = spans.size();
    std::set<std::string, std::less<>> services;
    const PackedSpan* head = nullptr;
    s.start_unix_ns = spans.front().start_unix_ns();
    s.end_unix_ns = spans.front().end_unix_ns();
    for (const auto& r : spans) {
      if (services.find(r.service()) == services.end()) services.emplace(r.service());
      s.start_unix_ns = std::min(s.start_unix_ns, r.start_unix_ns());
      s.end_unix_ns = std::max(s.end_unix_ns, r.end_unix_ns());
      if (r.status() == trace::StatusCode::error) ++s.errors;
      if (head == nullptr || (r.root() && !head->root()) ||
          (r.root() == head->root() && r.start_unix_ns() < head->start_unix_ns())) {
        head = &r;
      }
    }
    if (!service.empty() && services.count(service) == 0) continue;
    s.name = head->name();
    s.service = head->service();
    s.services.assign(services.begin(), services.end());
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(),
            [](const Summary& a, const Summary& b) { return a.start_unix_ns > b.start_unix_ns; });
  if (out.size() > limit) out.resize(limit);
  return out;
}

std::vector<trace::ReceivedSpan> TraceStore::trace(const std::string& trace_id_hex) const {
  std::vector<trace::ReceivedSpan> out;
  TraceId id{};
  if (!trace::from_hex(trace_id_hex, id)) return out;
  {
    std::lock_guard lock(mutex_);
    auto it = traces_.find(id);
    if (it != traces_.end()) {
      out.reserve(it->second.spans.size());
      for (const auto& s : it->second.spans) out.push_back(s.unpack());
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const trace::ReceivedSpan& a, const trace::ReceivedSpan& b) {
    return a.span.start_unix_ns < b.span.start_unix_ns;
  });
  return out;
}

void TraceStore::add_routes(http::Router& router) {
  router.add(http::Verb::post, "/v1/traces", [this](RouteContext& ctx) { return receive(ctx); });
  router.add(http::Verb::get, "/v1/traces", [this](RouteContext& ctx) { return list(ctx); });
  router.add(http::Verb::get, "/v1/traces/{trace_id}", [this](RouteContext& ctx) { return one(ctx); });
}

Awaitable<Response> TraceStore::receive(RouteContext& ctx) {
  const std::string_view type = ctx.request[http::beast_http::field::content_type];
  if (type.substr(0, type.find(';')) != "application/json") {
    auto res = http::error_response(
        make_error(ErrorCode::invalid_argument,
                   "svckitd accepts OTLP's JSON encoding only: send Content-Type: application/json (OTLP/HTTP JSON)",
                   "Content-Type"));
    res.result(http::Status::unsupported_media_type);
    co_return res;
  }
  auto spans = trace::parse_otlp_json(ctx.request.body());
  if (!spans) co_return http::error_response(spans.error());
  add(std::move(*spans));
  co_return http::json_response(http::Status::ok, json::object());
}

Awaitable<Response> TraceStore::list(RouteContext& ctx) {
  std::size_t limit = 50;
  if (const auto* text = ctx.target.param("limit")) {
    std::size_t n = 0;
    auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
    if (ec != std::errc{} || ptr != text->data() + text->size() || n == 0 || n > 1000) {
      co_return http::error_response(make_error(ErrorCode::invalid_argument, "limit must be 1..1000", "limit"));
    }
    limit = n;
  }
  const auto* service = ctx.target.param("service");
  json traces = json::array();
  for (const auto& s : recent(limit, service != nullptr ? *service : std::string())) {
    traces.push_back(json{{"trace_id", s.trace_id},
                          {"name", s.name},
                          {"service", s.service},
                          {"start_unix_ms", ms(s.start_unix_ns)},
                          {"duration_ms", ms(s.end_unix_ns - s.start_unix_ns)},
                          {"spans", s.spans},
                          {"errors", s.errors},
                          {"services", s.services}});
  }
  co_return http::json_response(http::Status::ok, json{{"traces", std::move(traces)}});
}

Awaitable<Response> TraceStore::one(RouteContext& ctx) {
  const auto& id = ctx.params.at("trace_id");
  if (id.size() != 32 || id.find_first_not_of("0123456789abcdef") != std::string::npos) {
    co_return http::error_response(
        make_error(ErrorCode::invalid_argument, "a trace id is 32 lower-case hex digits", "trace_id"));
  }
  const auto spans = trace(id);
  if (spans.empty()) {
    co_return http::error_response(
        make_error(ErrorCode::not_found, "no trace " + id + " (svckitd keeps the most recent ones only)", "trace_id"));
  }
  json list = json::array();
  for (const auto& r : spans) {
    const auto& s = r.span;
    json attributes = json::object();
    for (const auto& a : s.attributes) attributes[std::string(a.key.view())] = attribute_json(a.value);
    list.push_back(json{{"span_id", trace::to_hex(s.context.span_id)},
                        {"parent_span_id", is_root(s) ? std::string() : trace::to_hex(s.parent_span_id)},
                        {"name", s.name},
                        {"kind", kind_name(s.kind)},
                        {"service", r.service},
                        {"start_unix_ms", ms(s.start_unix_ns)},
                        {"duration_ms", ms(s.end_unix_ns - s.start_unix_ns)},
                        {"attributes", std::move(attributes)},
                        {"status",
                         {{"code", s.status == trace::StatusCode::error ? "error"
                                   : s.status == trace::StatusCode::ok  ? "ok"
                                                                        : "unset"},
                          {"message", s.status_message}}}});
    if (!s.context.tracestate.empty()) list.back()["trace_state"] = s.context.tracestate;
  }
  co_return http::json_response(http::Status::ok, json{{"trace_id", id}, {"spans", std::move(list)}});
}

}  // namespace svckit::daemon
