#include "svckit/trace/attributes.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace svckit::trace {

namespace {

enum class Tag : std::uint8_t { text = 0, integer = 1, real = 2, boolean = 3 };

template <class T>
T load(const char* p) noexcept {
  static_assert(std::is_trivially_copyable_v<T>);
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

template <class T>
char* put(char* out, const T& value) noexcept {
  static_assert(std::is_trivially_copyable_v<T>);
  std::memcpy(out, &value, sizeof value);
  return out + sizeof value;
}

char* put_text(char* out, std::string_view text) noexcept {
  if (!text.empty()) std::memcpy(out, text.data(), text.size());
  return out + text.size();
}

inline std::uint32_t checked_size(std::size_t size, const char* what) {
  if (size > std::numeric_limits<std::uint32_t>::max()) [[unlikely]] {
    throw std::length_error(std::string("trace::Attributes: ") + what + " of 4 GiB or more");
  }
  return static_cast<std::uint32_t>(size);
}

/// The bytes a value takes (type byte included); throws when a string value is too long.
std::size_t encoded_size(const AttributeValueView& value) {
  if (const auto* s = std::get_if<std::string_view>(&value))
    return 1 + 4 + std::size_t{checked_size(s->size(), "a value")};
  return std::holds_alternative<bool>(value) ? 2 : 9;
}

/// Writes a value (type byte, then the value; a string's size then its bytes) at `out`, which has
/// room for encoded_size(value); returns its end.
char* put_value(char* out, const AttributeValueView& value) noexcept {
  if (const auto* s = std::get_if<std::string_view>(&value)) {
    out = put(out, Tag::text);
    out = put(out, static_cast<std::uint32_t>(s->size()));
    return put_text(out, *s);
  }
  if (const auto* i = std::get_if<std::int64_t>(&value)) {
    out = put(out, Tag::integer);
    return put(out, *i);
  }
  if (const auto* d = std::get_if<double>(&value)) {
    out = put(out, Tag::real);
    return put(out, *d);
  }
  out = put(out, Tag::boolean);
  return put(out, static_cast<std::uint8_t>(std::get<bool>(value) ? 1 : 0));
}

/// The size of the value (type byte included) that starts at `p`, in a buffer trusted to hold it.
std::size_t value_size(const char* p) noexcept {
  switch (static_cast<Tag>(*p)) {
    case Tag::text:
      return 1 + 4 + std::size_t{load<std::uint32_t>(p + 1)};
    case Tag::boolean:
      return 2;
    default:
      return 9;
  }
}

AttributeValueView value_at(const char* p) noexcept {
  switch (static_cast<Tag>(*p)) {
    case Tag::text:
      return std::string_view(p + 5, load<std::uint32_t>(p + 1));
    case Tag::integer:
      return load<std::int64_t>(p + 1);
    case Tag::real:
      return load<double>(p + 1);
    default:
      return p[1] != 0;
  }
}

AttributeValueView view_of(const AttributeValue& value) {
  if (const auto* text = std::get_if<std::string>(&value)) return std::string_view(*text);
  if (const auto* i = std::get_if<std::int64_t>(&value)) return *i;
  if (const auto* d = std::get_if<double>(&value)) return *d;
  return std::get<bool>(value);
}

}  // namespace

AttributeView Attributes::const_iterator::operator*() const noexcept {
  const auto key_size = load<std::uint32_t>(at_);
  return AttributeView{std::string_view(at_ + 4, key_size), value_at(at_ + 4 + key_size)};
}

Attributes::const_iterator& Attributes::const_iterator::operator++() noexcept {
  const char* value = at_ + 4 + load<std::uint32_t>(at_);
  at_ = value + value_size(value);
  return *this;
}

Attributes::Attributes(const Attributes& other)
    : size_(other.size_), capacity_(other.size_), count_(other.count_), key_sizes_(other.key_sizes_) {
  if (size_ > 0) {
    data_ = std::make_unique_for_overwrite<char[]>(size_);
    std::memcpy(data_.get(), other.data_.get(), size_);
  }
}

Attributes& Attributes::operator=(const Attributes& other) {
  if (this != &other) *this = Attributes(other);
  return *this;
}

Attributes::Attributes(Attributes&& other) noexcept
    : data_(std::move(other.data_)),
      size_(std::exchange(other.size_, 0)),
      capacity_(std::exchange(other.capacity_, 0)),
      count_(std::exchange(other.count_, 0)),
      key_sizes_(std::exchange(other.key_sizes_, 0)) {}

Attributes& Attributes::operator=(Attributes&& other) noexcept {
  if (this != &other) {
    data_ = std::move(other.data_);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
    count_ = std::exchange(other.count_, 0);
    key_sizes_ = std::exchange(other.key_sizes_, 0);
  }
  return *this;
}

void Attributes::reserve(std::size_t bytes) {
  if (bytes <= capacity_) return;
  auto grown = std::make_unique_for_overwrite<char[]>(bytes);
  if (size_ > 0) std::memcpy(grown.get(), data_.get(), size_);
  data_ = std::move(grown);
  capacity_ = bytes;
}

void Attributes::grow(std::size_t n) { reserve(std::max(2 * capacity_, size_ + n)); }

bool Attributes::views_own(std::string_view text) const noexcept {
  const char* begin = data_.get();
  return begin != nullptr && std::less_equal<>()(begin, text.data()) && std::less<>()(text.data(), begin + size_);
}

char* Attributes::value_of(std::string_view key) noexcept {
  if ((key_sizes_ & size_bit(key.size())) == 0) return nullptr;
  char* p = data_.get();
  char* const stop = p + size_;
  while (p != stop) {
    const auto key_size = load<std::uint32_t>(p);
    char* at = p + 4 + key_size;
    if (key_size == key.size() && std::memcmp(p + 4, key.data(), key_size) == 0) return at;
    p = at + value_size(at);
  }
  return nullptr;
}

void Attributes::replace(char* at, const AttributeValueView& value) {
  // The bytes after the old value move by the difference. The new value and the rest are copied
  // out first: `value` may view this object's own bytes.
  std::string encoded(encoded_size(value), '\0');
  put_value(encoded.data(), value);
  const auto offset = static_cast<std::size_t>(at - data_.get());
  const std::string rest(at + value_size(at), data_.get() + size_);
  size_ = offset;
  put_text(put_text(extend(encoded.size() + rest.size()), encoded), rest);
}

// inline: the setters' one record writer, kept in them rather than called.
inline char* Attributes::start_record(std::string_view key, std::size_t value_bytes) {
  const auto key_size = checked_size(key.size(), "a key");
  char* out = put_text(put(extend(4 + std::size_t{key_size} + value_bytes), key_size), key);
  ++count_;
  key_sizes_ |= size_bit(key.size());
  return out;
}

void Attributes::set(std::string_view key, std::string_view value) {
  if (char* at = value_of(key)) return replace(at, value);
  if (views_own(key) || views_own(value)) return append(AttributeView{key, value});
  const auto value_size = checked_size(value.size(), "a value");
  put_text(put(put(start_record(key, 5 + std::size_t{value_size}), Tag::text), value_size), value);
}

void Attributes::set_fixed(std::string_view key, std::uint8_t tag, const void* value, std::size_t size) {
  if (char* at = value_of(key)) {
    if (value_size(at) == 1 + size) {  // same width: overwritten where it stands
      *at = static_cast<char>(tag);
      std::memcpy(at + 1, value, size);
      return;
    }
    std::array<char, 9> encoded{};
    encoded[0] = static_cast<char>(tag);
    std::memcpy(encoded.data() + 1, value, size);
    return replace(at, value_at(encoded.data()));
  }
  if (views_own(key)) {
    const std::string copy(key);
    return set_fixed(copy, tag, value, size);
  }
  char* out = start_record(key, 1 + size);
  *out++ = static_cast<char>(tag);
  std::memcpy(out, value, size);
}

void Attributes::set(std::string_view key, std::int64_t value) {
  set_fixed(key, static_cast<std::uint8_t>(Tag::integer), &value, sizeof value);
}
void Attributes::set(std::string_view key, double value) {
  set_fixed(key, static_cast<std::uint8_t>(Tag::real), &value, sizeof value);
}
void Attributes::set(std::string_view key, bool value) {
  const std::uint8_t byte = value ? 1 : 0;
  set_fixed(key, static_cast<std::uint8_t>(Tag::boolean), &byte, 1);
}

void Attributes::append(const AttributeView& attribute) {
  const auto* text = std::get_if<std::string_view>(&attribute.value);
  if (views_own(attribute.key) || (text != nullptr && views_own(*text))) {
    // A key or value viewing this object's own bytes, which extend() may move: copied first.
    const std::string key(attribute.key);
    const std::string copy = text != nullptr ? std::string(*text) : std::string();
    append(AttributeView{key, text != nullptr ? AttributeValueView(std::string_view(copy)) : attribute.value});
    return;
  }
  put_value(start_record(attribute.key, encoded_size(attribute.value)), attribute.value);
}

void Attributes::append(std::string_view key, const AttributeValue& value) {
  append(AttributeView{key, view_of(value)});
}

std::optional<AttributeValueView> Attributes::find(std::string_view key) const {
  for (const auto& a : *this) {
    if (a.key == key) return a.value;
  }
  return std::nullopt;
}

std::optional<Attributes> Attributes::from_bytes(std::string_view bytes) {
  Attributes out;
  const char* p = bytes.data();
  std::size_t left = bytes.size();
  const auto take = [&](std::size_t n) {
    if (n > left) return false;
    p += n;
    left -= n;
    return true;
  };
  while (left > 0) {
    if (left < 4) return std::nullopt;
    const auto key_size = load<std::uint32_t>(p);
    if (!take(4) || !take(key_size) || left < 1) return std::nullopt;
    out.key_sizes_ |= size_bit(key_size);
    const auto tag = static_cast<Tag>(*p);
    take(1);
    switch (tag) {
      case Tag::text:
        if (left < 4 || !take(4 + std::size_t{load<std::uint32_t>(p)})) return std::nullopt;
        break;
      case Tag::integer:
      case Tag::real:
        if (!take(8)) return std::nullopt;
        break;
      case Tag::boolean:
        if (!take(1) || (p[-1] != 0 && p[-1] != 1)) return std::nullopt;
        break;
      default:
        return std::nullopt;
    }
    ++out.count_;
  }
  if (!bytes.empty()) put_text(out.extend(bytes.size()), bytes);
  return out;
}

}  // namespace svckit::trace
