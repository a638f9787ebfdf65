#include "svckit/discovery/instance_selection.hpp"

namespace svckit {

std::string_view to_string(InstanceSelection selection) noexcept {
  switch (selection) {
    case InstanceSelection::weighted:
      return "weighted";
    case InstanceSelection::round_robin:
      return "round_robin";
    case InstanceSelection::random:
      return "random";
  }
  return "weighted";
}

Result<InstanceSelection> parse_instance_selection(std::string_view text, const std::string& field) {
  for (auto s : {InstanceSelection::weighted, InstanceSelection::round_robin, InstanceSelection::random}) {
    if (text == to_string(s)) return s;
  }
  return make_error(ErrorCode::invalid_argument,
                    "must be weighted, round_robin or random; got '" + std::string(text) + "'", field);
}

namespace {
bool takes_traffic(const ServiceInstance& in) { return in.status == InstanceStatus::healthy && in.weight > 0; }
}  // namespace

const ServiceInstance* InstanceSelector::pick(const std::string& service,
                                              const std::vector<ServiceInstance>& instances) {
  std::uint64_t total = 0;
  std::size_t eligible = 0;
  for (const auto& in : instances) {
    if (!takes_traffic(in)) continue;
    total += static_cast<std::uint64_t>(in.weight);
    ++eligible;
  }
  if (eligible == 0) return nullptr;
  switch (selection_) {
    case InstanceSelection::round_robin: {
      auto n = turn_.fetch_add(1, std::memory_order_relaxed) % eligible;
      for (const auto& in : instances) {
        if (takes_traffic(in) && n-- == 0) return &in;
      }
      return nullptr;
    }
    case InstanceSelection::random: {
      auto point = random_.uniform(total);
      for (const auto& in : instances) {
        if (!takes_traffic(in)) continue;
        const auto w = static_cast<std::uint64_t>(in.weight);
        if (point < w) return &in;
        point -= w;
      }
      return nullptr;
    }
    case InstanceSelection::weighted:
      break;
  }
  // Smooth weighted round robin: every eligible instance gains its weight, the one with the most
  // is picked and loses the total. Ids that left are dropped when the table grows past the list.
  std::lock_guard lock(mutex_);
  auto& current = current_[service];
  if (current.size() > 2 * eligible) {
    std::map<std::string, std::int64_t> kept;
    for (const auto& in : instances) {
      if (auto it = current.find(in.id); it != current.end()) kept.insert(*it);
    }
    current = std::move(kept);
  }
  const ServiceInstance* best = nullptr;
  std::int64_t best_weight = 0;
  for (const auto& in : instances) {
    if (!takes_traffic(in)) continue;
    auto& w = current[in.id];
    w += in.weight;
    if (best == nullptr || w > best_weight) {
      best = &in;
      best_weight = w;
    }
  }
  current[best->id] -= static_cast<std::int64_t>(total);
  return best;
}

}  // namespace svckit
