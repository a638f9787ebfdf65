#include "daemon/instance_list_body.hpp"

#include <algorithm>

namespace svckit::daemon {

namespace {
constexpr std::string_view kListPrefix = "{\"instances\":[";
}  // namespace

InstanceListBody::InstanceListBody(std::vector<std::shared_ptr<const std::string>> records, std::string suffix)
    : records_(std::move(records)), suffix_(std::move(suffix)) {
  size_ = kListPrefix.size() + suffix_.size() + (records_.empty() ? 0 : records_.size() - 1);
  for (const auto& r : records_) size_ += r->size();
}

std::size_t InstanceListBody::held_bytes() const {
  return records_.capacity() * sizeof(records_[0]) + std::max(piece_.capacity(), kPieceBytes) + suffix_.size();
}

std::string_view InstanceListBody::next() {
  if (finished_) return {};
  piece_.clear();
  if (!started_) {
    piece_ += kListPrefix;
    started_ = true;
  }
  while (next_record_ < records_.size() && piece_.size() < kPieceBytes) {
    if (next_record_ != 0) piece_ += ',';
    piece_ += *records_[next_record_];
    records_[next_record_].reset();  // written: the registry may drop it
    ++next_record_;
  }
  if (next_record_ == records_.size() && piece_.size() < kPieceBytes) {
    piece_ += suffix_;
    finished_ = true;
  }
  return piece_;
}

}  // namespace svckit::daemon
