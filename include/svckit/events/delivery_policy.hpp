// DeliveryPolicy: what every EventBus backend does with one delivery to a subscription, in one
// unit, so the memory, Redis, NATS and RabbitMQ buses cannot drift apart. They differ only in how
// they acknowledge, schedule a retry and store a dead letter; the decisions are made here:
//
//   undecodable()  an envelope that does not decode is dead-lettered at once (retrying cannot help).
//   screen()       an event for another target service, or of a type the pattern does not match, is
//                  skipped (acknowledged, not handled). On its FIRST delivery, an id seen within the
//                  dedupe window is a duplicate (acknowledged and counted). A redelivery is never a
//                  duplicate: its first delivery may have died with its handler.
//   after()        the handler's result: ok -> acknowledge; invalid_argument (the event itself is
//                  wrong) or max_deliveries reached -> dead letter; else retry after the backoff of
//                  that delivery (retry n waits like the n-th draw of retry_backoff).
//
// It keeps the subscription's counters (SubscriptionStats). dead_lettered() is called by the bus
// once the letter is stored, so a reader who sees the count finds the letter.
// Pure logic: an injected TimeSource (the dedupe window) and a seed for the backoff's jitter (draw
// it from the bus's injected Random, under whatever guards that). Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "svckit/core/random.hpp"
#include "svckit/core/time_source.hpp"
#include "svckit/events/event.hpp"
#include "svckit/events/event_bus.hpp"

namespace svckit::events {

/// A DedupeWindow behind a mutex: one per subscription, or shared by the members of a group where
/// the bus keeps the group in one process (the memory bus). Thread-safe.
class SharedDedupeWindow {
 public:
  SharedDedupeWindow(const TimeSource& time, std::chrono::milliseconds window) : window_(time, window) {}
  bool seen(const std::string& id) {
    std::lock_guard lock(mutex_);
    return window_.seen(id);
  }

 private:
  std::mutex mutex_;
  DedupeWindow window_;  // guarded by mutex_
};

class DeliveryPolicy {
 public:
  /// `time` must outlive the policy. `seed` starts its own random stream (the backoff's jitter).
  /// `dedupe`: the window to use (shared); null: a window of its own when options.dedupe_window > 0,
  /// none otherwise.
  DeliveryPolicy(const TimeSource& time, std::uint64_t seed, SubscribeOptions options,
                 std::shared_ptr<SharedDedupeWindow> dedupe = nullptr);

  enum class Screen { deliver, skip, duplicate };
  /// Counts a delivery and decides whether the handler sees it. `deliveries` counts this one (1 =
  /// first).
  Screen screen(const Event& event, int deliveries);

  struct Verdict {
    enum class Kind { ack, retry, dead_letter };
    Kind kind = Kind::ack;
    std::chrono::milliseconds delay{0};  // retry: how long to wait before the next delivery
    std::string reason;                  // dead_letter: the error the letter carries
  };
  /// The handler's result for delivery number `deliveries` (1 = first).
  Verdict after(const Result<void>& handled, int deliveries);

  /// Counts a delivery whose envelope did not decode; returns the error its dead letter carries.
  std::string undecodable(const Error& error);
  /// The bus stored a dead letter.
  void dead_lettered() { dead_lettered_.fetch_add(1); }

  SubscriptionStats stats() const;
  const SubscribeOptions& options() const { return options_; }

 private:
  const SubscribeOptions options_;
  SeededRandom random_;  // guarded by mutex_
  std::shared_ptr<SharedDedupeWindow> dedupe_;
  std::mutex mutex_;
  std::atomic<std::uint64_t> delivered_{0}, handled_{0}, retried_{0}, dead_lettered_{0}, duplicates_{0};
};

}  // namespace svckit::events
