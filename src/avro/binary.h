// Avro binary primitives shared by the fast Metric codec and the writer-schema validator that
// guards avro-c's reader (resolving_decoder). Internal to src/avro; pure functions on byte ranges.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>

#include "avro/metric_codec.h"

namespace mca::avro::binary {

// A read position in untrusted input. Every read checks `end` first.
struct cursor {
  const std::uint8_t* p;
  const std::uint8_t* end;

  explicit cursor(std::string_view s)
      : p(reinterpret_cast<const std::uint8_t*>(s.data())), end(p + s.size()) {}
  std::size_t remaining() const { return static_cast<std::size_t>(end - p); }
};

// Reads a zigzag varint long. At most 10 bytes; the 10th may only carry bit 63, anything beyond
// is errc::corrupt (overflow / overlong). Input ending inside the varint is errc::truncated.
inline errc read_long(cursor& c, std::int64_t& out) {
  std::uint64_t v = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (c.p == c.end) return errc::truncated;
    const std::uint8_t b = *c.p++;
    if (shift == 63 && b > 1) return errc::corrupt;
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      out = static_cast<std::int64_t>((v >> 1) ^ (~(v & 1) + 1));
      return errc{};
    }
  }
  return errc::corrupt;
}

// Reads a zigzag varint int (at most 5 bytes, value within int32).
inline errc read_int(cursor& c, std::int32_t& out) {
  const std::uint8_t* start = c.p;
  std::int64_t v = 0;
  if (errc e = read_long(c, v); e != errc{}) return e;
  if (c.p - start > 5 || v < INT32_MIN || v > INT32_MAX) return errc::corrupt;
  out = static_cast<std::int32_t>(v);
  return errc{};
}

// Reads a length prefix (string, bytes) and checks the bytes are there: negative is corrupt,
// past the end is truncated. Nothing is allocated from the declared length.
inline errc read_length(cursor& c, std::size_t& out) {
  std::int64_t len = 0;
  if (errc e = read_long(c, len); e != errc{}) return e;
  if (len < 0) return errc::corrupt;
  if (static_cast<std::uint64_t>(len) > c.remaining()) return errc::truncated;
  out = static_cast<std::size_t>(len);
  return errc{};
}

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(const std::uint8_t* p, std::size_t n);

// The header of one block of an array or map: its item count (0 = the end of the blocks), and for
// a negative count (the spec's "count, then byte size" form) where the block must end; otherwise
// `block_end` is nullptr.
inline errc read_block_header(cursor& c, std::int64_t& count, const std::uint8_t*& block_end) {
  block_end = nullptr;
  if (errc e = read_long(c, count); e != errc{}) return e;
  if (count >= 0) return errc{};
  if (count == std::numeric_limits<std::int64_t>::min()) return errc::corrupt;
  count = -count;
  std::size_t bytes = 0;
  if (errc e = read_length(c, bytes); e != errc{}) return e;
  block_end = c.p + bytes;
  return errc{};
}

}  // namespace mca::avro::binary
