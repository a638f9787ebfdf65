#include "svckit/cache/stored_value.hpp"

#include <boost/beast/zlib/deflate_stream.hpp>
#include <boost/beast/zlib/error.hpp>
#include <boost/beast/zlib/inflate_stream.hpp>
#include <string_view>

namespace svckit::cache {

namespace {

namespace zlib = boost::beast::zlib;

constexpr std::string_view kCompressed{"\x1fSVZ1", 5};
constexpr std::string_view kRaw{"\x1fSVR1", 5};
constexpr std::size_t kHeader = kCompressed.size() + 4;

Error corrupt(const std::string& why) {
  return make_error(ErrorCode::protocol, "a compressed cache value " + why, "value");
}

}  // namespace

std::string encode_stored_value(std::string value, std::size_t compress_above) {
  if (compress_above > 0 && value.size() >= compress_above && value.size() <= 0xffffffffU) {
    zlib::deflate_stream deflate;
    deflate.reset(6, 15, 8, zlib::Strategy::normal);
    std::string out(kHeader + deflate.upper_bound(value.size()), '\0');
    zlib::z_params z;
    z.next_in = value.data();
    z.avail_in = value.size();
    z.next_out = out.data() + kHeader;
    z.avail_out = out.size() - kHeader;
    boost::system::error_code ec;
    deflate.write(z, zlib::Flush::finish, ec);
    if (ec == zlib::error::end_of_stream && kHeader + z.total_out < value.size()) {
      out.resize(kHeader + z.total_out);
      out.replace(0, kCompressed.size(), kCompressed);
      const auto size = static_cast<std::uint32_t>(value.size());
      for (int i = 0; i < 4; ++i) out[kCompressed.size() + i] = static_cast<char>((size >> (24 - 8 * i)) & 0xff);
      return out;
    }
  }
  if (!value.empty() && value.front() == '\x1f') return std::string(kRaw) + value;
  return value;
}

Result<std::string> decode_stored_value(std::string stored, std::size_t max_bytes) {
  const std::string_view view(stored);
  if (view.starts_with(kRaw)) return stored.substr(kRaw.size());
  if (!view.starts_with(kCompressed)) return stored;
  if (stored.size() < kHeader) return corrupt("is cut short");
  std::uint32_t size = 0;
  for (int i = 0; i < 4; ++i) size = (size << 8) | static_cast<unsigned char>(stored[kCompressed.size() + i]);
  if (size > max_bytes) return corrupt("says it holds " + std::to_string(size) + " bytes, over the limit");
  // One byte of room more than recorded: the stream's end is then seen with space left, and a
  // stream that inflates to more than it said fills it and is refused. Beast's inflater looks a
  // few bytes ahead before it sees the final block's end, so the input gets zero padding (a valid
  // stream stops before it; all of the stored bytes must have been read).
  constexpr std::size_t kPadding = 8;
  std::string input = stored.substr(kHeader);
  input.append(kPadding, '\0');
  std::string out(std::size_t{size} + 1, '\0');
  zlib::inflate_stream inflate;
  inflate.reset(15);
  zlib::z_params z;
  z.next_in = input.data();
  z.avail_in = input.size();
  z.next_out = out.data();
  z.avail_out = out.size();
  boost::system::error_code ec;
  inflate.write(z, zlib::Flush::finish, ec);
  if (ec != zlib::error::end_of_stream || z.total_out != size || z.avail_in > kPadding) return corrupt("is corrupt");
  out.resize(size);
  return out;
}

}  // namespace svckit::cache
