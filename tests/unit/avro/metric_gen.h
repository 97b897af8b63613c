// Random Metric values for the Avro property tests. Deterministic for a given seed; the seed is
// printed by the tests so a failure can be replayed with MCA_TEST_SEED=<seed>.
#pragma once

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <string>

#include "model/metric.h"

namespace mca::avro::test {

inline std::uint64_t test_seed(std::uint64_t fallback) {
  if (const char* s = std::getenv("MCA_TEST_SEED")) return std::strtoull(s, nullptr, 10);
  return fallback;
}

class metric_gen {
 public:
  explicit metric_gen(std::uint64_t seed) : rng_(seed) {}

  std::uint64_t bits() { return rng_(); }
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  bool one_in(std::uint64_t n) { return below(n) == 0; }

  // A UTF-8 string of `code_points` code points drawn from all four encoded lengths (ASCII,
  // Latin/Greek/Cyrillic, CJK, emoji and other astral planes). No NUL when `allow_nul` is false
  // (avro-c map keys are C strings).
  std::string text(std::size_t code_points, bool allow_nul = true) {
    std::string s;
    s.reserve(code_points * 2);
    for (std::size_t i = 0; i < code_points; ++i) append_utf8(s, code_point(allow_nul));
    return s;
  }

  // Mostly short; one in `long_odds` is 10 000+ code points (25 KB and more of UTF-8).
  std::string short_or_long_text(std::uint64_t long_odds, bool allow_nul = true) {
    if (one_in(long_odds)) return text(10'000 + below(5'000), allow_nul);
    if (one_in(8)) return {};
    return text(1 + below(24), allow_nul);
  }

  double value() {
    static constexpr double specials[] = {0.0,
                                          -0.0,
                                          std::numeric_limits<double>::denorm_min(),
                                          -std::numeric_limits<double>::denorm_min(),
                                          2.2250738585072009e-308,  // largest subnormal
                                          DBL_MIN,
                                          DBL_MAX,
                                          -DBL_MAX,
                                          75.5,
                                          1e-300,
                                          -1.0};
    if (one_in(3)) return specials[below(std::size(specials))];
    for (;;) {
      double d;
      const std::uint64_t b = bits();
      std::memcpy(&d, &b, sizeof d);
      if (std::isfinite(d)) return d;
    }
  }

  std::int64_t timestamp() {
    static constexpr std::int64_t specials[] = {std::numeric_limits<std::int64_t>::min(),
                                                std::numeric_limits<std::int64_t>::max(),
                                                0,
                                                -1,
                                                1,
                                                63,
                                                64,
                                                -64,
                                                -65,
                                                8191,
                                                8192,
                                                1640995200000};
    switch (below(3)) {
      case 0:
        return specials[below(std::size(specials))];
      case 1:
        return static_cast<std::int64_t>(bits());
      default:
        return 1'600'000'000'000 + static_cast<std::int64_t>(below(200'000'000'000));
    }
  }

  model::metric metric() {
    model::metric m;
    m.name = short_or_long_text(20);
    m.value = value();
    m.timestamp_ms = timestamp();
    std::size_t n = 0;
    switch (below(4)) {
      case 0:
        n = 0;
        break;
      case 1:
        n = 90 + below(11);  // large maps, up to 100 tags
        break;
      default:
        n = 1 + below(8);
    }
    std::set<std::string> keys;
    while (m.tags.size() < n) {
      std::string k = short_or_long_text(1000, false);
      if (!keys.insert(k).second) continue;  // keys are unique in a metric
      m.tags.emplace_back(std::move(k), short_or_long_text(300));
    }
    m.profile_id = short_or_long_text(20);
    return m;
  }

 private:
  char32_t code_point(bool allow_nul) {
    switch (below(5)) {
      case 0:
      case 1: {
        auto c = static_cast<char32_t>(below(0x80));
        return (c == 0 && !allow_nul) ? U'x' : c;
      }
      case 2:
        return static_cast<char32_t>(0x80 + below(0x800 - 0x80));
      case 3: {
        auto c = static_cast<char32_t>(0x800 + below(0x10000 - 0x800));
        return (c >= 0xd800 && c <= 0xdfff) ? U'\u20ac' : c;  // no surrogates
      }
      default:
        if (one_in(2)) return static_cast<char32_t>(0x1f300 + below(0x300));  // emoji
        return static_cast<char32_t>(0x10000 + below(0x110000 - 0x10000));
    }
  }

  static void append_utf8(std::string& s, char32_t c) {
    if (c < 0x80) {
      s += static_cast<char>(c);
    } else if (c < 0x800) {
      s += static_cast<char>(0xc0 | (c >> 6));
      s += static_cast<char>(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
      s += static_cast<char>(0xe0 | (c >> 12));
      s += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
      s += static_cast<char>(0x80 | (c & 0x3f));
    } else {
      s += static_cast<char>(0xf0 | (c >> 18));
      s += static_cast<char>(0x80 | ((c >> 12) & 0x3f));
      s += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
      s += static_cast<char>(0x80 | (c & 0x3f));
    }
  }

  std::mt19937_64 rng_;
};

inline std::string to_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 0xf];
  }
  return out;
}

// Bitwise, so 0.0 and -0.0 differ.
inline bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

inline model::metric seed_example() {
  model::metric m;
  m.name = "cpu_usage";
  m.value = 75.5;
  m.timestamp_ms = 1640995200000;
  m.tags = {{"host", "server1"}, {"environment", "production"}};
  m.profile_id = "user-123";
  return m;
}

}  // namespace mca::avro::test
