#include "svckit/core/service_instance.hpp"

#include <algorithm>

#include "core/enum_names.hpp"

namespace svckit {
namespace {

constexpr detail::EnumNames<InstanceStatus, 5> kStatusNames{{
    {InstanceStatus::starting, "starting"},
    {InstanceStatus::healthy, "healthy"},
    {InstanceStatus::unhealthy, "unhealthy"},
    {InstanceStatus::maintenance, "maintenance"},
    {InstanceStatus::down, "down"},
}};

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

Result<void> validate_identifier(std::string_view value, std::string_view field, std::string_view what,
                                 std::string_view extra_chars) {
  auto fail = [&](const std::string& message) {
    return make_error(ErrorCode::invalid_argument, std::string(what) + " " + message, std::string(field));
  };
  if (value.empty()) return fail("must not be empty");
  if (value.size() > InstanceLimits::kMaxNameLength) {
    return fail("is longer than " + std::to_string(InstanceLimits::kMaxNameLength) + " characters");
  }
  if (!is_alnum(value.front())) return fail("must start with a letter or digit");
  for (char c : value) {
    if (!is_alnum(c) && extra_chars.find(c) == std::string_view::npos) {
      return fail("contains '" + std::string(1, c) + "'; allowed: letters, digits and '" + std::string(extra_chars) +
                  "'");
    }
  }
  return {};
}

/// RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF (what JSON encoders require).
bool valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t extra = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the first continuation byte
    if (c < 0x80) {
      extra = 0;
    } else if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (text.size() - i <= extra) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto b = static_cast<unsigned char>(text[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) return false;
    }
    i += extra + 1;
  }
  return true;
}

bool valid_host_char(char c) { return is_alnum(c) || c == '.' || c == '-' || c == ':' || c == '_' || c == '%'; }

}  // namespace

std::string_view to_string(InstanceStatus status) noexcept { return detail::name_of(kStatusNames, status); }

std::optional<InstanceStatus> parse_instance_status(std::string_view text) noexcept {
  return detail::parse_name(kStatusNames, text);
}

std::string ServiceInstance::authority() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string ServiceInstance::base_url() const { return scheme + "://" + authority(); }

bool ServiceInstance::has_tag(std::string_view tag) const { return std::binary_search(tags.begin(), tags.end(), tag); }

void ServiceInstance::normalize() {
  if (id.empty() && !host.empty() && port > 0) id = host + ":" + std::to_string(port);
  std::sort(tags.begin(), tags.end());
  tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
}

Result<void> validate_service_name(std::string_view name, std::string_view field) {
  return validate_identifier(name, field, "service name", "._-");
}

Result<void> validate_instance_id(std::string_view id, std::string_view field) {
  return validate_identifier(id, field, "instance id", "._-:");
}

Result<void> validate(const ServiceInstance& in) {
  if (auto r = validate_service_name(in.service); !r) return r;
  if (auto r = validate_instance_id(in.id); !r) return r;
  if (in.host.empty()) return make_error(ErrorCode::invalid_argument, "host must not be empty", "host");
  if (in.host.size() > 253 || !std::all_of(in.host.begin(), in.host.end(), valid_host_char)) {
    return make_error(ErrorCode::invalid_argument, "host '" + in.host + "' is not a host name or IP address", "host");
  }
  if (in.port < 1 || in.port > 65535) {
    return make_error(ErrorCode::invalid_argument, "port must be in 1..65535, got " + std::to_string(in.port), "port");
  }
  if (in.scheme != "http" && in.scheme != "https") {
    return make_error(ErrorCode::invalid_argument, "scheme must be 'http' or 'https', got '" + in.scheme + "'",
                      "scheme");
  }
  if (in.weight < InstanceLimits::kMinWeight || in.weight > InstanceLimits::kMaxWeight) {
    return make_error(ErrorCode::invalid_argument, "weight must be in 0..10000, got " + std::to_string(in.weight),
                      "weight");
  }
  if (!in.zone.empty()) {
    if (auto r = validate_identifier(in.zone, "zone", "zone", "._-"); !r) return r;
  }
  if (in.tags.size() > InstanceLimits::kMaxTags) {
    return make_error(ErrorCode::invalid_argument, "at most 64 tags are allowed", "tags");
  }
  for (const auto& tag : in.tags) {
    if (tag.empty() || tag.size() > InstanceLimits::kMaxTagLength || tag.find(',') != std::string::npos ||
        !valid_utf8(tag)) {
      return make_error(ErrorCode::invalid_argument, "tag '" + tag + "' must be 1..128 characters without ','", "tags");
    }
  }
  if (in.metadata.size() > InstanceLimits::kMaxMetadataEntries) {
    return make_error(ErrorCode::invalid_argument, "at most 64 metadata entries are allowed", "metadata");
  }
  for (const auto& [key, value] : in.metadata) {
    if (auto r = validate_identifier(key, "metadata." + key, "metadata key", "._-/"); !r) return r;
    if (!valid_utf8(value)) {
      return make_error(ErrorCode::invalid_argument, "metadata value is not valid UTF-8", "metadata." + key);
    }
    if (value.size() > InstanceLimits::kMaxMetadataValueLength) {
      return make_error(ErrorCode::invalid_argument, "metadata value is longer than 1024 characters",
                        "metadata." + key);
    }
  }
  if (!in.health_check_path.empty() && (in.health_check_path.front() != '/' || !valid_utf8(in.health_check_path))) {
    return make_error(ErrorCode::invalid_argument, "health_check_path must be a UTF-8 path starting with '/'",
                      "health_check_path");
  }
  if (in.checks.size() > HealthCheckLimits::kMaxChecks) {
    return make_error(ErrorCode::invalid_argument, "at most 8 checks are allowed", "checks");
  }
  for (std::size_t i = 0; i < in.checks.size(); ++i) {
    if (auto r = validate(in.checks[i], "checks[" + std::to_string(i) + "]"); !r) return r;
  }
  if (in.ttl.count() < 0) return make_error(ErrorCode::invalid_argument, "ttl must not be negative", "ttl");
  if (in.ttl.count() > 0 && in.ttl < std::chrono::seconds(1)) {
    return make_error(ErrorCode::invalid_argument, "ttl must be at least 1s (or 0 for persistent)", "ttl");
  }
  return {};
}

}  // namespace svckit
