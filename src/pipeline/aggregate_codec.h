// The changelog value of one aggregate series (store::aggregate_state): a versioned binary format
// owned here, because the pipeline is what writes the changelog (through the transport's snapshot
// hook) and reads it back (restore hook). Pure functions: thread-safe, no I/O.
//
// Format version 1, little-endian, fixed widths; a string is a u32 byte length and the bytes:
//
//   u8 version (1) | u8 type (1 counter, 2 histogram)
//   string app_id | string name | string profile_id
//   u16 tag count, then per tag: string key, string value   (original keys, as received)
//   i64 timestamp_ms | i32 partition | i64 ingest_ms | i64 next_offset
//   f64 sum | u64 count
//   u16 bound count, f64 per bound | u16 bucket count, u64 per bucket (non-cumulative, last +Inf)
//   u32 CRC-32 (IEEE 802.3) of every byte before it
//
// A reader rejects (never guesses at) a value of another version, one that ends early or goes on
// after the checksum, whose checksum does not match, or whose fields are not an aggregate: type
// gauge, empty app_id or name, more than kMaxStateTags tags or kMaxStateBounds bounds, a string
// longer than kMaxStateString bytes, a non-finite or negative (counter) sum, a negative
// next_offset; for a counter bounds or buckets present; for a histogram bounds not finite and
// strictly increasing, buckets not bounds + 1, or buckets not summing to count.
// A later version adds a new version byte; readers of version 1 reject it (the restore then
// rebuilds that series from the partition's records, see docs/ARCHITECTURE.md, "Restore").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "store/series_store.h"
#include "util/result.h"

namespace mca::pipeline {

inline constexpr std::uint8_t kStateFormatVersion = 1;
inline constexpr std::size_t kMaxStateString = 64 * 1024;
inline constexpr std::size_t kMaxStateTags = 1024;
inline constexpr std::size_t kMaxStateBounds = 64;

enum class state_errc {
  unknown_version = 1,  // empty, or a version byte this reader does not know
  truncated,            // shorter than a checksum, or the fields end before/after the checksum
  checksum_mismatch,    // the bytes were changed or cut short
  invalid,              // read fine, but not an aggregate (see above)
};
const std::error_category& state_category();
inline std::error_code make_error_code(state_errc e) {
  return {static_cast<int>(e), state_category()};
}

// Encodes `s` (bounds and buckets as given; the caller's state is valid).
std::string encode_state(const store::aggregate_state& s);

// Decodes a value encode_state() wrote; errors as above, the message says which field.
util::result<store::aggregate_state> decode_state(std::string_view bytes);

// CRC-32 (IEEE 802.3, reflected, as zlib's crc32) of `bytes`.
std::uint32_t crc32(std::string_view bytes);

}  // namespace mca::pipeline

template <>
struct std::is_error_code_enum<mca::pipeline::state_errc> : std::true_type {};
