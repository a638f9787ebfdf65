// PluginTable: the one shape of every plug-in family chosen by URL — event buses, lock backends,
// remote config sources (registries, balancers and health checkers follow the same Builder ->
// frozen pattern with tables of their own). A Builder adds one entry per scheme: its default port,
// the URL options it knows, and a factory; build() freezes the table. create() parses the URL,
// refuses an unknown scheme (listing the known ones) and any option the entry does not list
// (naming it, through check_url_options), and only then calls the factory, so no backend can
// forget the check and a typo never passes silently. No static registration, no global state.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "svckit/net/backend_url.hpp"

namespace svckit::net {

/// Immutable after build(); create() is thread-safe. `Product` is what a factory returns (e.g. a
/// std::unique_ptr of the family's interface); `Deps` what it may use.
template <class Product, class Deps>
class PluginTable {
 public:
  /// `text` is the URL as given (for checks that need it verbatim); `url` is it parsed.
  using Factory = std::function<Result<Product>(const BackendUrl& url, std::string_view text, const Deps& deps)>;

  struct Entry {
    std::uint16_t default_port = 0;
    std::vector<std::string_view> options;  // the URL options the backend reads; any other is refused
    Factory factory;
  };

  class Builder {
   public:
    /// `family` names the kind in messages ("event bus", "lock backend", ...).
    explicit Builder(std::string family) : family_(std::move(family)) {}
    /// Adds (or replaces) the backend of `scheme`.
    Builder& add(std::string scheme, Entry entry) {
      entries_[std::move(scheme)] = std::move(entry);
      return *this;
    }
    PluginTable build() && { return PluginTable(std::move(family_), std::move(entries_)); }

   private:
    std::string family_;
    std::map<std::string, Entry> entries_;
  };

  /// Errors: invalid_argument with field "url" for an unknown scheme or a URL that does not parse,
  /// field = the option for an unknown option; else whatever the factory says.
  Result<Product> create(std::string_view text, const Deps& deps) const {
    const auto sep = text.find("://");
    const auto entry = sep == std::string_view::npos ? entries_.end() : entries_.find(std::string(text.substr(0, sep)));
    if (entry == entries_.end()) {
      std::string known;
      for (const auto& [scheme, e] : entries_) known += (known.empty() ? "" : ", ") + scheme + "://";
      return make_error(ErrorCode::invalid_argument,
                        "'" + std::string(text) + "' is not a known " + family_ + " URL; expected " + known, "url");
    }
    auto parsed = parse_backend_url(text, entry->second.default_port);
    if (!parsed) return parsed.error();
    if (auto ok = check_url_options(*parsed, entry->first + ":// " + family_, entry->second.options); !ok) {
      return ok.error();
    }
    return entry->second.factory(*parsed, text, deps);
  }

  std::vector<std::string> schemes() const {
    std::vector<std::string> out;
    for (const auto& [scheme, e] : entries_) out.push_back(scheme);
    return out;
  }

 private:
  PluginTable(std::string family, std::map<std::string, Entry> entries)
      : family_(std::move(family)), entries_(std::move(entries)) {}

  std::string family_;
  std::map<std::string, Entry> entries_;
};

/// `options` followed by `more` (an entry's list: the shared connection options plus its own).
inline std::vector<std::string_view> url_options(std::vector<std::string_view> options,
                                                 std::initializer_list<std::string_view> more) {
  options.insert(options.end(), more.begin(), more.end());
  return options;
}

}  // namespace svckit::net
