// etcd://h1:2379,h2:2379/app/config — the keys under /app/config/ (database/pool ->
// database.pool); the version is the store revision of the read; changes arrive by a watch.
#include "config/remote/remote_backends.hpp"
#include "svckit/etcd/etcd_client.hpp"

namespace svckit::config::detail {

using nlohmann::json;

namespace {

class EtcdConfigBackend final : public RemoteConfigBackend {
 public:
  EtcdConfigBackend(std::shared_ptr<etcd::EtcdClient> etcd, std::string prefix)
      : etcd_(std::move(etcd)), prefix_(std::move(prefix)) {}

  std::string name() const override { return "etcd:" + prefix_; }

  Awaitable<Result<RemoteContent>> read() override {
    auto etcd = etcd_;
    const auto dir = prefix_ + "/";
    const json body{{"key", etcd::base64_encode(dir)}, {"range_end", etcd::base64_encode(etcd::prefix_end(dir))}};
    auto answer = co_await etcd->call("/v3/kv/range", body);
    if (!answer) co_return answer.error();
    std::vector<std::pair<std::string, std::string>> entries;
    for (const auto& kv : answer->value("kvs", json::array())) {
      auto key = etcd::base64_decode(kv.value("key", ""));
      auto value = etcd::base64_decode(kv.value("value", ""));
      if (!key || !value) co_return make_error(ErrorCode::protocol, "etcd: a key or value that is not base64");
      entries.emplace_back(key->substr(dir.size()), std::move(*value));
    }
    auto tree = tree_from_flat(entries, name());
    if (!tree) co_return tree.error();
    co_return RemoteContent{std::move(*tree), std::to_string(etcd::json_int((*answer)["header"], "revision"))};
  }

  Awaitable<Result<bool>> wait_change(const std::string& version, std::chrono::milliseconds timeout,
                                      std::shared_ptr<CancelToken> cancel) override {
    auto etcd = etcd_;
    const auto dir = prefix_ + "/";
    const json create{{"key", etcd::base64_encode(dir)},
                      {"range_end", etcd::base64_encode(etcd::prefix_end(dir))},
                      {"start_revision", std::to_string(std::strtoll(version.c_str(), nullptr, 10) + 1)}};
    const json body{{"create_request", create}};
    bool changed = false;
    etcd::EtcdClient::MessageSink sink = [&](json message) -> Awaitable<Result<void>> {
      if (message.contains("error")) co_return etcd::error_from_etcd(500, message.dump());
      const json result = message.contains("result") ? message["result"] : message;
      // Compacted past our revision, or cancelled by etcd: read again to be sure.
      if (etcd::json_int(result, "compact_revision") > 0 || result.value("canceled", false) ||
          !result.value("events", json::array()).empty()) {
        changed = true;
        co_return make_error(ErrorCode::cancelled, "changed");
      }
      co_return Result<void>{};
    };
    auto streamed = co_await etcd->stream("/v3/watch", body, timeout, std::move(cancel), sink);
    if (changed) co_return true;
    if (streamed || streamed.error().code == ErrorCode::timeout) co_return false;
    co_return streamed.error();
  }

 private:
  std::shared_ptr<etcd::EtcdClient> etcd_;
  std::string prefix_;
};

}  // namespace

Result<std::unique_ptr<RemoteConfigBackend>> etcd_config_backend(const net::BackendUrl& url,
                                                                 const boost::asio::any_io_executor& executor) {
  auto options = etcd::etcd_options_from_url(url);
  if (!options) return options.error();
  std::string prefix = url.path;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (prefix.empty()) return make_error(ErrorCode::invalid_argument, "etcd:// needs a key prefix as its path", "path");
  auto client = std::make_shared<etcd::EtcdClient>(executor, std::move(*options));
  return std::unique_ptr<RemoteConfigBackend>(std::make_unique<EtcdConfigBackend>(std::move(client), prefix));
}

}  // namespace svckit::config::detail
