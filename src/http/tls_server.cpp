#include "svckit/http/tls_server.hpp"

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>

namespace svckit::http {

namespace asio = boost::asio;

Result<std::shared_ptr<TlsServerContext>> TlsServerContext::create(TlsServerFiles files) {
  if (files.cert_file.empty() != files.key_file.empty()) {
    const auto& missing = files.cert_file.empty() ? files.cert_field : files.key_field;
    return make_error(ErrorCode::invalid_argument, "TLS needs both a certificate and its key", missing);
  }
  auto out = std::shared_ptr<TlsServerContext>(new TlsServerContext(std::move(files)));
  auto context = out->load();
  if (!context) return context.error();
  out->current_ = std::move(*context);
  out->stamp_ = out->stamp();
  return out;
}

std::string TlsServerContext::stamp() const {
  std::string out;
  for (const auto* file : {&files_.cert_file, &files_.key_file, &files_.client_ca_file}) {
    if (file->empty()) continue;
    std::error_code ec;
    const auto time = std::filesystem::last_write_time(*file, ec);
    const auto size = std::filesystem::file_size(*file, ec);
    out += ec ? std::string("missing") : std::to_string(time.time_since_epoch().count()) + "/" + std::to_string(size);
    out += ";";
  }
  return out;
}

Result<std::shared_ptr<asio::ssl::context>> TlsServerContext::load() const {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  // TLS 1.2 is the floor; the strongest version both sides speak wins. No compression, no
  // renegotiation by clients, the server's cipher order.
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression |
                       SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  boost::system::error_code ec;
  context->use_certificate_chain_file(files_.cert_file, ec);
  if (ec) {
    return make_error(ErrorCode::invalid_argument,
                      "certificate '" + files_.cert_file + "' cannot be loaded: " + ec.message(), files_.cert_field);
  }
  context->use_private_key_file(files_.key_file, asio::ssl::context::pem, ec);
  if (ec) {  // the message names the file, never its content
    return make_error(ErrorCode::invalid_argument, "key '" + files_.key_file + "' cannot be loaded: " + ec.message(),
                      files_.key_field);
  }
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    return make_error(ErrorCode::invalid_argument, "key '" + files_.key_file + "' does not match the certificate",
                      files_.key_field);
  }
  if (!files_.client_ca_file.empty()) {
    context->load_verify_file(files_.client_ca_file, ec);
    if (ec) {
      return make_error(ErrorCode::invalid_argument,
                        "client CA '" + files_.client_ca_file + "' cannot be loaded: " + ec.message(),
                        files_.client_ca_field);
    }
    context->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  }
  return context;
}

std::shared_ptr<asio::ssl::context> TlsServerContext::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

Result<bool> TlsServerContext::reload_if_changed() {
  auto now = stamp();
  {
    std::lock_guard lock(mutex_);
    if (now == stamp_) return false;
  }
  auto context = load();
  std::lock_guard lock(mutex_);
  stamp_ = std::move(now);  // a broken file is reported once, not at every check
  if (!context) return context.error();
  current_ = std::move(*context);
  return true;
}

}  // namespace svckit::http
