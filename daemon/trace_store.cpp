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

json attribute_json(const trace::AttributeValueView& v) {
  return std::visit([](const auto& x) { return json(x); }, v);
}

double ms(std::int64_t ns) { return static_cast<double>(ns) / 1e6; }

}  // namespace

namespace {

/// Shards for a store of `max_spans`: each must hold two traces of kMaxSpansPerTrace.
std::size_t shards_for(std::size_t max_spans) {
  return std::clamp<std::size_t>(max_spans / (2 * TraceStore::kMaxSpansPerTrace), 1, TraceStore::kMaxShards);
}

}  // namespace

TraceStore::TraceStore(std::size_t max_spans, std::size_t max_bytes, std::string local_service,
                       MetricsRegistry& metrics)
    : max_spans_(max_spans),
      max_bytes_(max_bytes),
      local_service_(std::move(local_service)),
      shard_count_(shards_for(max_spans)),
      shard_spans_(max_spans / shard_count_),
      shard_bytes_(max_bytes / shard_count_),
      shards_(std::make_unique<Shard[]>(shard_count_)),
      received_(metrics.counter("svckit_traces_spans_received_total", "Spans svckitd stored for /v1/traces.").get()),
      dropped_(metrics
                   .counter("svckit_traces_spans_dropped_total",
                            "Spans svckitd did not keep (store off, or a trace past its span limit).")
                   .get()) {}

TraceStore::Shard& TraceStore::shard_of(const TraceId& id) const {
  // Every byte (a sender's ids need not be random anywhere), mixed by a multiply so that the
  // shard does not follow the bits the shard's own hash table uses.
  std::uint64_t folded = 0;
  for (std::size_t i = 0; i < 8; ++i) folded = folded << 8 | static_cast<std::uint64_t>(id[i] ^ id[i + 8]);
  return shards_[((folded * 0x9e3779b97f4a7c15ULL) >> 32) % shard_count_];
}

void TraceStore::add_locked(Shard& shard, PackedSpan span, Evicted& evicted) {
  const auto size = span.weight();
  if (shard_spans_ == 0 || size > shard_bytes_) {
    dropped_.inc();
    return;
  }
  const auto& id = span.trace_id();
  auto [it, fresh] = shard.traces.try_emplace(id);
  auto& trace = it->second;
  if (trace.spans.size() >= kMaxSpansPerTrace) {
    dropped_.inc();
    return;
  }
  if (fresh) {
    shard.arrival.push_back(id);
    trace.spans.reserve(4);  // a gateway request's trace here: server, call and attempt spans
  }
  trace.spans.push_back(std::move(span));
  trace.bytes += size;
  ++shard.spans;
  shard.bytes += size;
  received_.inc();
  while ((shard.spans > shard_spans_ || shard.bytes > shard_bytes_) && !shard.arrival.empty()) {  // oldest go
    auto old = shard.traces.find(shard.arrival.front());
    shard.arrival.pop_front();
    if (old == shard.traces.end()) continue;
    shard.spans -= old->second.spans.size();
    shard.bytes -= old->second.bytes;
    evicted.add(std::move(old->second));
    shard.traces.erase(old);
  }
}

void TraceStore::on_end(trace::SpanData span) {
  auto packed = PackedSpan::pack(local_service_, span);
  if (!packed) {
    dropped_.inc();
    return;
  }
  Evicted evicted;  // freed after the lock: the other threads' spans need not wait for it
  auto& shard = shard_of(packed->trace_id());
  std::lock_guard lock(shard.mutex);
  add_locked(shard, std::move(*packed), evicted);
}

void TraceStore::add(const std::vector<trace::ReceivedSpan>& spans) {
  // Grouped by shard (each span's trace id hashed once), each shard's lock taken once: a batch's
  // spans keep their order within a trace (a trace is in one shard).
  std::vector<std::vector<PackedSpan>> by_shard(shard_count_);
  for (const auto& s : spans) {
    if (auto p = PackedSpan::pack(s.service, s.span)) {
      by_shard[static_cast<std::size_t>(&shard_of(p->trace_id()) - shards_.get())].push_back(std::move(*p));
    } else {
      dropped_.inc();
    }
  }
  Evicted evicted;  // freed after the locks
  for (std::size_t i = 0; i < shard_count_; ++i) {
    if (by_shard[i].empty()) continue;
    auto& shard = shards_[i];
    std::lock_guard lock(shard.mutex);
    for (auto& span : by_shard[i]) add_locked(shard, std::move(span), evicted);
  }
}

std::size_t TraceStore::span_count() const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    std::lock_guard lock(shards_[i].mutex);
    n += shards_[i].spans;
  }
  return n;
}

std::size_t TraceStore::byte_count() const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    std::lock_guard lock(shards_[i].mutex);
    n += shards_[i].bytes;
  }
  return n;
}

std::vector<TraceStore::Summary> TraceStore::recent(std::size_t limit, const std::string& service) const {
  std::vector<Summary> out;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    std::lock_guard lock(shards_[i].mutex);
    summarize(shards_[i], service, out);
  }
  std::sort(out.begin(), out.end(),
            [](const Summary& a, const Summary& b) { return a.start_unix_ns > b.start_unix_ns; });
  if (out.size() > limit) out.resize(limit);
  return out;
}

void TraceStore::summarize(const Shard& shard, const std::string& service, std::vector<Summary>& out) const {
  for (const auto& [id, trace] : shard.traces) {
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
}

std::vector<trace::ReceivedSpan> TraceStore::trace(const std::string& trace_id_hex) const {
  std::vector<trace::ReceivedSpan> out;
  TraceId id{};
  if (!trace::from_hex(trace_id_hex, id)) return out;
  {
    const auto& shard = shard_of(id);
    std::lock_guard lock(shard.mutex);
    auto it = shard.traces.find(id);
    if (it != shard.traces.end()) {
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
  add(*spans);
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
    for (const auto& a : s.attributes) attributes[std::string(a.key)] = attribute_json(a.value);
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
