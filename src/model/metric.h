// The domain: one client metric, the limits it must meet, and how it is named for Prometheus.
// Everything here is a plain value type or a pure function: thread-safe, no I/O.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "util/field_error.h"

namespace mca::model {

using tag = std::pair<std::string, std::string>;

// How the samples of a series combine. `gauge` is the seed's behaviour and the default: the
// newest sample wins. `counter`: each value is a non-negative increment, summed over every client
// of the series. `histogram`: each value is one observation, counted into buckets.
// A gauge travels in the seed's Avro record unchanged; the other two carry the evolved schema's
// `type` field (schemas/README.md).
enum class metric_type : std::uint8_t { gauge, counter, histogram };

// "gauge", "counter", "histogram" (the API's and the Avro field's spelling).
std::string_view to_string(metric_type t);
// The inverse of to_string(); nullopt for anything else (case-sensitive).
std::optional<metric_type> parse_metric_type(std::string_view text);

// One metric as the client sent it (and as the Avro `Metric` record carries it): original name,
// original tag keys and values. Sanitising for Prometheus happens only in series identity and
// exposition, so any Kafka consumer sees exactly what the client sent.
struct metric {
  std::string name;
  double value = 0;
  std::int64_t timestamp_ms = 0;  // Unix ms
  std::vector<tag> tags;          // keys unique; order as received (normalise() sorts by key)
  std::string profile_id;
  metric_type type = metric_type::gauge;

  bool operator==(const metric&) const = default;
};

// Per-metric limits. Lengths are in bytes of UTF-8.
struct limits {
  std::size_t max_name_bytes = 200;
  std::size_t max_tags = 32;
  std::size_t max_tag_key_bytes = 100;
  std::size_t max_tag_value_bytes = 1024;
  std::size_t max_profile_id_bytes = 256;
  // A timestamp later than receive time + this is rejected (clock skew allowance).
  std::chrono::milliseconds max_future_skew{std::chrono::hours(1)};
};

// Why one metric of a batch was rejected. `field` is "name", "value", "timestamp", "profileId",
// "tags" or "tags.<key>"; `index` is the position in the batch (util::kNoIndex: no item).
using util::field_error;
using util::kNoIndex;

// Checks a metric against the limits and the naming rules: name non-empty and within length;
// value finite (and not negative for a counter); timestamp >= 0 and not after now_ms +
// max_future_skew; profileId non-empty, within length and without NUL; at most max_tags tags, keys
// non-empty and within length, values within length, and no two keys that sanitise to the same
// label name. Returns the first problem found, checking the fields in that order. Messages are
// short and human ("must not be empty", "longer than 200 bytes", "more than 32 tags", "later than
// receive time + 3600 s", "label name collides with tag
// \"a-b\" after sanitising"). An empty or over-long tag key is reported on field "tags" (the key
// itself is no useful field name); value length, duplicate keys and collisions on "tags.<key>".
std::optional<field_error> validate(const metric& m, std::size_t index, const limits& l,
                                    std::int64_t now_ms);

// Sorts tags by key, so equal tag sets compare and encode equally.
void normalise(metric& m);

// The future-timestamp policy: a timestamp later than the receive time (but within the skew
// validate() allows) is set to the receive time, so no client can hold a series against current
// writes by dating a sample ahead ("newest timestamp wins" would keep it until that time).
// Returns true when the timestamp was changed.
bool clamp_to_receive_time(metric& m, std::int64_t now_ms);

// Prometheus metric name for a client metric: "client_metric_" + name with every character
// outside [A-Za-z0-9_:] replaced by '_'. Replacement is per byte: a multi-byte UTF-8 character
// becomes several '_' (names stay distinct from single-byte ones only by length; that is enough).
std::string exposition_name(std::string_view name);

// Prometheus label name for a tag key: characters outside [A-Za-z0-9_] become '_'; a key that
// starts with a digit gets a leading '_'; "app_id" (our label) and keys starting with "__"
// (reserved by Prometheus) get the prefix "tag_". The rules apply to the sanitised form, in that
// order ("app-id" -> "tag_app_id"). An empty key (never valid) maps to "_".
std::string label_name(std::string_view key);

// Series identity: (app_id, exposition name, tags sorted by sanitised label name). The bytes are
// the Kafka message key, so one series always lands on one partition. Format:
// app_id '\0' exposition_name ('\0' label_name '\0' value)*.
std::string series_key(std::string_view app_id, const metric& m);
// The same from the metric's exposition name (exposition_name(m.name), made once for the items of
// a batch that share a name) and its tags.
std::string series_key(std::string_view app_id, std::string_view exposition,
                       const std::vector<tag>& tags);
// The same written into `out`, replacing what it held (its capacity is reused).
void write_series_key(std::string& out, std::string_view app_id, std::string_view exposition,
                      const std::vector<tag>& tags);

// For each of `n` items, the index of the first item with the same name (itself when none);
// `name_of(i)` gives item i's name. For work done once per name in a batch (a batch of 100
// metrics usually has a few names).
template <class NameOf>
std::vector<std::size_t> first_with_same_name(std::size_t n, NameOf name_of) {
  std::vector<std::size_t> first(n);
  if (n <= 8) {
    for (std::size_t i = 0; i < n; ++i) {
      first[i] = i;
      for (std::size_t j = 0; j < i; ++j) {
        if (first[j] == j && std::string_view(name_of(j)) == std::string_view(name_of(i))) {
          first[i] = j;
          break;
        }
      }
    }
    return first;
  }
  std::unordered_map<std::string_view, std::size_t> seen;
  seen.reserve(n);
  for (std::size_t i = 0; i < n; ++i) first[i] = seen.try_emplace(name_of(i), i).first->second;
  return first;
}

// app_id: [A-Za-z0-9._-]{1,64}, and not only dots ("." and ".." are path segments).
bool valid_app_id(std::string_view app_id);

}  // namespace mca::model
