// AmqpConnection: one rabbitmq-c connection with channel 1 open, for the AMQP event bus and the
// AMQP task queue. RAII over amqp_connection_state_t with errors as Result (text from the broker's
// close reason or the library). Blocking, and not thread-safe: each owner (the publisher thread, a
// subscription's consumer thread, a dead-letter read, the task queue's broker thread) has its own.
// Private to the svckit::amqp component, so that rabbitmq-c's headers stay out of the installed ones.
#pragma once

#include <amqp.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "svckit/amqp/amqp_server.hpp"
#include "svckit/core/result.hpp"

namespace svckit::amqp {

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
  static Result<std::unique_ptr<AmqpConnection>> open(const AmqpServerOptions& server);
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

  /// Opens one more channel (for operations whose failure must not close channel 1).
  Result<void> open_channel(amqp_channel_t channel);
  /// After the broker closed `channel` (a declare with other arguments, a missing queue):
  /// acknowledges the close and opens it again.
  Result<void> reopen_channel(amqp_channel_t channel);
  /// Declares a durable, shared queue on `channel`; returns its ready message count. `passive`:
  /// only looks the queue up (whatever its arguments; a missing one closes the channel).
  Result<std::uint32_t> declare_durable(const std::string& name, Table& arguments, amqp_channel_t channel,
                                        bool passive = false);
  /// Deletes a queue (unused or not) on `channel`.
  Result<void> delete_queue(const std::string& name, amqp_channel_t channel);

 private:
  explicit AmqpConnection(amqp_connection_state_t state) : state_(state) {}
  amqp_connection_state_t state_;
};

}  // namespace svckit::amqp
