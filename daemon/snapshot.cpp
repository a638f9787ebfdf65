#include "daemon/snapshot.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "daemon/persister.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/registry/registry_json.hpp"

namespace svckit::daemon {

Result<void> save_snapshot_json(const std::filesystem::path& file, std::uint64_t index, const std::string& records) {
  std::string text;
  text.reserve(records.size() + 64);
  text += "{\"format\":1,\"index\":";
  text += std::to_string(index);
  text += ",\"instances\":[\n";
  text += records;
  text += "\n]}\n";
  return write_file_durably(file, text);
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
