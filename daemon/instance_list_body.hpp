// InstanceListBody: the body of GET /v1/services/{service}/instances written piece by piece from
// the registry's shared JSON records, so a client that reads slowly (or never) holds one pointer
// per instance and one piece, not a copy of the list.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "svckit/http/types.hpp"

namespace svckit::daemon {

/// {"instances":[<records>],"index":N,"service":"<name>"}, the same bytes the buffered answer has.
/// Not thread-safe (one connection's strand).
class InstanceListBody final : public http::AnswerSource {
 public:
  /// Pieces of about this many bytes (a record larger than it is one piece by itself).
  static constexpr std::size_t kPieceBytes = 64 << 10;

  InstanceListBody(std::vector<std::shared_ptr<const std::string>> records, std::string suffix);

  std::uint64_t size() const override { return size_; }
  std::size_t held_bytes() const override;
  std::string_view next() override;

 private:
  std::vector<std::shared_ptr<const std::string>> records_;
  std::string suffix_;  // ],"index":N,"service":"..."}
  std::uint64_t size_ = 0;
  std::size_t next_record_ = 0;
  bool started_ = false;
  bool finished_ = false;
  std::string piece_;
};

}  // namespace svckit::daemon
