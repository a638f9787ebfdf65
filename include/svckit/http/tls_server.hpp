// TlsServerContext: the certificate an HttpServer presents (TLS 1.2 or later), optionally asking
// every client for a certificate signed by a given CA (mutual TLS), reloaded when its files change
// on disk without dropping a connection: connections keep the context they began with, new ones
// get the new one.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "svckit/core/result.hpp"

namespace boost::asio::ssl {
class context;
}

namespace svckit::http {

struct TlsServerFiles {
  std::string cert_file;       // PEM certificate chain (leaf first)
  std::string key_file;        // its PEM private key. Never logged.
  std::string client_ca_file;  // PEM CA(s): when set, clients must present a certificate it signed
  /// The option names errors use for each file (svckitd: "tls.cert_file", ...).
  std::string cert_field = "cert_file";
  std::string key_field = "key_file";
  std::string client_ca_field = "client_ca_file";
};

/// Thread-safe.
class TlsServerContext {
 public:
  /// Loads the files; errors name the file's option (unreadable, not PEM, key not matching).
  static Result<std::shared_ptr<TlsServerContext>> create(TlsServerFiles files);

  /// The context for a connection starting now. Hold it for the connection's life.
  std::shared_ptr<boost::asio::ssl::context> current() const;
  /// Loads the files again if one's size or modification time changed. true: the new certificate
  /// is in use; an error (a half-written file, a key that does not match) keeps the one in force.
  Result<bool> reload_if_changed();
  bool mutual() const { return !files_.client_ca_file.empty(); }

 private:
  explicit TlsServerContext(TlsServerFiles files) : files_(std::move(files)) {}
  Result<std::shared_ptr<boost::asio::ssl::context>> load() const;
  std::string stamp() const;

  const TlsServerFiles files_;
  mutable std::mutex mutex_;
  std::shared_ptr<boost::asio::ssl::context> current_;  // guarded by mutex_
  std::string stamp_;                                   // guarded by mutex_
};

}  // namespace svckit::http
