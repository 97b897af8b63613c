#include "pipeline/aggregate_codec.h"

#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <numeric>
#include <optional>

#include "util/error_table.h"

namespace mca::pipeline {
namespace {

// Changelog values read at restore: none ends a request.
constexpr util::error_row kErrors[] = {
    {state_errc::unknown_version, "unknown state format version"},
    {state_errc::truncated, "state value truncated"},
    {state_errc::checksum_mismatch, "state checksum mismatch"},
    {state_errc::invalid, "not a valid aggregate state"},
};

constexpr std::uint8_t kCounter = 1;
constexpr std::uint8_t kHistogram = 2;

constexpr std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr auto kCrcTable = make_crc_table();

template <class T>
void put(std::string& out, T v) {
  static_assert(std::is_trivially_copyable_v<T>);
  using U = std::conditional_t<
      sizeof(T) == 8, std::uint64_t,
      std::conditional_t<sizeof(T) == 4, std::uint32_t,
                         std::conditional_t<sizeof(T) == 2, std::uint16_t, std::uint8_t>>>;
  const U u = std::bit_cast<U>(v);
  for (std::size_t i = 0; i < sizeof(T); ++i)
    out.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
}

void put_string(std::string& out, std::string_view s) {
  put(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

// Reads fields in order; the first failure sticks (later reads return zero values).
class reader {
 public:
  explicit reader(std::string_view b) : b_(b) {}

  template <class T>
  T get(const char* field) {
    using U = std::conditional_t<
        sizeof(T) == 8, std::uint64_t,
        std::conditional_t<sizeof(T) == 4, std::uint32_t,
                           std::conditional_t<sizeof(T) == 2, std::uint16_t, std::uint8_t>>>;
    if (!need(sizeof(T), field)) return T{};
    U u = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i)
      u |= static_cast<U>(static_cast<unsigned char>(b_[pos_ + i])) << (8 * i);
    pos_ += sizeof(T);
    return std::bit_cast<T>(u);
  }

  std::string get_string(const char* field) {
    const auto n = get<std::uint32_t>(field);
    if (failed()) return {};
    if (n > kMaxStateString) {
      fail(state_errc::invalid,
           std::string(field) + " longer than " + std::to_string(kMaxStateString) + " bytes");
      return {};
    }
    if (!need(n, field)) return {};
    std::string s(b_.substr(pos_, n));
    pos_ += n;
    return s;
  }

  void fail(state_errc e, std::string message) {
    if (!error_) error_ = util::error(e, std::move(message));
  }
  bool failed() const { return error_.has_value(); }
  std::size_t pos() const { return pos_; }
  const std::optional<util::error>& error() const { return error_; }

 private:
  bool need(std::size_t n, const char* field) {
    if (failed()) return false;
    if (b_.size() - pos_ < n) {
      fail(state_errc::truncated, std::string("ends inside ") + field);
      return false;
    }
    return true;
  }

  std::string_view b_;
  std::size_t pos_ = 0;
  std::optional<util::error> error_;
};

util::error invalid(std::string message) { return {state_errc::invalid, std::move(message)}; }

}  // namespace

const std::error_category& state_category() {
  return util::category_of<kErrors>("aggregate_state");
}

std::uint32_t crc32(std::string_view bytes) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char ch : bytes) c = kCrcTable[(c ^ ch) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::string encode_state(const store::aggregate_state& s) {
  std::string out;
  out.reserve(96 + s.app_id.size() + s.metric.name.size() + s.metric.profile_id.size() +
              16 * s.metric.tags.size() + 8 * (s.bounds.size() + s.buckets.size()));
  put(out, kStateFormatVersion);
  put(out, s.metric.type == model::metric_type::histogram ? kHistogram : kCounter);
  put_string(out, s.app_id);
  put_string(out, s.metric.name);
  put_string(out, s.metric.profile_id);
  put(out, static_cast<std::uint16_t>(s.metric.tags.size()));
  for (const auto& [k, v] : s.metric.tags) {
    put_string(out, k);
    put_string(out, v);
  }
  put(out, s.metric.timestamp_ms);
  put(out, s.partition);
  put(out, s.ingest_ms);
  put(out, s.next_offset);
  put(out, s.sum);
  put(out, s.count);
  put(out, static_cast<std::uint16_t>(s.bounds.size()));
  for (double b : s.bounds) put(out, b);
  put(out, static_cast<std::uint16_t>(s.buckets.size()));
  for (auto b : s.buckets) put(out, b);
  put(out, crc32(out));
  return out;
}

util::result<store::aggregate_state> decode_state(std::string_view bytes) {
  if (bytes.empty() || static_cast<std::uint8_t>(bytes[0]) != kStateFormatVersion)
    return util::error(
        state_errc::unknown_version,
        bytes.empty() ? "empty value"
                      : "format version " + std::to_string(static_cast<unsigned char>(bytes[0])));
  if (bytes.size() < 1 + 4) return util::error(state_errc::truncated, "shorter than a checksum");
  const std::string_view body = bytes.substr(0, bytes.size() - 4);
  reader crc_reader(bytes.substr(bytes.size() - 4));
  if (crc_reader.get<std::uint32_t>("checksum") != crc32(body)) {
    // A value cut short or changed lands here: its last four bytes are no checksum of the rest.
    return util::error(state_errc::checksum_mismatch, "checksum does not match the bytes");
  }

  reader r(body);
  store::aggregate_state s;
  (void)r.get<std::uint8_t>("version");
  const auto type = r.get<std::uint8_t>("type");
  s.app_id = r.get_string("app_id");
  s.metric.name = r.get_string("name");
  s.metric.profile_id = r.get_string("profile_id");
  const auto tags = r.get<std::uint16_t>("tag count");
  if (!r.failed() && tags > kMaxStateTags) return invalid("more than 1024 tags");
  for (std::uint16_t i = 0; i < tags && !r.failed(); ++i) {
    auto k = r.get_string("tag key");
    auto v = r.get_string("tag value");
    s.metric.tags.emplace_back(std::move(k), std::move(v));
  }
  s.metric.timestamp_ms = r.get<std::int64_t>("timestamp_ms");
  s.partition = r.get<std::int32_t>("partition");
  s.ingest_ms = r.get<std::int64_t>("ingest_ms");
  s.next_offset = r.get<std::int64_t>("next_offset");
  s.sum = r.get<double>("sum");
  s.count = r.get<std::uint64_t>("count");
  const auto nb = r.get<std::uint16_t>("bound count");
  if (!r.failed() && nb > kMaxStateBounds)
    return invalid("more than " + std::to_string(kMaxStateBounds) + " bounds");
  for (std::uint16_t i = 0; i < nb && !r.failed(); ++i) s.bounds.push_back(r.get<double>("bound"));
  const auto nk = r.get<std::uint16_t>("bucket count");
  if (!r.failed() && nk > kMaxStateBounds + 1)
    return invalid("more than " + std::to_string(kMaxStateBounds + 1) + " buckets");
  for (std::uint16_t i = 0; i < nk && !r.failed(); ++i)
    s.buckets.push_back(r.get<std::uint64_t>("bucket"));
  if (r.error()) return *r.error();
  if (r.pos() != body.size())
    return util::error(state_errc::truncated, "bytes after the last field");

  if (type == kCounter)
    s.metric.type = model::metric_type::counter;
  else if (type == kHistogram)
    s.metric.type = model::metric_type::histogram;
  else
    return invalid("type " + std::to_string(type) + " is not counter (1) or histogram (2)");
  if (s.app_id.empty()) return invalid("empty app_id");
  if (s.metric.name.empty()) return invalid("empty name");
  if (s.partition < 0) return invalid("negative partition");
  if (s.next_offset < 0) return invalid("negative next_offset");
  if (!std::isfinite(s.sum)) return invalid("sum is not finite");
  if (s.metric.type == model::metric_type::counter) {
    if (s.sum < 0) return invalid("negative counter total");
    if (!s.bounds.empty() || !s.buckets.empty()) return invalid("a counter has no buckets");
    return s;
  }
  if (s.buckets.size() != s.bounds.size() + 1) return invalid("buckets are not bounds + 1");
  for (std::size_t i = 0; i < s.bounds.size(); ++i) {
    if (!std::isfinite(s.bounds[i])) return invalid("a bound is not finite");
    if (i > 0 && !(s.bounds[i] > s.bounds[i - 1])) return invalid("bounds not increasing");
  }
  std::uint64_t total = 0;
  for (auto b : s.buckets) {
    if (__builtin_add_overflow(total, b, &total)) return invalid("bucket counts overflow");
  }
  if (total != s.count) return invalid("buckets do not add up to count");
  return s;
}

}  // namespace mca::pipeline
