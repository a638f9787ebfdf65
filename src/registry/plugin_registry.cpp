#include "svckit/registry/plugin_registry.hpp"

namespace svckit {

RegistryPlugins::Builder& RegistryPlugins::Builder::add(std::string scheme, std::uint16_t default_port,
                                                        RegistryFactory factory) {
  factories_[std::move(scheme)] = {default_port, std::move(factory)};
  return *this;
}

RegistryPlugins RegistryPlugins::Builder::build() && {
  RegistryPlugins plugins;
  plugins.factories_ = std::move(factories_);
  return plugins;
}

Result<std::unique_ptr<Registry>> RegistryPlugins::create(std::string_view url, const RegistryDeps& deps) const {
  const auto sep = url.find("://");
  const auto scheme = std::string(url.substr(0, sep));
  auto it = factories_.find(scheme);
  if (sep == std::string_view::npos || it == factories_.end()) {
    std::string known;
    for (const auto& s : schemes()) known += (known.empty() ? "" : ", ") + s + "://";
    return make_error(ErrorCode::invalid_argument,
                      "unsupported registry URL '" + std::string(url) + "'; known backends: " + known, "registry");
  }
  auto parsed = net::parse_backend_url(url, it->second.first);
  if (!parsed) {
    auto e = parsed.error();
    e.field = "registry";
    return e;
  }
  return it->second.second(*parsed, deps);
}

std::vector<std::string> RegistryPlugins::schemes() const {
  std::vector<std::string> out;
  for (const auto& [scheme, f] : factories_) out.push_back(scheme);
  return out;
}

void register_core_plugins(RegistryPlugins::Builder& builder) {
  builder.add("memory", 0, memory_registry_factory());
  builder.add("svckitd", 8500, svckitd_registry_factory());
  builder.add("etcd", 2379, etcd_registry_factory());
  builder.add("consul", 8500, consul_registry_factory());
  builder.add("eureka", 8761, eureka_registry_factory());
  builder.add("nacos", 8848, nacos_registry_factory());
  builder.add("file", 0, file_registry_factory());
  builder.add("dns+srv", 53, dns_srv_registry_factory());
  builder.add("dns", 53, dns_registry_factory());
}

}  // namespace svckit
