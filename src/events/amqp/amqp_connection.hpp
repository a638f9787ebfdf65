// AmqpConnection: one rabbitmq-c connection with channel 1 open, for the AMQP event bus. RAII over
// amqp_connection_state_t with errors as Result (text from the broker's close reason or the
// library). Blocking, and not thread-safe: each owner (the publisher thread, a subscription's
// consumer thread, a dead-letter read) has its own.
#pragma once

#include <amqp.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "svckit/core/result.hpp"
#include "svckit/events/amqp_event_bus.hpp"

namespace svckit::events::amqp {

constexpr amqp_channel_t kChannel = 1;

/// Builds an AMQP field table; the strings are owned here, so the table lives as long as this.
class Table {
 public:
  Table& add(std::string key, std::string value);
  Table& add(std::string key, std::int64_t value);
  amqp_table_t get();

 private:
  std::vector<std::pair<std::string, std::string>> strings_;
  std::vector<std::pair<std::string, std::int64_t>> numbers_;
  std::vector<amqp_table_entry_t> entries_;
};

/// A header's value as text or number ("" / 0 when absent).
std::string header_text(const amqp_table_t& headers, std::string_view key);
std::int64_t header_number(const amqp_table_t& headers, std::string_view key);
std::string to_string(amqp_bytes_t bytes);

class AmqpConnection {
 public:
  /// Connects, logs in and opens channel 1 (heartbeats off: a restart closes the socket).
  static Result<std::unique_ptr<AmqpConnection>> open(const AmqpEventBusOptions& options);
  ~AmqpConnection();
  AmqpConnection(const AmqpConnection&) = delete;
  AmqpConnection& operator=(const AmqpConnection&) = delete;

  amqp_connection_state_t state() { return state_; }
  /// The last RPC's outcome as a Result; `what` prefixes the error.
  Result<void> rpc_result(const std::string& what);
  /// A library status (amqp_basic_publish, amqp_basic_ack, ...) as a Result.
  static Result<void> status(int code, const std::string& what);

  Result<void> declare_exchange(const std::string& name, const char* type);
  /// Returns the queue's name (the broker's, when `name` is empty).
  Result<std::string> declare_queue(const std::string& name, bool durable, bool exclusive, bool auto_delete,
                                    Table& arguments);
  Result<void> bind(const std::string& queue, const std::string& exchange, const std::string& key);

 private:
  explicit AmqpConnection(amqp_connection_state_t state) : state_(state) {}
  amqp_connection_state_t state_;
};

}  // namespace svckit::events::amqp
