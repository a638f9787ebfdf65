#include "svckit/events/delivery_policy.hpp"

#include "svckit/resilience/backoff.hpp"

namespace svckit::events {

DeliveryPolicy::DeliveryPolicy(const TimeSource& time, std::uint64_t seed, SubscribeOptions options,
                               std::shared_ptr<SharedDedupeWindow> dedupe)
    : options_(std::move(options)), random_(seed), dedupe_(std::move(dedupe)) {
  if (!dedupe_ && options_.dedupe_window.count() > 0) {
    dedupe_ = std::make_shared<SharedDedupeWindow>(time, options_.dedupe_window);
  }
}

DeliveryPolicy::Screen DeliveryPolicy::screen(const Event& event, int deliveries) {
  delivered_.fetch_add(1);
  const bool wanted = (options_.pattern.empty() || pattern_matches(options_.pattern, event.type)) &&
                      (event.target.empty() || options_.service.empty() || event.target == options_.service);
  if (!wanted) return Screen::skip;
  if (deliveries <= 1 && dedupe_) {
    if (dedupe_->seen(event.id)) {
      duplicates_.fetch_add(1);
      return Screen::duplicate;
    }
  }
  return Screen::deliver;
}

DeliveryPolicy::Verdict DeliveryPolicy::after(const Result<void>& handled, int deliveries) {
  Verdict verdict;
  if (handled) {
    handled_.fetch_add(1);
    return verdict;
  }
  if (deliveries >= options_.max_deliveries || handled.error().code == ErrorCode::invalid_argument) {
    verdict.kind = Verdict::Kind::dead_letter;
    verdict.reason = handled.error().describe();
    return verdict;
  }
  retried_.fetch_add(1);
  verdict.kind = Verdict::Kind::retry;
  std::lock_guard lock(mutex_);
  Backoff backoff(options_.retry_backoff, random_);
  for (int i = 0; i < std::max(deliveries, 1); ++i) verdict.delay = backoff.next();  // retry n waits like the n-th
  return verdict;
}

std::string DeliveryPolicy::undecodable(const Error& error) {
  delivered_.fetch_add(1);
  return "undecodable: " + error.describe();
}

SubscriptionStats DeliveryPolicy::stats() const {
  return {delivered_.load(), handled_.load(), retried_.load(), dead_lettered_.load(), duplicates_.load()};
}

}  // namespace svckit::events
