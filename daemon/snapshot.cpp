#include "daemon/snapshot.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "svckit/core/instance_json.hpp"
#include "svckit/registry/registry_json.hpp"

namespace svckit::daemon {

Result<void> save_snapshot(const std::filesystem::path& file, const Snapshot& snapshot) {
  nlohmann::json instances = nlohmann::json::array();
  for (const auto& in : snapshot.instances) instances.push_back(to_json(in));
  const auto text = nlohmann::json{{"format", 1}, {"index", snapshot.index}, {"instances", instances}}.dump(1);
  const auto tmp = file.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return make_error(ErrorCode::unavailable, "cannot write " + tmp, "snapshot_file");
  std::size_t written = 0;
  while (written < text.size()) {
    const auto n = ::write(fd, text.data() + written, text.size() - written);
    if (n <= 0) {
      ::close(fd);
      return make_error(ErrorCode::unavailable, "write to " + tmp + " failed", "snapshot_file");
    }
    written += static_cast<std::size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  std::error_code ec;
  std::filesystem::rename(tmp, file, ec);
  if (ec)
    return make_error(ErrorCode::unavailable, "cannot replace " + file.string() + ": " + ec.message(), "snapshot_file");
  return {};
}

Result<Snapshot> load_snapshot(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return Snapshot{};
  std::stringstream ss;
  ss << in.rdbuf();
  auto fail = [&](const Error& e) {
    return make_error(ErrorCode::invalid_argument, "snapshot " + file.string() + ": " + e.message, e.field);
  };
  auto json = parse_json(ss.str());
  if (!json) return fail(json.error());
  if (!json->is_object() || json->value("format", 0) != 1 || !(*json)["index"].is_number_unsigned()) {
    return fail(make_error(ErrorCode::invalid_argument, "not a svckitd snapshot (format 1)", "format"));
  }
  Snapshot out;
  out.index = (*json)["index"].get<std::uint64_t>();
  auto instances = instances_from_json(*json, "instances");
  if (!instances) return fail(instances.error());
  out.instances = std::move(*instances);
  return out;
}

}  // namespace svckit::daemon
