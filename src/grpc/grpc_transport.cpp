#include "svckit/grpc/grpc_transport.hpp"

#include "grpc/grpc_call.hpp"

#include <atomic>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/channel_arguments.h>

namespace svckit::rpc {

namespace {

constexpr std::string_view kCodeNames[] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

/// Request fields that are HTTP's own or hop-by-hop, never gRPC metadata.
bool skipped_field(std::string_view name) {
  static constexpr std::string_view kSkipped[] = {
      "host",    "content-type", "content-length",  "connection",      "keep-alive", "te", "transfer-encoding",
      "upgrade", "user-agent",   "accept-encoding", "proxy-connection"};
  for (const auto s : kSkipped) {
    if (name == s) return true;
  }
  // x-svckit-deadline-ms: ServiceClient's deadline for HTTP hops; a gRPC call carries its own
  // (grpc-timeout), which the server's context reports.
  return name.starts_with("grpc-") || name.starts_with(':') || name == "x-svckit-deadline-ms";
}

/// gRPC metadata keys are [0-9a-z_.-]; values printable ASCII (binary "-bin" values are not
/// carried over HTTP/1.1 headers, so never produced here).
bool valid_metadata(std::string_view key, std::string_view value) {
  if (key.empty() || key.ends_with("-bin")) return false;
  for (const char c : key) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-')) return false;
  }
  for (const char c : value) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

/// One call's state, shared with gRPC's completion callback: it outlives the awaiting coroutine
/// if that is destroyed first (its executor stopped).
/// Members go in reverse order: the ClientContext before the channel it used.
struct UnaryCall {
  std::shared_ptr<::grpc::Channel> channel;
  ::grpc::ClientContext context;
  ::grpc::ByteBuffer request;
  ::grpc::ByteBuffer response;
};

std::string to_bytes(const ::grpc::ByteBuffer& buffer) {
  std::vector<::grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  out.reserve(buffer.Length());
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

}  // namespace

std::string_view to_string(Code code) noexcept {
  const auto i = static_cast<std::size_t>(code);
  return i < std::size(kCodeNames) ? kCodeNames[i] : std::string_view("UNKNOWN");
}

int http_status_of(Code code) noexcept {
  switch (code) {
    case Code::ok:
      return 200;
    case Code::cancelled:
      return 499;
    case Code::invalid_argument:
    case Code::failed_precondition:
    case Code::out_of_range:
      return 400;
    case Code::deadline_exceeded:
      return 504;
    case Code::not_found:
      return 404;
    case Code::already_exists:
    case Code::aborted:
      return 409;
    case Code::permission_denied:
      return 403;
    case Code::unauthenticated:
      return 401;
    case Code::resource_exhausted:
      return 429;
    case Code::unimplemented:
      return 501;
    case Code::unavailable:
      return 503;
    case Code::unknown:
    case Code::internal:
    case Code::data_loss:
      return 500;
  }
  return 500;
}

std::optional<Code> parse_code(std::string_view text) noexcept {
  if (text.empty() || text.size() > 2) return std::nullopt;
  int n = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n > 16) return std::nullopt;
  return static_cast<Code>(n);
}

struct GrpcTransport::Impl {
  GrpcTransportOptions options;
  mutable std::mutex mutex;
  std::map<std::string, std::shared_ptr<::grpc::Channel>> channels;  // guarded by mutex; by key_of()
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> opened{0};
  std::atomic<std::uint64_t> reused{0};

  /// The channel's key: TLS and cleartext channels to one address are two channels.
  static std::string key_of(const net::HostPort& endpoint) {
    return (endpoint.tls ? "tls:" : "") + detail::grpc_target(endpoint.host, endpoint.port);
  }

  /// The credentials of a TLS channel from the options' files (read each time a TLS channel opens,
  /// so rotated files are picked up by new channels). Errors name the option.
  Result<std::shared_ptr<::grpc::ChannelCredentials>> tls_credentials() const {
    ::grpc::SslCredentialsOptions ssl;
    const auto read = [](const std::string& path, const char* field, std::string& out) -> Result<void> {
      if (path.empty()) return {};
      std::ifstream in(path, std::ios::binary);
      if (!in) return make_error(ErrorCode::invalid_argument, std::string(field) + ": cannot read " + path, field);
      out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      return {};
    };
    if (options.cert_file.empty() != options.key_file.empty()) {
      return make_error(ErrorCode::invalid_argument, "cert_file and key_file go together", "cert_file");
    }
    if (auto r = read(options.ca_file, "ca_file", ssl.pem_root_certs); !r) return r.error();
    if (auto r = read(options.cert_file, "cert_file", ssl.pem_cert_chain); !r) return r.error();
    if (auto r = read(options.key_file, "key_file", ssl.pem_private_key); !r) return r.error();
    return ::grpc::SslCredentials(ssl);
  }

  Result<std::shared_ptr<::grpc::Channel>> channel_for(const net::HostPort& endpoint) {
    const auto key = key_of(endpoint);
    std::lock_guard lock(mutex);
    auto& channel = channels[key];
    if (channel) {
      reused.fetch_add(1, std::memory_order_relaxed);
      return channel;
    }
    std::shared_ptr<::grpc::ChannelCredentials> credentials = ::grpc::InsecureChannelCredentials();
    if (endpoint.tls) {
      auto tls = tls_credentials();
      if (!tls) {
        channels.erase(key);
        return tls.error();
      }
      credentials = std::move(*tls);
    }
    ::grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
    args.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
    // One channel per endpoint, not shared through gRPC's global subchannel pool: closing it
    // closes its connection.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    // Reconnect soon after an instance comes back (gRPC's default backs off up to 120 s).
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    channel = ::grpc::CreateCustomChannel(detail::grpc_target(endpoint.host, endpoint.port), credentials, args);
    opened.fetch_add(1, std::memory_order_relaxed);
    return channel;
  }
};

GrpcTransport::GrpcTransport(GrpcTransportOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
}

GrpcTransport::~GrpcTransport() = default;

Awaitable<Result<http::Response>> GrpcTransport::send(net::HostPort endpoint, http::Request request,
                                                      std::chrono::milliseconds timeout,
                                                      std::shared_ptr<CancelToken> cancel) {
  if (request.body().size() > impl_->options.max_message_bytes) {
    co_return make_error(ErrorCode::payload_too_large, "the request message is larger than the limit", "body");
  }
  impl_->requests.fetch_add(1, std::memory_order_relaxed);
  auto call = std::make_shared<UnaryCall>();
  auto channel_made = impl_->channel_for(endpoint);
  if (!channel_made) co_return channel_made.error();
  call->channel = std::move(*channel_made);
  const auto& channel = call->channel;
  // The deadline on gRPC's monotonic clock: the attempt's timeout from now.
  call->context.set_deadline(detail::deadline_after(timeout));
  for (const auto& field : request) {
    const auto name = lower(std::string_view(field.name_string().data(), field.name_string().size()));
    const std::string_view value(field.value().data(), field.value().size());
    if (skipped_field(name) || !valid_metadata(name, value)) continue;
    call->context.AddMetadata(name, std::string(value));
  }
  ::grpc::Slice slice(request.body().data(), request.body().size());
  call->request = ::grpc::ByteBuffer(&slice, 1);
  const std::string method(request.target());
  if (cancel && !cancel->set_hook([call] { call->context.TryCancel(); })) {
    co_return make_error(ErrorCode::cancelled, "cancelled before it was sent", std::string(http::kNotSent));
  }
  ::grpc::GenericStub stub(channel);
  auto status = co_await detail::await_call(call, [&](std::function<void(::grpc::Status)> done) {
    stub.UnaryCall(&call->context, method, ::grpc::StubOptions(), &call->request, &call->response, std::move(done));
  });
  if (cancel) cancel->clear_hook();
  const auto code = static_cast<Code>(status.error_code());
  if (code == Code::deadline_exceeded) {
    co_return make_error(ErrorCode::timeout, "gRPC deadline exceeded: " + status.error_message());
  }
  if (code == Code::cancelled && cancel && cancel->cancelled()) co_return make_error(ErrorCode::cancelled, "cancelled");
  if (code == Code::unavailable) {
    const auto where = "gRPC " + endpoint.host + ":" + std::to_string(endpoint.port) + " unavailable: ";
    if (status.error_message().starts_with("failed to connect to all addresses")) {
      // gRPC's pick failure: no connection could be made, so the call never left (a retry is
      // gRPC's transparent retry, safe for any method and outside the retry budget).
      co_return make_error(ErrorCode::unavailable, where + status.error_message(), std::string(http::kNotSent));
    }
    if (channel->GetState(false) != GRPC_CHANNEL_READY) {
      // The connection went away during the call (reset, closed): a transport failure, as HTTP's.
      co_return make_error(ErrorCode::unavailable, where + status.error_message());
    }
  }
  http::Response response;
  response.version(11);
  response.result(static_cast<unsigned>(http_status_of(code)));
  response.set(http::beast_http::field::content_type, "application/grpc+proto");
  response.set("grpc-status", std::to_string(static_cast<int>(code)));
  if (!status.error_message().empty()) {
    std::string message = status.error_message();
    for (auto& c : message) {
      if (c < 0x20 || c > 0x7e) c = '?';
    }
    response.set("grpc-message", message);
  }
  if (code == Code::ok) response.body() = to_bytes(call->response);
  response.prepare_payload();
  co_return response;
}

http::ClientStats GrpcTransport::stats() const {
  http::ClientStats s;
  s.requests = impl_->requests.load(std::memory_order_relaxed);
  s.connections_opened = impl_->opened.load(std::memory_order_relaxed);
  s.connections_reused = impl_->reused.load(std::memory_order_relaxed);
  std::lock_guard lock(impl_->mutex);
  s.open = impl_->channels.size();
  return s;
}

void GrpcTransport::close_idle() {
  std::map<std::string, std::shared_ptr<::grpc::Channel>> gone;
  std::lock_guard lock(impl_->mutex);
  gone.swap(impl_->channels);
}

void GrpcTransport::close(const net::HostPort& endpoint) {
  std::shared_ptr<::grpc::Channel> gone;
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->channels.find(Impl::key_of(endpoint));
  if (it == impl_->channels.end()) return;
  gone = std::move(it->second);
  impl_->channels.erase(it);
}

std::size_t GrpcTransport::channels() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->channels.size();
}

}  // namespace svckit::rpc
