#include "daemon/config_store.hpp"

#include <algorithm>
#include <optional>

#include <boost/asio/this_coro.hpp>

namespace svckit::daemon {

using nlohmann::json;

ConfigStore::ConfigStore(const TimeSource& time, std::size_t history)
    : time_(time), keep_(std::max<std::size_t>(history, 1)) {
  history_.push_back(Version{0, time_.system_now(), "empty", std::make_shared<const json>(json::object())});
}

Result<std::vector<std::string>> ConfigStore::parse_key(const std::string& key) {
  std::vector<std::string> parts;
  std::string part;
  const auto bad = [&](const std::string& why) {
    return make_error(ErrorCode::invalid_argument, "key '" + key + "': " + why, "key");
  };
  if (key.empty() || key.size() > 256) return bad("1 to 256 characters");
  for (const char c : key) {
    if (c == '.') {
      if (part.empty()) return bad("an empty part");
      parts.push_back(std::move(part));
      part.clear();
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return bad("parts are letters, digits, '_' and '-', joined by '.'");
    part += c;
  }
  if (part.empty()) return bad("an empty part");
  parts.push_back(std::move(part));
  if (parts.size() > 16) return bad("at most 16 levels");
  return parts;
}

ConfigStore::Version ConfigStore::current() const {
  std::lock_guard lock(mutex_);
  return history_.back();
}

Result<std::uint64_t> ConfigStore::commit(Draft draft) {
  Version added;
  std::function<void(const Version&)> changed;
  {
    std::lock_guard lock(mutex_);
    added = Version{history_.back().version + 1, time_.system_now(), std::move(draft.reason),
                    std::make_shared<const json>(std::move(draft.tree))};
    history_.push_back(added);
    if (history_.size() > keep_) history_.erase(history_.begin());
    changed = changed_;
  }
  waiters_.notify_all();  // after the version is in: a woken poll reads it
  if (changed) changed(added);
  return added.version;
}

void ConfigStore::apply_replicated(Version version) {
  std::function<void(const Version&)> changed;
  {
    std::lock_guard lock(mutex_);
    if (version.version <= history_.back().version) return;  // already here
    history_.push_back(version);
    if (history_.size() > keep_) history_.erase(history_.begin());
    changed = changed_;
  }
  waiters_.notify_all();
  if (changed) changed(version);
}

void ConfigStore::load_replicated(std::vector<Version> versions) {
  if (versions.empty()) return;
  std::sort(versions.begin(), versions.end(), [](const auto& a, const auto& b) { return a.version < b.version; });
  if (versions.size() > keep_) versions.erase(versions.begin(), versions.end() - static_cast<std::ptrdiff_t>(keep_));
  {
    std::lock_guard lock(mutex_);
    history_ = std::move(versions);
  }
  waiters_.notify_all();
}

Result<std::uint64_t> ConfigStore::put(const std::string& key, json value) {
  auto draft = draft_put(key, std::move(value));
  if (!draft) return draft.error();
  return commit(std::move(*draft));
}

Result<std::uint64_t> ConfigStore::replace(json document) {
  auto draft = draft_replace(std::move(document));
  if (!draft) return draft.error();
  return commit(std::move(*draft));
}

Result<std::uint64_t> ConfigStore::remove(const std::string& key) {
  auto draft = draft_remove(key);
  if (!draft) return draft.error();
  return commit(std::move(*draft));
}

Result<std::uint64_t> ConfigStore::rollback(std::uint64_t version) {
  auto draft = draft_rollback(version);
  if (!draft) return draft.error();
  return commit(std::move(*draft));
}

Result<ConfigStore::Draft> ConfigStore::draft_put(const std::string& key, json value) const {
  auto parts = parse_key(key);
  if (!parts) return parts.error();
  json tree = *current().tree;
  json* node = &tree;
  for (std::size_t i = 0; i + 1 < parts->size(); ++i) {
    auto& child = (*node)[(*parts)[i]];
    if (child.is_null()) child = json::object();
    if (!child.is_object()) {
      return make_error(ErrorCode::invalid_argument, "key '" + key + "': '" + (*parts)[i] + "' holds a value", "key");
    }
    node = &child;
  }
  (*node)[parts->back()] = std::move(value);
  return Draft{std::move(tree), "put " + key};
}

Result<ConfigStore::Draft> ConfigStore::draft_replace(json document) const {
  if (!document.is_object())
    return make_error(ErrorCode::invalid_argument, "the document must be a JSON object", "body");
  return Draft{std::move(document), "replace"};
}

Result<ConfigStore::Draft> ConfigStore::draft_remove(const std::string& key) const {
  auto parts = parse_key(key);
  if (!parts) return parts.error();
  json tree = *current().tree;
  json* node = &tree;
  for (std::size_t i = 0; i + 1 < parts->size(); ++i) {
    if (!node->is_object() || !node->contains((*parts)[i])) {
      return make_error(ErrorCode::not_found, "key '" + key + "' is not set", "key");
    }
    node = &(*node)[(*parts)[i]];
  }
  if (!node->is_object() || node->erase(parts->back()) == 0) {
    return make_error(ErrorCode::not_found, "key '" + key + "' is not set", "key");
  }
  return Draft{std::move(tree), "delete " + key};
}

Result<ConfigStore::Draft> ConfigStore::draft_rollback(std::uint64_t version) const {
  std::shared_ptr<const json> tree;
  {
    std::lock_guard lock(mutex_);
    for (const auto& v : history_) {
      if (v.version == version) tree = v.tree;
    }
  }
  if (!tree) {
    return make_error(ErrorCode::not_found, "version " + std::to_string(version) + " is not kept", "version");
  }
  return Draft{*tree, "rollback to " + std::to_string(version)};
}

std::vector<ConfigStore::Version> ConfigStore::history() const {
  std::lock_guard lock(mutex_);
  return history_;
}

boost::asio::awaitable<std::uint64_t> ConfigStore::wait_newer(std::uint64_t after,
                                                              std::chrono::steady_clock::time_point until,
                                                              std::shared_ptr<CancelToken> cancel) {
  std::optional<WaitList::Ticket> ticket;
  {
    // Parked under the store's lock: a commit after this check finds the ticket.
    std::lock_guard lock(mutex_);
    // Below `after`: the store was reloaded from an older state (an etcd restored from a backup),
    // and `after` is a version of a timeline that is gone — nothing to wait for.
    if (history_.back().version != after || waiters_.closed()) co_return history_.back().version;
    ticket.emplace(waiters_.park());
  }
  // A cancel (the client went away) wakes this wait like a change would.
  const bool hooked = !cancel || cancel->set_hook(ticket->waker());
  if (hooked) {
    const auto left = std::max(until - std::chrono::steady_clock::now(), std::chrono::steady_clock::duration::zero());
    (void)co_await ticket->wait_for(left, sleeper_);
  }
  if (cancel) cancel->clear_hook();
  std::lock_guard lock(mutex_);
  co_return history_.back().version;
}

void ConfigStore::release_waiters() { waiters_.close(); }

void ConfigStore::on_change(std::function<void(const Version&)> callback) {
  std::lock_guard lock(mutex_);
  changed_ = std::move(callback);
}

json ConfigStore::save() const {
  const auto now = current();
  return json{{"version", now.version}, {"config", *now.tree}};
}

Result<void> ConfigStore::restore(const json& saved) {
  if (!saved.is_object() || !saved.value("version", json()).is_number_unsigned() ||
      !saved.value("config", json()).is_object()) {
    return make_error(ErrorCode::invalid_argument, "not a saved svckitd config store", "config_store");
  }
  std::lock_guard lock(mutex_);
  history_.clear();
  history_.push_back(Version{saved["version"].get<std::uint64_t>(), time_.system_now(), "load",
                             std::make_shared<const json>(saved["config"])});
  return {};
}

}  // namespace svckit::daemon
