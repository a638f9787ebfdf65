#include "daemon/consul_health_cache.hpp"

namespace svckit::daemon {

namespace {
constexpr std::size_t kDigits = 20;  // of both placeholders
}  // namespace

std::shared_ptr<const ConsulHealthCache::Piece> ConsulHealthCache::build(const ServiceInstance& instance) const {
  auto piece = std::make_shared<Piece>();
  piece->instance = instance;
  piece->text = consul::health_entry(instance, node_, kPlaceholder).dump();
  const auto other = consul::health_entry(instance, node_, kPlaceholderToo).dump();
  for (std::size_t i = 0; i < piece->text.size() && i < other.size(); ++i) {
    if (piece->text[i] != other[i] && i + 1 >= kDigits) piece->at.push_back(i + 1 - kDigits);
  }
  return piece;
}

std::string ConsulHealthCache::answer(const std::string& service, const std::vector<ServiceInstance>& instances,
                                      std::uint64_t index, bool complete) {
  // The pieces this answer can reuse, looked up under the lock; the others are built outside it.
  std::vector<std::shared_ptr<const Piece>> pieces(instances.size());
  {
    std::lock_guard lock(mutex_);
    if (auto s = pieces_.find(service); s != pieces_.end()) {
      for (std::size_t i = 0; i < instances.size(); ++i) {
        auto it = s->second.find(instances[i].id);
        if (it != s->second.end() && it->second->instance == instances[i]) pieces[i] = it->second;
      }
    }
  }
  bool built = false;
  for (std::size_t i = 0; i < instances.size(); ++i) {
    if (pieces[i]) continue;
    pieces[i] = build(instances[i]);
    built = true;
  }
  if (built || complete) {
    std::lock_guard lock(mutex_);
    auto& mine = pieces_[service];
    count_ -= mine.size();
    if (complete) mine.clear();  // only what the service holds now
    for (const auto& piece : pieces) mine.insert_or_assign(piece->instance.id, piece);
    count_ += mine.size();
    // Services gone from the registry leave pieces behind: start over when they pile up.
    if (count_ > 4 * instances.size() + 100'000) {
      pieces_.clear();
      count_ = 0;
    }
  }
  const auto actual = std::to_string(index);
  std::size_t size = 2;
  for (const auto& piece : pieces) size += piece->text.size() + 1;
  std::string out;
  out.reserve(size);
  out += '[';
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    if (i > 0) out += ',';
    const auto& text = pieces[i]->text;
    std::size_t from = 0;
    for (const auto at : pieces[i]->at) {
      out.append(text, from, at - from);
      out += actual;
      from = at + kDigits;
    }
    out.append(text, from, std::string::npos);
  }
  out += ']';
  return out;
}

}  // namespace svckit::daemon
