// A cache in front of a slow lookup: LRU with TinyLFU admission, a TTL, single-flight loading.
// Run as a test (example_cache); docs/cache.md shows it.
#include <cstdio>
#include <memory>
#include <string>

#include "svckit/cache/cache.hpp"
#include "svckit/core/time_source.hpp"

struct Product {
  std::string name;
  int price_cents;
};

int main() {
  svckit::RealTimeSource time;  // tests pass a SimulatedClock
  svckit::cache::CacheOptions options;
  options.max_entries = 10'000;
  options.default_ttl = std::chrono::minutes(5);
  options.tinylfu_admission = true;  // a scan of cold ids cannot flush the hot ones
  // Values are copied out: cache shared_ptr<const T> for anything larger than a few words.
  auto made = svckit::cache::Cache<int, std::shared_ptr<const Product>>::create(options, time);
  if (!made) {
    std::fprintf(stderr, "%s\n", made.error().message.c_str());
    return 1;
  }
  auto& products = **made;

  int database_reads = 0;
  const auto from_database = [&](const int& id) -> svckit::Result<std::shared_ptr<const Product>> {
    ++database_reads;  // one read per id, however many callers ask at once
    if (id < 0) return svckit::make_error(svckit::ErrorCode::not_found, "no product " + std::to_string(id));
    return std::make_shared<const Product>(Product{"product-" + std::to_string(id), 100 * id});
  };

  for (int round = 0; round < 3; ++round) {
    for (int id = 1; id <= 100; ++id) {
      auto product = products.get_or_load(id, from_database);
      if (!product) return 1;
    }
  }
  const auto missing = products.get_or_load(-1, from_database);  // errors are returned, not cached

  const auto stats = products.stats();
  std::printf("entries=%zu hits=%llu misses=%llu loads=%llu hit_rate=%.2f database_reads=%d missing=%s\n",
              stats.entries, static_cast<unsigned long long>(stats.hits), static_cast<unsigned long long>(stats.misses),
              static_cast<unsigned long long>(stats.loads), stats.hit_rate(), database_reads,
              missing ? "found" : missing.error().message.c_str());
  return stats.entries == 100 && database_reads == 101 && !missing ? 0 : 1;
}
