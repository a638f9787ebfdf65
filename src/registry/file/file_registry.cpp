// file:///path/instances.yaml : a static list of instances for environments without a registry,
// reloaded when the file changes (inotify on its directory, so editors that write a new file and
// rename it over the old one are seen too; a file is read once it is closed after writing or
// renamed into place, never half-written). The file is the source of truth: the registry is
// read-only for clients, and each reload is applied as the difference to what was loaded before,
// so watchers get exact events (registered / updated / status_changed / deregistered), each with
// its own index. A file that does not parse or validate changes nothing: the last good content
// stays in force (and the error is logged); so does a deleted file.
//
//   services:
//     orders:
//       - {host: 10.0.0.5, port: 8080, zone: eu-1, tags: [v2], metadata: {version: "2"}}
//       - host: 10.0.0.6
//         port: 8080
//         status: maintenance
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <sys/inotify.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "svckit/core/instance_json.hpp"
#include "svckit/core/log.hpp"
#include "svckit/core/structured_text.hpp"
#include "svckit/registry/memory_registry.hpp"
#include "svckit/registry/plugin_registry.hpp"

namespace svckit {
namespace {

namespace asio = boost::asio;
using nlohmann::json;

Error read_only() {
  return make_error(ErrorCode::invalid_argument, "a file:// registry is read-only: edit the file", "registry");
}

/// Reads and validates the whole file; nothing partial. Errors name the file and the field
/// (`services.orders[1].port`).
Result<std::vector<ServiceInstance>> load_instance_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return make_error(ErrorCode::unavailable, path.string() + ": cannot be read", "file");
  std::stringstream text;
  text << in.rdbuf();
  auto doc = parse_structured(text.str(), structured_format_of(path.string()), path.string());
  if (!doc) return doc.error();
  auto bad = [&](const std::string& message, const std::string& field) {
    return make_error(ErrorCode::invalid_argument, path.string() + ": " + message, field);
  };
  std::vector<ServiceInstance> out;
  if (doc->is_null()) return out;  // an empty file: no instances
  if (!doc->is_object()) return bad("must be a mapping with a 'services' key", "services");
  for (const auto& [key, value] : doc->items()) {
    if (key != "services") return bad("unknown key (the file has 'services' only)", key);
  }
  const auto& services = (*doc)["services"];
  if (services.is_null()) return out;
  if (!services.is_object()) return bad("must map service names to lists of instances", "services");
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& [service, list] : services.items()) {
    if (!list.is_array()) return bad("must be a list of instances", "services." + service);
    for (std::size_t i = 0; i < list.size(); ++i) {
      const auto where = "services." + service + "[" + std::to_string(i) + "]";
      json item = list[i];
      if (!item.is_object()) return bad("must be a mapping", where);
      if (item.contains("service")) return bad("the service is the key above", where + ".service");
      item["service"] = service;
      if (item.contains("metadata") && item["metadata"].is_object()) {
        for (auto& [k, v] : item["metadata"].items()) {  // YAML types `version: 2`; metadata is text
          if (v.is_number() || v.is_boolean()) v = v.dump();
        }
      }
      auto instance = instance_from_json(item);
      if (!instance) {
        auto e = instance.error();
        return bad(e.message, where + (e.field.empty() ? "" : "." + e.field));
      }
      if (auto r = validate(*instance); !r) return bad(r.error().message, where + "." + r.error().field);
      if (!seen.emplace(instance->service, instance->id).second) {
        return bad("instance '" + instance->id + "' is listed twice", where);
      }
      out.push_back(std::move(*instance));
    }
  }
  return out;
}

/// The registry's state and its file follower; shared with the follow coroutine, which may outlive
/// the FileRegistry by the time it takes to see its descriptor closed.
struct FileState {
  FileState(const RegistryDeps& deps, std::filesystem::path file)
      : path(std::move(file)),
        store(deps.time, MemoryRegistryOptions{}),
        descriptor(asio::make_strand(deps.executor)) {}

  /// Applies the file's content as the difference to what is loaded. Returns the changes made.
  Result<std::size_t> reload() {
    auto loaded = load_instance_file(path);
    if (!loaded) return loaded.error();
    return store.replace_now("", std::move(*loaded));
  }

  std::filesystem::path path;
  MemoryRegistry store;
  asio::posix::stream_descriptor descriptor;  // on a strand: follow() and the close run there
};

Awaitable<void> follow(std::shared_ptr<FileState> state) {
  alignas(inotify_event) char buffer[4096];
  const auto name = state->path.filename().string();
  for (;;) {
    boost::system::error_code ec;
    const auto n =
        co_await state->descriptor.async_read_some(asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;  // closed: the registry is gone
    bool ours = false;
    for (std::size_t offset = 0; offset + sizeof(inotify_event) <= n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(buffer + offset);
      if (event->len > 0 && name == event->name) ours = true;
      offset += sizeof(inotify_event) + event->len;
    }
    if (!ours) continue;
    auto applied = state->reload();
    if (!applied) {
      logs::error("registry", "event=registry_file_rejected file={} error=\"{}\" (the last good content stays)",
                  state->path.string(), applied.error().describe());
    } else if (*applied > 0) {
      logs::info("registry", "event=registry_file_reloaded file={} changes={}", state->path.string(), *applied);
    }
  }
}

class FileRegistry final : public Registry {
 public:
  explicit FileRegistry(std::shared_ptr<FileState> state) : state_(std::move(state)) {}
  ~FileRegistry() override {
    // Closed on the executor that runs follow(), not from the destroying thread: a descriptor is
    // not safe to close while another thread completes a read on it. Ends follow().
    asio::post(state_->descriptor.get_executor(), [state = state_] {
      boost::system::error_code ec;
      state->descriptor.close(ec);
    });
  }

  Awaitable<Result<ServiceInstance>> register_instance(ServiceInstance) override { co_return read_only(); }
  Awaitable<Result<void>> deregister(std::string, std::string) override { co_return read_only(); }
  Awaitable<Result<void>> renew(std::string, std::string) override { co_return read_only(); }
  Awaitable<Result<void>> set_status(std::string, std::string, InstanceStatus) override { co_return read_only(); }
  Awaitable<Result<ServiceInstance>> get(std::string service, std::string id) override {
    return state_->store.get(std::move(service), std::move(id));
  }
  Awaitable<Result<std::vector<ServiceInstance>>> list(std::string service, InstanceFilter filter) override {
    return state_->store.list(std::move(service), std::move(filter));
  }
  Awaitable<Result<std::vector<ServiceSummary>>> list_services() override { return state_->store.list_services(); }
  Awaitable<Result<WatchResult>> watch(WatchRequest request) override {
    return state_->store.watch(std::move(request));
  }

 private:
  std::shared_ptr<FileState> state_;
};

}  // namespace

RegistryFactory file_registry_factory() {
  return [](const net::BackendUrl& url, const RegistryDeps& deps) -> Result<std::unique_ptr<Registry>> {
    if (auto ok = net::check_url_options(url, "file://", {}); !ok) return ok.error();
    if (!url.hosts.empty() && !url.hosts.front().host.empty()) {
      return make_error(ErrorCode::invalid_argument, "use file:///absolute/path (three slashes)", "registry");
    }
    const std::filesystem::path path = url.path;
    if (!path.is_absolute()) return make_error(ErrorCode::invalid_argument, "the path must be absolute", "registry");
    if (structured_format_of(path.string()).empty()) {
      return make_error(ErrorCode::invalid_argument, "the file must be .yaml, .yml or .json", "registry");
    }
    auto state = std::make_shared<FileState>(deps, path);
    // The first load must succeed: a registry that starts empty because of a typo is worse than
    // a clear error at start-up.
    auto first = load_instance_file(path);
    if (!first) return first.error();
    if (auto r = state->store.replace_now("", std::move(*first)); !r) return r.error();
    const int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) return make_error(ErrorCode::unavailable, "inotify_init1 failed", "registry");
    const auto dir = path.parent_path().string();
    if (inotify_add_watch(fd, dir.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
      ::close(fd);
      return make_error(ErrorCode::unavailable, "cannot watch " + dir, "registry");
    }
    state->descriptor.assign(fd);
    asio::co_spawn(state->descriptor.get_executor(), follow(state), asio::detached);  // its strand
    return std::unique_ptr<Registry>(std::make_unique<FileRegistry>(std::move(state)));
  };
}

}  // namespace svckit
