// A Cache's figures in Prometheus series, read from Cache::stats() at each scrape (a collector:
// nothing on the cache's own path). Series, labelled `cache` = the name given:
//
//   svckit_cache_hits_total, svckit_cache_misses_total, svckit_cache_puts_total,
//   svckit_cache_evictions_total, svckit_cache_expirations_total, svckit_cache_rejections_total,
//   svckit_cache_loads_total, svckit_cache_load_failures_total   counters
//   svckit_cache_load_seconds, svckit_cache_entries, svckit_cache_bytes   gauges (load_seconds:
//                                                                  total time spent in loaders)
//
//   Cache<std::string, Product> products(time, {.max_entries = 10'000});
//   auto exported = export_cache_metrics(metrics, "products", products);  // keep while both live
#pragma once

#include <memory>
#include <string>

#include "svckit/cache/cache.hpp"
#include "svckit/core/metrics.hpp"

namespace svckit::cache {

/// Registers a collector of `cache`'s stats under `name` (one cache per name: the gauges of two
/// would overwrite each other). The handle must be destroyed before the cache and the registry.
template <class K, class V, class Hash>
[[nodiscard]] CollectorHandle export_cache_metrics(MetricsRegistry& metrics, std::string name,
                                                   const Cache<K, V, Hash>& cache) {
  struct Series {
    std::shared_ptr<Counter> hits, misses, puts, evictions, expirations, rejections, loads, load_failures;
    std::shared_ptr<Gauge> load_seconds, entries, bytes;
    CacheStats last;
  };
  const std::vector<std::string> label{name};
  auto counter = [&](const char* metric, const char* help) {
    return metrics.counter(metric, help, {"cache"}).handle(label);
  };
  auto s = std::make_shared<Series>();
  s->hits = counter("svckit_cache_hits_total", "Cache lookups that found a live entry.");
  s->misses = counter("svckit_cache_misses_total", "Cache lookups that found nothing or an expired entry.");
  s->puts = counter("svckit_cache_puts_total", "Entries stored (new or replaced).");
  s->evictions = counter("svckit_cache_evictions_total", "Entries removed to stay within the cache's bounds.");
  s->expirations = counter("svckit_cache_expirations_total", "Entries removed because their TTL passed.");
  s->rejections = counter("svckit_cache_rejections_total", "Entries refused by admission (TinyLFU) or size.");
  s->loads = counter("svckit_cache_loads_total", "Loader calls (one per key at a time).");
  s->load_failures = counter("svckit_cache_load_failures_total", "Loader calls that failed (nothing cached).");
  s->load_seconds =
      metrics.gauge("svckit_cache_load_seconds", "Total seconds spent in loaders.", {"cache"}).handle(label);
  s->entries = metrics.gauge("svckit_cache_entries", "Entries in the cache.", {"cache"}).handle(label);
  s->bytes = metrics.gauge("svckit_cache_bytes", "Weight of the cache's entries (its weigher's unit).", {"cache"})
                 .handle(label);
  return metrics.add_collector([s, &cache] {
    const auto now = cache.stats();
    advance_counter(*s->hits, now.hits, s->last.hits);
    advance_counter(*s->misses, now.misses, s->last.misses);
    advance_counter(*s->puts, now.puts, s->last.puts);
    advance_counter(*s->evictions, now.evictions, s->last.evictions);
    advance_counter(*s->expirations, now.expirations, s->last.expirations);
    advance_counter(*s->rejections, now.rejections, s->last.rejections);
    advance_counter(*s->loads, now.loads, s->last.loads);
    advance_counter(*s->load_failures, now.load_failures, s->last.load_failures);
    s->load_seconds->set(std::chrono::duration<double>(now.load_time).count());
    s->entries->set(static_cast<double>(now.entries));
    s->bytes->set(static_cast<double>(now.bytes));
  });
}

}  // namespace svckit::cache
