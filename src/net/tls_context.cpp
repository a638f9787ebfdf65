#include "svckit/net/tls_context.hpp"

namespace svckit::net {

namespace asio = boost::asio;

Result<std::shared_ptr<asio::ssl::context>> make_client_tls_context(const std::string& ca_file,
                                                                    const std::string& cert_file,
                                                                    const std::string& key_file, bool verify_peer) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  boost::system::error_code ec;
  if (ca_file.empty()) {
    context->set_default_verify_paths(ec);
  } else {
    context->load_verify_file(ca_file, ec);
  }
  if (ec) {
    return make_error(ErrorCode::invalid_argument, "ca_file '" + ca_file + "' cannot be loaded: " + ec.message(),
                      "ca_file");
  }
  if (!cert_file.empty()) {
    context->use_certificate_chain_file(cert_file, ec);
    if (ec) {
      return make_error(ErrorCode::invalid_argument, "cert_file '" + cert_file + "' cannot be loaded: " + ec.message(),
                        "cert_file");
    }
    context->use_private_key_file(key_file, asio::ssl::context::pem, ec);
    if (ec) {  // the message names the file, never its content
      return make_error(ErrorCode::invalid_argument, "key_file '" + key_file + "' cannot be loaded: " + ec.message(),
                        "key_file");
    }
  }
  context->set_verify_mode(verify_peer ? asio::ssl::verify_peer : asio::ssl::verify_none);
  return context;
}

}  // namespace svckit::net
