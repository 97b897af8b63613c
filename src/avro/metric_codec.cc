#include "avro/metric_codec.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

#include "avro/binary.h"
#include "util/error_table.h"

namespace mca::avro {

namespace {

// Decoding problems of records already in the log: none ends a request (500 if one ever did).
constexpr util::error_row kErrors[] = {
    {errc::invalid_schema, "invalid schema"},
    {errc::truncated, "truncated Avro data"},
    {errc::corrupt, "corrupt Avro data"},
    {errc::bad_magic, "not a Confluent-framed message (bad magic byte)"},
    {errc::resolution_failed, "writer schema cannot be read as the reader schema"},
    {errc::unknown_type, "unknown metric type"},
};

// ---- encoding ---------------------------------------------------------------------------------

constexpr std::uint64_t zigzag(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}

constexpr std::size_t varint_size(std::uint64_t v) {
  // 1 + floor(bits / 7), with bits = 0 treated as 1.
  return (static_cast<std::size_t>(std::bit_width(v | 1)) + 6) / 7;
}

constexpr std::size_t long_size(std::int64_t v) { return varint_size(zigzag(v)); }

constexpr std::size_t string_size(std::size_t n) {
  return long_size(static_cast<std::int64_t>(n)) + n;
}

inline char* put_varint(char* p, std::uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

inline char* put_long(char* p, std::int64_t v) { return put_varint(p, zigzag(v)); }

inline char* put_string(char* p, std::string_view s) {
  p = put_long(p, static_cast<std::int64_t>(s.size()));
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

inline char* put_double(char* p, double d) {
  std::uint64_t bits = std::bit_cast<std::uint64_t>(d);
  for (int i = 0; i < 8; ++i) {
    p[i] = static_cast<char>(bits & 0xff);
    bits >>= 8;
  }
  return p + 8;
}

std::size_t encoded_size(const model::metric& m, wire_schema w) {
  std::size_t n = string_size(m.name.size()) + 8 + long_size(m.timestamp_ms) +
                  string_size(m.profile_id.size()) + 1;  // + the map's 0 terminator
  if (w == wire_schema::v2) n += string_size(model::to_string(m.type).size());
  if (!m.tags.empty()) {
    n += long_size(static_cast<std::int64_t>(m.tags.size()));
    for (const auto& [k, v] : m.tags) n += string_size(k.size()) + string_size(v.size());
  }
  return n;
}

// Writes exactly encoded_size(m, w) bytes at p.
void encode_into(const model::metric& m, wire_schema w, char* p) {
  p = put_string(p, m.name);
  p = put_double(p, m.value);
  p = put_long(p, m.timestamp_ms);
  if (!m.tags.empty()) {
    p = put_long(p, static_cast<std::int64_t>(m.tags.size()));
    for (const auto& [k, v] : m.tags) {
      p = put_string(p, k);
      p = put_string(p, v);
    }
  }
  *p++ = 0;
  p = put_string(p, m.profile_id);
  if (w == wire_schema::v2) put_string(p, model::to_string(m.type));
}

// ---- decoding ---------------------------------------------------------------------------------

using binary::cursor;

util::error fail(errc e, const char* what) {
  return util::error(e, std::string(what) + ": " + category().message(static_cast<int>(e)));
}

errc read_string(cursor& c, std::string& out) {
  std::size_t n = 0;
  if (errc e = binary::read_length(c, n); e != errc{}) return e;
  if (!binary::valid_utf8(c.p, n)) return errc::corrupt;
  out.assign(reinterpret_cast<const char*>(c.p), n);
  c.p += n;
  return errc{};
}

errc read_double(cursor& c, double& out) {
  if (c.remaining() < 8) return errc::truncated;
  std::uint64_t bits = 0;
  for (int i = 7; i >= 0; --i) bits = (bits << 8) | c.p[i];
  c.p += 8;
  out = std::bit_cast<double>(bits);
  return errc{};
}

// A map<string> in any number of blocks; a negative count is followed by the block's byte size,
// which must match what the block holds. Reuses the tags already in `tags` (their strings keep
// their capacity) and drops any left over.
errc read_tags(cursor& c, std::vector<model::tag>& tags) {
  std::size_t n = 0;
  for (;;) {
    std::int64_t count = 0;
    const std::uint8_t* block_end = nullptr;
    if (errc e = binary::read_block_header(c, count, block_end); e != errc{}) return e;
    if (count == 0) break;
    // Each entry takes at least two bytes (two length prefixes): a count the input cannot hold
    // is rejected before anything is reserved for it, and the reservation is capped as well so
    // a hostile count costs no more than the entries actually present.
    if (static_cast<std::uint64_t>(count) > c.remaining() / 2) return errc::truncated;
    tags.reserve(n + std::min<std::size_t>(static_cast<std::size_t>(count), 128));
    for (std::int64_t i = 0; i < count; ++i, ++n) {
      if (n == tags.size()) tags.emplace_back();
      auto& [k, v] = tags[n];
      if (errc e = read_string(c, k); e != errc{}) return e;
      if (errc e = read_string(c, v); e != errc{}) return e;
    }
    if (block_end != nullptr && c.p != block_end) return errc::corrupt;
  }
  tags.resize(n);
  return errc{};
}

// A string's bytes as a view into the input (checked like read_string), for values only compared.
errc read_view(cursor& c, std::string_view& out) {
  std::size_t n = 0;
  if (errc e = binary::read_length(c, n); e != errc{}) return e;
  if (!binary::valid_utf8(c.p, n)) return errc::corrupt;
  out = {reinterpret_cast<const char*>(c.p), n};
  c.p += n;
  return errc{};
}

}  // namespace

const std::error_category& category() { return util::category_of<kErrors>("avro"); }

void encode(const model::metric& m, std::string& out, wire_schema w) {
  const std::size_t at = out.size();
  out.resize(at + encoded_size(m, w));
  encode_into(m, w, out.data() + at);
}

util::result<void> decode_into(std::string_view body, wire_schema w, model::metric& m) {
  cursor c(body);
  if (errc e = read_string(c, m.name); e != errc{}) return fail(e, "field name");
  if (errc e = read_double(c, m.value); e != errc{}) return fail(e, "field value");
  if (errc e = binary::read_long(c, m.timestamp_ms); e != errc{}) {
    return fail(e, "field timestamp");
  }
  if (errc e = read_tags(c, m.tags); e != errc{}) return fail(e, "field tags");
  if (errc e = read_string(c, m.profile_id); e != errc{}) return fail(e, "field profileId");
  std::string_view type;
  if (w == wire_schema::v2) {
    if (errc e = read_view(c, type); e != errc{}) return fail(e, "field type");
  }
  if (c.p != c.end) return fail(errc::corrupt, "trailing bytes after the record");
  m.type = model::metric_type::gauge;
  if (w == wire_schema::v2) {
    // Well-formed, but a type this service does not know (a later version's): not a record it
    // can apply.
    auto t = model::parse_metric_type(type);
    if (!t) return fail(errc::unknown_type, "field type");
    m.type = *t;
  }
  return {};
}

util::result<model::metric> decode(std::string_view body, wire_schema w) {
  model::metric m;
  if (auto r = decode_into(body, w, m); !r) return r.error();
  return m;
}

void frame(schema_id id, const model::metric& m, std::string& out, wire_schema w) {
  const std::size_t at = out.size();
  out.resize(at + 5 + encoded_size(m, w));
  char* p = out.data() + at;
  const auto v = static_cast<std::uint32_t>(id.value);
  p[0] = 0;
  p[1] = static_cast<char>(v >> 24);
  p[2] = static_cast<char>(v >> 16);
  p[3] = static_cast<char>(v >> 8);
  p[4] = static_cast<char>(v);
  encode_into(m, w, p + 5);
}

util::result<framed> unframe(std::string_view message) {
  if (!message.empty() && message[0] != 0) {
    return util::error(errc::bad_magic, "Confluent frame must start with magic byte 0");
  }
  if (message.size() < 5) {
    return util::error(errc::truncated, "Confluent frame shorter than its 5-byte header");
  }
  const auto* b = reinterpret_cast<const std::uint8_t*>(message.data());
  const std::uint32_t v = (std::uint32_t{b[1]} << 24) | (std::uint32_t{b[2]} << 16) |
                          (std::uint32_t{b[3]} << 8) | std::uint32_t{b[4]};
  return framed{schema_id{static_cast<std::int32_t>(v)}, message.substr(5)};
}

namespace binary {

bool valid_utf8(const std::uint8_t* p, std::size_t n) {
  const std::uint8_t* end = p + n;
  while (p < end) {
    // ASCII fast path, 8 bytes at a time.
    if (end - p >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      if ((w & 0x8080808080808080ULL) == 0) {
        p += 8;
        continue;
      }
    }
    const std::uint8_t b = *p;
    if (b < 0x80) {
      ++p;
      continue;
    }
    std::size_t len;
    std::uint8_t lo = 0x80, hi = 0xbf;  // allowed range of the second byte
    if (b >= 0xc2 && b <= 0xdf) {
      len = 2;
    } else if (b >= 0xe0 && b <= 0xef) {
      len = 3;
      if (b == 0xe0) lo = 0xa0;  // overlong
      if (b == 0xed) hi = 0x9f;  // surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      len = 4;
      if (b == 0xf0) lo = 0x90;  // overlong
      if (b == 0xf4) hi = 0x8f;  // above U+10FFFF
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) < len) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (std::size_t i = 2; i < len; ++i) {
      if ((p[i] & 0xc0) != 0x80) return false;
    }
    p += len;
  }
  return true;
}

}  // namespace binary

}  // namespace mca::avro
