#include "model/metric.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace mca::model {
namespace {

bool is_name_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == ':';
}

bool is_label_char(unsigned char c) { return c != ':' && is_name_char(c); }

// Whether label_name(key) == key: a non-empty key of label characters that does not start with a
// digit or "__" and is not "app_id". Most keys are; for them sanitising changes nothing.
bool plain_label(std::string_view key) {
  if (key.empty() || (key.front() >= '0' && key.front() <= '9')) return false;
  for (unsigned char c : key) {
    if (!is_label_char(c)) return false;
  }
  return key != "app_id" && !key.starts_with("__");
}

bool all_plain_labels(const std::vector<tag>& tags) {
  return std::all_of(tags.begin(), tags.end(), [](const tag& t) { return plain_label(t.first); });
}

std::string longer_than(std::size_t n) { return "longer than " + std::to_string(n) + " bytes"; }

field_error error_at(std::size_t index, std::string field, std::string message) {
  return field_error{index, std::move(field), std::move(message)};
}

}  // namespace

std::string_view to_string(metric_type t) {
  switch (t) {
    case metric_type::gauge:
      return "gauge";
    case metric_type::counter:
      return "counter";
    case metric_type::histogram:
      return "histogram";
  }
  return "gauge";
}

std::optional<metric_type> parse_metric_type(std::string_view text) {
  if (text == "gauge") return metric_type::gauge;
  if (text == "counter") return metric_type::counter;
  if (text == "histogram") return metric_type::histogram;
  return std::nullopt;
}

std::optional<field_error> validate(const metric& m, std::size_t index, const limits& l,
                                    std::int64_t now_ms) {
  if (m.name.empty()) return error_at(index, "name", "must not be empty");
  if (m.name.size() > l.max_name_bytes)
    return error_at(index, "name", longer_than(l.max_name_bytes));
  // NUL separates the parts of a series key: letting it into a name or tag would let two
  // different series share one key.
  if (m.name.find('\0') != std::string::npos)
    return error_at(index, "name", "must not contain NUL");

  if (!std::isfinite(m.value)) return error_at(index, "value", "must be a finite number");
  // A counter only goes up: a negative increment would read as a reset to Prometheus.
  if (m.type == metric_type::counter && m.value < 0)
    return error_at(index, "value", "a counter increment must not be negative");

  if (m.timestamp_ms < 0) return error_at(index, "timestamp", "must not be negative");
  const auto skew = l.max_future_skew.count();
  // Compared as a difference so a huge client timestamp cannot overflow now_ms + skew.
  if (m.timestamp_ms - now_ms > skew) {
    return error_at(index, "timestamp",
                    "later than receive time + " + std::to_string(skew / 1000) + " s");
  }

  if (m.profile_id.empty()) return error_at(index, "profileId", "must not be empty");
  if (m.profile_id.size() > l.max_profile_id_bytes) {
    return error_at(index, "profileId", longer_than(l.max_profile_id_bytes));
  }
  if (m.profile_id.find('\0') != std::string::npos)
    return error_at(index, "profileId", "must not contain NUL");

  if (m.tags.size() > l.max_tags) {
    return error_at(index, "tags", "more than " + std::to_string(l.max_tags) + " tags");
  }
  // Key errors name the field "tags": an empty or over-long key is no useful field name.
  for (const auto& [key, value] : m.tags) {
    if (key.empty()) return error_at(index, "tags", "tag key must not be empty");
    if (key.size() > l.max_tag_key_bytes) {
      return error_at(index, "tags", "tag key " + longer_than(l.max_tag_key_bytes));
    }
    if (value.size() > l.max_tag_value_bytes) {
      return error_at(index, "tags." + key, longer_than(l.max_tag_value_bytes));
    }
    if (key.find('\0') != std::string::npos)
      return error_at(index, "tags", "tag key must not contain NUL");
    if (value.find('\0') != std::string::npos) {
      return error_at(index, "tags." + key, "must not contain NUL");
    }
  }
  // At most max_tags (32) keys: the pairwise check is cheaper than building a set. When no key
  // changes under sanitising, two label names collide only where two keys are equal.
  const bool plain = all_plain_labels(m.tags);
  for (std::size_t i = 0; i < m.tags.size(); ++i) {
    const std::string label_i = plain ? std::string() : label_name(m.tags[i].first);
    for (std::size_t j = 0; j < i; ++j) {
      if (m.tags[j].first == m.tags[i].first) {
        return error_at(index, "tags." + m.tags[i].first, "duplicate tag key");
      }
      if (!plain && label_name(m.tags[j].first) == label_i) {
        return error_at(
            index, "tags." + m.tags[i].first,
            "label name collides with tag \"" + m.tags[j].first + "\" after sanitising");
      }
    }
  }
  return std::nullopt;
}

void normalise(metric& m) {
  const auto by_key = [](const tag& a, const tag& b) { return a.first < b.first; };
  // Most clients send their tags sorted already, and stable_sort allocates its buffer on every
  // call: 1.7 % of ingest CPU in the embedded-log profile (docs/PERFORMANCE.md).
  if (!std::is_sorted(m.tags.begin(), m.tags.end(), by_key))
    std::stable_sort(m.tags.begin(), m.tags.end(), by_key);
}

bool clamp_to_receive_time(metric& m, std::int64_t now_ms) {
  if (m.timestamp_ms <= now_ms) return false;
  m.timestamp_ms = now_ms;
  return true;
}

std::string exposition_name(std::string_view name) {
  static constexpr std::string_view prefix = "client_metric_";
  std::string out;
  out.reserve(prefix.size() + name.size());
  out.append(prefix);
  for (unsigned char c : name) out.push_back(is_name_char(c) ? static_cast<char>(c) : '_');
  return out;
}

std::string label_name(std::string_view key) {
  std::string out;
  out.reserve(key.size() + 4);
  for (unsigned char c : key) out.push_back(is_label_char(c) ? static_cast<char>(c) : '_');
  // An empty key never passes validate(); "_" keeps the exposition valid for records that did
  // not come through it (any producer may write to the topic).
  if (out.empty()) return "_";
  if (out.front() >= '0' && out.front() <= '9') out.insert(out.begin(), '_');
  if (out == "app_id" || out.starts_with("__")) out.insert(0, "tag_");
  return out;
}

std::string series_key(std::string_view app_id, const metric& m) {
  return series_key(app_id, exposition_name(m.name), m.tags);
}

std::string series_key(std::string_view app_id, std::string_view exposition,
                       const std::vector<tag>& tags) {
  std::string key;
  write_series_key(key, app_id, exposition, tags);
  return key;
}

void write_series_key(std::string& out, std::string_view app_id, std::string_view exposition,
                      const std::vector<tag>& tags) {
  const auto by_name = [](const tag& a, const tag& b) { return a.first < b.first; };
  // Tags normalise() sorted whose keys are label names already: they are the labels, in order.
  const bool as_given = all_plain_labels(tags) && std::is_sorted(tags.begin(), tags.end(), by_name);
  std::vector<tag> sanitised;
  if (!as_given) {
    sanitised.reserve(tags.size());
    for (const auto& [key, value] : tags) sanitised.emplace_back(label_name(key), value);
    std::stable_sort(sanitised.begin(), sanitised.end(), by_name);
  }
  const std::vector<tag>& labels = as_given ? tags : sanitised;

  std::size_t size = app_id.size() + 1 + exposition.size();
  for (const auto& [label, value] : labels) size += 2 + label.size() + value.size();
  out.clear();
  out.reserve(size);
  out.append(app_id);
  out.push_back('\0');
  out.append(exposition);
  for (const auto& [label, value] : labels) {
    out.push_back('\0');
    out.append(label);
    out.push_back('\0');
    out.append(value);
  }
}

bool valid_app_id(std::string_view app_id) {
  if (app_id.empty() || app_id.size() > 64) return false;
  // "." and ".." are path segments, not names: a proxy or a client library normalises them
  // away, so such an app could be written but never read back.
  if (app_id.find_first_not_of('.') == std::string_view::npos) return false;
  return std::all_of(app_id.begin(), app_id.end(), [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

}  // namespace mca::model
