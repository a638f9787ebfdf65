// A span's attributes (OpenTelemetry's: a key, and a string, integer, double or bool value), kept
// packed in one buffer: each attribute is its key's size (4 bytes), its key, a type byte and its
// value (a string as its size (4 bytes) and bytes, an integer or double as 8 bytes, a bool as 1),
// in the machine's byte order. Setting an attribute copies its key and value into the buffer once
// — no string, variant or list element of its own — and a store keeps or copies them all with one
// memcpy (bytes()); reading walks the buffer and yields views into it.
//
//   trace::Attributes a;
//   a.set("http.request.method", method);            // a string_view, copied
//   a.set("http.response.status_code", std::int64_t{200});
//   if (auto v = a.find("http.request.method")) ... std::get<std::string_view>(*v) ...
//   for (const auto& [key, value] : a) ...           // in the order they were first set
//
// Keys and string values up to 4 GiB - 1 bytes each (set() and append() throw std::length_error
// past that). Value type; not thread-safe (one owner at a time, like the span that fills it).
// Views from find() and iteration live until the next change to the object (passing one back to
// set() or append() is safe). A moved-from object is empty.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace svckit::trace {

/// An attribute's value, owned (what decoders build).
using AttributeValue = std::variant<std::string, std::int64_t, double, bool>;
/// An attribute's value as a view into an Attributes buffer.
using AttributeValueView = std::variant<std::string_view, std::int64_t, double, bool>;

struct AttributeView {
  std::string_view key;
  AttributeValueView value;
};

class Attributes {
 public:
  /// Sets `key` to `value`: an attribute of that key gets the new value where it stands, else it
  /// is added at the end (OpenTelemetry's SetAttribute).
  void set(std::string_view key, std::string_view value);
  void set(std::string_view key, const char* value) { set(key, std::string_view(value)); }
  void set(std::string_view key, std::int64_t value);
  void set(std::string_view key, int value) { set(key, static_cast<std::int64_t>(value)); }
  void set(std::string_view key, double value);
  void set(std::string_view key, bool value);
  /// Adds an attribute at the end without looking for its key: for decoders of a format whose
  /// keys are unique (OTLP), where set()'s look-up would make a span of n attributes cost n².
  void append(std::string_view key, const AttributeValue& value);
  void append(const AttributeView& attribute);

  /// The value of `key`'s attribute (the first, if appended more than once).
  std::optional<AttributeValueView> find(std::string_view key) const;
  std::size_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  void clear() noexcept {
    size_ = 0;
    count_ = 0;
    key_sizes_ = 0;
  }
  /// Room for `bytes` of packed attributes without a reallocation.
  void reserve(std::size_t bytes);

  /// The packed form (the layout above), to keep or copy whole.
  std::string_view bytes() const noexcept { return {data_.get(), size_}; }
  /// Attributes from a packed form; nullopt when `bytes` is not one (a size or type byte that runs
  /// past the end, an unknown type byte).
  static std::optional<Attributes> from_bytes(std::string_view bytes);

  /// Same attributes, values and order (doubles compared bit for bit).
  friend bool operator==(const Attributes& a, const Attributes& b) noexcept {
    return a.count_ == b.count_ && a.bytes() == b.bytes();
  }

  Attributes() = default;
  Attributes(const Attributes& other);
  Attributes& operator=(const Attributes& other);
  Attributes(Attributes&& other) noexcept;
  Attributes& operator=(Attributes&& other) noexcept;
  ~Attributes() = default;

  class const_iterator {  // NOLINT(readability-identifier-naming): the standard containers' name
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = AttributeView;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = AttributeView;

    const_iterator() = default;
    AttributeView operator*() const noexcept;
    const_iterator& operator++() noexcept;
    const_iterator operator++(int) noexcept {
      auto old = *this;
      ++*this;
      return old;
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) noexcept { return a.at_ == b.at_; }

   private:
    friend class Attributes;
    explicit const_iterator(const char* at) noexcept : at_(at) {}
    const char* at_ = nullptr;
  };
  const_iterator begin() const noexcept { return const_iterator(data_.get()); }
  const_iterator end() const noexcept { return const_iterator(data_.get() + size_); }

 private:
  /// Where the value of `key`'s attribute starts (its type byte); null when there is none.
  char* value_of(std::string_view key) noexcept;
  /// Gives the attribute whose value starts at `at` the value `value`.
  void replace(char* at, const AttributeValueView& value);
  /// set() of an integer, double or bool, whose value is `size` bytes after its type byte.
  void set_fixed(std::string_view key, std::uint8_t tag, const void* value, std::size_t size);
  /// Adds a record for `key` whose value (type byte included) takes `value_bytes`: writes the key
  /// and counts it; returns where the value goes. Sizes are checked before anything is written.
  char* start_record(std::string_view key, std::size_t value_bytes);
  /// Whether `text` views this object's own bytes (which a write may move).
  bool views_own(std::string_view text) const noexcept;
  static std::uint64_t size_bit(std::size_t n) noexcept { return std::uint64_t{1} << (n % 64); }
  /// `n` more bytes at the end (growing the buffer when it must); returns where they start.
  char* extend(std::size_t n) {
    if (capacity_ - size_ < n) grow(n);
    char* at = data_.get() + size_;
    size_ += n;
    return at;
  }
  void grow(std::size_t n);

  // A buffer of its own rather than a std::string: an attribute is written with one size check
  // and plain copies (a string's appends check and grow per piece, five pieces per attribute).
  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
  std::size_t count_ = 0;
  // Bit (n % 64) set when a key of n bytes is in: set() looks for a key only when its bit is set,
  // and the few keys a span has mostly differ in size.
  std::uint64_t key_sizes_ = 0;
};

}  // namespace svckit::trace
