#include "daemon/consul_health_cache.hpp"

#include <algorithm>
#include <iterator>

namespace svckit::daemon {

namespace {
constexpr std::size_t kDigits = 20;  // of both placeholders
}  // namespace

std::shared_ptr<const ConsulHealthCache::Piece> ConsulHealthCache::build(const ServiceInstance& instance,
                                                                         std::string record) const {
  auto piece = std::make_shared<Piece>();
  piece->id = instance.id;
  piece->record = std::move(record);
  piece->text = consul::health_entry(instance, node_, kPlaceholder).dump();
  const auto other = consul::health_entry(instance, node_, kPlaceholderToo).dump();
  for (std::size_t i = 0; i < piece->text.size() && i < other.size(); ++i) {
    if (piece->text[i] != other[i] && i + 1 >= kDigits) piece->at.push_back(i + 1 - kDigits);
  }
  return piece;
}

std::string ConsulHealthCache::answer(const std::string& service, const ForEach& for_each, std::uint64_t index,
                                      bool complete) {
  std::shared_ptr<const Pieces> known;
  {
    std::lock_guard lock(mutex_);
    if (auto s = pieces_.find(service); s != pieces_.end()) known = s->second;
  }
  // While the registry is visited: reuse what is unchanged, copy only what changed (built after).
  Pieces pieces;
  struct Missing {
    std::size_t at;
    ServiceInstance instance;
    std::string record;
  };
  std::vector<Missing> missing;
  for_each([&](const ServiceInstance& in, const std::string& record) {
    if (known) {
      const auto it = std::lower_bound(known->begin(), known->end(), in.id,
                                       [](const auto& piece, const std::string& id) { return piece->id < id; });
      if (it != known->end() && (*it)->id == in.id && (*it)->record == record) {
        pieces.push_back(*it);
        return;
      }
    }
    missing.push_back({pieces.size(), in, record});
    pieces.emplace_back();
  });
  for (auto& m : missing) pieces[m.at] = build(m.instance, std::move(m.record));
  // A new snapshot when something was built, or when a complete answer has fewer entries than the
  // snapshot (instances gone).
  if (!missing.empty() || (complete && (!known || known->size() != pieces.size()))) {
    auto mine = std::make_shared<Pieces>(pieces);
    const auto by_id = [](const auto& a, const auto& b) { return a->id < b->id; };
    if (!std::is_sorted(mine->begin(), mine->end(), by_id)) std::sort(mine->begin(), mine->end(), by_id);
    if (!complete && known) {  // a filtered answer: the others stay as they were
      Pieces merged;
      merged.reserve(known->size() + mine->size());
      std::set_union(mine->begin(), mine->end(), known->begin(), known->end(), std::back_inserter(merged), by_id);
      *mine = std::move(merged);
    }
    std::lock_guard lock(mutex_);
    auto& slot = pieces_[service];
    count_ -= slot ? slot->size() : 0;
    count_ += mine->size();
    slot = std::move(mine);
    // Services gone from the registry leave pieces behind: start over when they pile up.
    if (count_ > 4 * pieces.size() + 100'000) {
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
