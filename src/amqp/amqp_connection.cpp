#include "amqp/amqp_connection.hpp"

#include <amqp_tcp_socket.h>

namespace svckit::amqp {

namespace {

amqp_bytes_t bytes(const std::string& s) { return amqp_bytes_t{s.size(), const_cast<char*>(s.data())}; }

Error reply_error(const amqp_rpc_reply_t& reply, const std::string& what) {
  std::string why;
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NONE:
      why = "no reply";
      break;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      why = amqp_error_string2(reply.library_error);
      break;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const auto* m = static_cast<const amqp_connection_close_t*>(reply.reply.decoded);
        why = "connection closed by the broker: " + std::to_string(m->reply_code) + " " + to_string(m->reply_text);
      } else if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const auto* m = static_cast<const amqp_channel_close_t*>(reply.reply.decoded);
        why = "channel closed by the broker: " + std::to_string(m->reply_code) + " " + to_string(m->reply_text);
      } else {
        why = "broker error";
      }
      break;
    default:
      why = "ok";
  }
  return make_error(ErrorCode::unavailable, "amqp: " + what + ": " + why);
}

}  // namespace

std::string to_string(amqp_bytes_t b) {
  return b.len == 0 ? std::string() : std::string(static_cast<const char*>(b.bytes), b.len);
}

Table& Table::add(std::string key, std::string value) {
  strings_.emplace_back(std::move(key), std::move(value));
  return *this;
}

Table& Table::add(std::string key, std::int64_t value) {
  numbers_.emplace_back(std::move(key), value);
  return *this;
}

amqp_table_t Table::get() {
  entries_.clear();
  for (auto& [key, value] : strings_) {
    amqp_table_entry_t e{};
    e.key = bytes(key);
    e.value.kind = AMQP_FIELD_KIND_UTF8;
    e.value.value.bytes = bytes(value);
    entries_.push_back(e);
  }
  for (auto& [key, value] : numbers_) {
    amqp_table_entry_t e{};
    e.key = bytes(key);
    e.value.kind = AMQP_FIELD_KIND_I64;
    e.value.value.i64 = value;
    entries_.push_back(e);
  }
  return amqp_table_t{static_cast<int>(entries_.size()), entries_.data()};
}

namespace {
const amqp_field_value_t* find(const amqp_table_t& headers, std::string_view key) {
  for (int i = 0; i < headers.num_entries; ++i) {
    const auto& e = headers.entries[i];
    if (std::string_view(static_cast<const char*>(e.key.bytes), e.key.len) == key) return &e.value;
  }
  return nullptr;
}
}  // namespace

std::string header_text(const amqp_table_t& headers, std::string_view key) {
  const auto* v = find(headers, key);
  if (v == nullptr || (v->kind != AMQP_FIELD_KIND_UTF8 && v->kind != AMQP_FIELD_KIND_BYTES)) return {};
  return to_string(v->value.bytes);
}

std::int64_t header_number(const amqp_table_t& headers, std::string_view key) {
  const auto* v = find(headers, key);
  if (v == nullptr) return 0;
  switch (v->kind) {
    case AMQP_FIELD_KIND_I64:
      return v->value.i64;
    case AMQP_FIELD_KIND_I32:
      return v->value.i32;
    case AMQP_FIELD_KIND_U32:
      return v->value.u32;
    case AMQP_FIELD_KIND_I16:
      return v->value.i16;
    case AMQP_FIELD_KIND_U16:
      return v->value.u16;
    case AMQP_FIELD_KIND_I8:
      return v->value.i8;
    case AMQP_FIELD_KIND_U8:
      return v->value.u8;
    default:
      return 0;
  }
}

Result<std::unique_ptr<AmqpConnection>> AmqpConnection::open(const AmqpServerOptions& o) {
  amqp_connection_state_t state = amqp_new_connection();
  if (state == nullptr) return make_error(ErrorCode::internal, "amqp: out of memory");
  std::unique_ptr<AmqpConnection> connection(new AmqpConnection(state));
  amqp_socket_t* socket = amqp_tcp_socket_new(state);
  if (socket == nullptr) return make_error(ErrorCode::internal, "amqp: no socket");
  const auto ms = o.connect_timeout.count();
  timeval timeout{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
  const int opened = amqp_socket_open_noblock(socket, o.host.c_str(), o.port, &timeout);
  const auto where = o.host + ":" + std::to_string(o.port);
  if (opened != AMQP_STATUS_OK) {
    return make_error(ErrorCode::unavailable, "amqp: connecting to " + where + ": " + amqp_error_string2(opened));
  }
  const amqp_rpc_reply_t login =
      amqp_login(state, o.vhost.c_str(), 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, o.user.c_str(), o.password.c_str());
  if (login.reply_type != AMQP_RESPONSE_NORMAL) return reply_error(login, "logging in to " + where);
  amqp_channel_open(state, kChannel);
  if (auto r = connection->rpc_result("opening a channel"); !r) return r.error();
  return connection;
}

AmqpConnection::~AmqpConnection() {
  amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(state_);
}

Result<void> AmqpConnection::rpc_result(const std::string& what) {
  const amqp_rpc_reply_t reply = amqp_get_rpc_reply(state_);
  if (reply.reply_type == AMQP_RESPONSE_NORMAL) return {};
  return reply_error(reply, what);
}

Result<void> AmqpConnection::status(int code, const std::string& what) {
  if (code == AMQP_STATUS_OK) return {};
  return make_error(ErrorCode::unavailable, "amqp: " + what + ": " + amqp_error_string2(code));
}

Result<void> AmqpConnection::declare_exchange(const std::string& name, const char* type) {
  amqp_exchange_declare(state_, kChannel, bytes(name), amqp_cstring_bytes(type), 0, 1, 0, 0, amqp_empty_table);
  return rpc_result("declaring exchange " + name);
}

Result<std::string> AmqpConnection::declare_queue(const std::string& name, bool durable, bool exclusive,
                                                  bool auto_delete, Table& arguments) {
  auto* ok = amqp_queue_declare(state_, kChannel, name.empty() ? amqp_empty_bytes : bytes(name), 0, durable, exclusive,
                                auto_delete, arguments.get());
  if (auto r = rpc_result("declaring queue " + name); !r) return r.error();
  return ok != nullptr ? to_string(ok->queue) : name;
}

Result<void> AmqpConnection::bind(const std::string& queue, const std::string& exchange, const std::string& key) {
  amqp_queue_bind(state_, kChannel, bytes(queue), bytes(exchange), bytes(key), amqp_empty_table);
  return rpc_result("binding " + queue + " to " + exchange + " by " + key);
}

Result<void> AmqpConnection::open_channel(amqp_channel_t channel) {
  amqp_channel_open(state_, channel);
  return rpc_result("opening channel " + std::to_string(channel));
}

Result<void> AmqpConnection::reopen_channel(amqp_channel_t channel) {
  amqp_channel_close_ok_t close_ok{};
  // The close-ok may fail when the channel was not closed by the broker: opening tells.
  (void)amqp_send_method(state_, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok);
  return open_channel(channel);
}

Result<std::uint32_t> AmqpConnection::declare_durable(const std::string& name, Table& arguments, amqp_channel_t channel,
                                                      bool passive) {
  auto* ok = amqp_queue_declare(state_, channel, bytes(name), passive ? 1 : 0, 1, 0, 0,
                                passive ? amqp_empty_table : arguments.get());
  if (auto r = rpc_result("declaring queue " + name); !r) return r.error();
  return ok != nullptr ? ok->message_count : 0;
}

Result<void> AmqpConnection::delete_queue(const std::string& name, amqp_channel_t channel) {
  amqp_queue_delete(state_, channel, bytes(name), 0, 0);
  return rpc_result("deleting queue " + name);
}

}  // namespace svckit::amqp
