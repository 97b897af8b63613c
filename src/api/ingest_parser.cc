#include "api/ingest_parser.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <span>

namespace mca::api {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// What a number beyond the double range is replaced by before the second parse: a string no
// valid item can hold (NUL is refused in every string field), recognised wherever a value is read.
constexpr char kOutOfRangeText[] = "\0mca:number-beyond-double";
constexpr std::string_view kOutOfRange{kOutOfRangeText, sizeof kOutOfRangeText - 1};
constexpr std::string_view kOutOfRangeJson = R"("\u0000mca:number-beyond-double")";

bool out_of_range(element e) {
  std::string_view s;
  return e.get_string().get(s) == simdjson::SUCCESS && s == kOutOfRange;
}

constexpr std::string_view kBeyondDouble = "out of the double range (magnitude above 1.8e308)";

std::string_view type_name(element_type t) {
  switch (t) {
    case element_type::ARRAY:
      return "an array";
    case element_type::OBJECT:
      return "an object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      return "a number";
    case element_type::STRING:
      return "a string";
    case element_type::BOOL:
      return "a boolean";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "unknown";
}

std::string_view type_name(element e) {
  return out_of_range(e) ? "a number beyond the double range" : type_name(e.type());
}

// Reads one metric; returns the field error of the first problem.
std::optional<model::field_error> read_metric(element e, std::size_t index, std::int64_t now_ms,
                                              model::metric& out) {
  auto fail = [&](std::string field, std::string error) {
    return model::field_error{index, std::move(field), std::move(error)};
  };
  if (!e.is_object()) return fail("metric", "must be an object, got " + std::string(type_name(e)));
  auto obj = e.get_object().value_unsafe();

  element v;
  if (obj["name"].get(v) != simdjson::SUCCESS) return fail("name", "is required");
  if (!v.is_string() || out_of_range(v))
    return fail("name", "must be a string, got " + std::string(type_name(v)));
  out.name = std::string(v.get_string().value_unsafe());

  if (obj["value"].get(v) != simdjson::SUCCESS) return fail("value", "is required");
  switch (v.type()) {
    case element_type::DOUBLE:
      out.value = v.get_double().value_unsafe();
      break;
    case element_type::INT64:
      out.value = static_cast<double>(v.get_int64().value_unsafe());
      break;
    case element_type::UINT64:
      out.value = static_cast<double>(v.get_uint64().value_unsafe());
      break;
    default:
      if (out_of_range(v)) return fail("value", std::string(kBeyondDouble));
      return fail("value", "must be a number, got " + std::string(type_name(v)));
  }

  if (obj["timestamp"].get(v) != simdjson::SUCCESS || v.is_null()) {
    out.timestamp_ms = now_ms;
  } else if (v.type() == element_type::INT64) {
    out.timestamp_ms = v.get_int64().value_unsafe();
  } else if (v.type() == element_type::UINT64 || out_of_range(v)) {
    return fail("timestamp", "out of range");
  } else if (v.type() == element_type::DOUBLE) {
    // An integer beyond 64 bits arrives as a double (see parse_ingest_body).
    const double d = v.get_double().value_unsafe();
    if (d == std::floor(d) && std::fabs(d) >= 9.2e18) return fail("timestamp", "out of range");
    return fail("timestamp", "must be an integer (milliseconds since the Unix epoch)");
  } else {
    return fail("timestamp", "must be an integer (milliseconds since the Unix epoch), got " +
                                 std::string(type_name(v)));
  }

  out.tags.clear();
  if (obj["tags"].get(v) == simdjson::SUCCESS && !v.is_null()) {
    if (!v.is_object())
      return fail("tags", "must be an object of strings, got " + std::string(type_name(v)));
    const simdjson::dom::object tags = v.get_object().value_unsafe();  // a copy: outlives the loop
    for (auto field : tags) {
      std::string key(field.key);
      if (!field.value.is_string() || out_of_range(field.value)) {
        return fail("tags." + key, "must be a string, got " + std::string(type_name(field.value)));
      }
      out.tags.emplace_back(std::move(key), std::string(field.value.get_string().value_unsafe()));
    }
  }

  if (obj["profileId"].get(v) != simdjson::SUCCESS) return fail("profileId", "is required");
  if (!v.is_string() || out_of_range(v))
    return fail("profileId", "must be a string, got " + std::string(type_name(v)));
  out.profile_id = std::string(v.get_string().value_unsafe());

  // Absent or null: a gauge, the seed's behaviour. The value is never echoed: it may be long.
  out.type = model::metric_type::gauge;
  if (obj["type"].get(v) == simdjson::SUCCESS && !v.is_null()) {
    constexpr std::string_view kTypes = R"("gauge", "counter" or "histogram")";
    if (!v.is_string() || out_of_range(v))
      return fail("type", "must be " + std::string(kTypes) + ", got " + std::string(type_name(v)));
    auto t = model::parse_metric_type(v.get_string().value_unsafe());
    if (!t) return fail("type", "must be " + std::string(kTypes));
    out.type = *t;
  }
  return std::nullopt;
}

// The keys of one object in order: on the stack up to 16 (a metric, its tags), else on the heap.
class key_list {
 public:
  void push(std::string_view k) {
    if (n_ < small_.size()) {
      small_[n_] = k;
    } else {
      if (n_ == small_.size()) big_.assign(small_.begin(), small_.end());
      big_.push_back(k);
    }
    ++n_;
  }
  std::span<const std::string_view> keys() const {
    return n_ <= small_.size() ? std::span<const std::string_view>(small_.data(), n_)
                               : std::span<const std::string_view>(big_);
  }

 private:
  std::array<std::string_view, 16> small_;
  std::vector<std::string_view> big_;
  std::size_t n_ = 0;
};

// The first key that appears twice in one object of `e` (depth first), as a dotted path from `e`.
// Objects are small (a metric, its tags): a pairwise check up to 16 keys, else sorted. The path is
// only built when there is a duplicate.
std::optional<std::string> duplicate_in(element e) {
  if (e.is_array()) {
    const simdjson::dom::array arr = e.get_array().value_unsafe();  // a copy: outlives the loop
    for (element item : arr) {
      if (auto d = duplicate_in(item)) return d;
    }
    return std::nullopt;
  }
  if (!e.is_object()) return std::nullopt;
  const auto obj = e.get_object().value_unsafe();
  key_list list;
  for (auto field : obj) list.push(field.key);
  const auto keys = list.keys();
  std::optional<std::string_view> dup;
  if (keys.size() <= 16) {
    for (std::size_t i = 1; i < keys.size() && !dup; ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        if (keys[i] == keys[j]) {
          dup = keys[i];
          break;
        }
      }
    }
  } else {
    std::vector<std::string_view> sorted(keys.begin(), keys.end());
    std::sort(sorted.begin(), sorted.end());
    if (auto it = std::adjacent_find(sorted.begin(), sorted.end()); it != sorted.end()) dup = *it;
  }
  if (dup) return std::string(*dup);
  for (auto field : obj) {
    if (auto d = duplicate_in(field.value)) return std::string(field.key) + "." + *d;
  }
  return std::nullopt;
}

// Where a key appears twice: inside metric i (field = path within the metric), or elsewhere
// (index kNoIndex, field = path from the root).
std::optional<model::field_error> find_duplicate_key(element root) {
  if (!root.is_object()) {
    if (auto d = duplicate_in(root))
      return model::field_error{model::kNoIndex, std::move(*d), "duplicate key"};
    return std::nullopt;
  }
  const auto obj = root.get_object().value_unsafe();
  key_list seen;
  for (auto field : obj) {
    for (auto k : seen.keys()) {
      if (k == field.key)
        return model::field_error{model::kNoIndex, std::string(field.key), "duplicate key"};
    }
    seen.push(field.key);
  }
  for (auto field : obj) {
    if (field.key == "metrics" && field.value.is_array()) {
      std::size_t index = 0;
      const simdjson::dom::array arr = field.value.get_array().value_unsafe();
      for (element item : arr) {
        if (auto d = duplicate_in(item))
          return model::field_error{index, std::move(*d), "duplicate key"};
        ++index;
      }
    } else if (auto d = duplicate_in(field.value)) {
      return model::field_error{model::kNoIndex, std::string(field.key) + "." + *d,
                                "duplicate key"};
    }
  }
  return std::nullopt;
}

// RFC 8259 number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool is_json_number(std::string_view t) {
  std::size_t i = 0;
  auto digits = [&] {
    const std::size_t start = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
    return i > start;
  };
  if (i < t.size() && t[i] == '-') ++i;
  if (i < t.size() && t[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < t.size() && t[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == t.size();
}

// `body` with every number simdjson cannot hold rewritten: an integer beyond 64 bits or a decimal
// beyond the double's precision becomes its nearest double (shortest text), one that underflows
// becomes 0, one that overflows becomes the kOutOfRange marker. Strings are copied untouched.
// Returns nothing when there is nothing to rewrite (the body is malformed in another way).
std::optional<std::string> rewrite_numbers(std::string_view body) {
  std::string out;
  out.reserve(body.size() + 64);
  bool changed = false;
  std::size_t i = 0;
  const std::size_t n = body.size();
  while (i < n) {
    const char c = body[i];
    if (c == '"') {  // a string: copy up to its closing quote, escapes included
      std::size_t j = i + 1;
      while (j < n && body[j] != '"') j += body[j] == '\\' ? 2 : 1;
      j = std::min(j + 1, n);
      out.append(body.substr(i, j - i));
      i = j;
      continue;
    }
    if (c != '-' && (c < '0' || c > '9')) {
      out.push_back(c);
      ++i;
      continue;
    }
    std::size_t j = i;
    bool integral = true;
    while (j < n && ((body[j] >= '0' && body[j] <= '9') || body[j] == '-' || body[j] == '+' ||
                     body[j] == '.' || body[j] == 'e' || body[j] == 'E')) {
      if (body[j] == '.' || body[j] == 'e' || body[j] == 'E') integral = false;
      ++j;
    }
    const std::string_view token = body.substr(i, j - i);
    i = j;
    if (!is_json_number(token)) {  // malformed: left for the parser to refuse
      out.append(token);
      continue;
    }
    if (integral) {  // keep what fits in 64 bits: simdjson reads it exactly
      std::int64_t si = 0;
      std::uint64_t ui = 0;
      const char* b = token.data();
      const char* e = token.data() + token.size();
      if (std::from_chars(b, e, si).ec == std::errc() ||
          std::from_chars(b, e, ui).ec == std::errc()) {
        out.append(token);
        continue;
      }
    }
    const std::string text(token);
    char* end = nullptr;
    errno = 0;
    const double d = std::strtod(text.c_str(), &end);  // the C locale: '.' is the decimal point
    if (end != text.c_str() + text.size()) {           // not a number: leave it for the parser
      out.append(token);
      continue;
    }
    changed = true;
    if (std::isinf(d)) {
      out.append(kOutOfRangeJson);
    } else {
      char buf[32];
      // Scientific, so simdjson reads a double and not again an integer beyond 64 bits; the
      // shortest such text reads back to the same double. -0 is "-0e+00": valid JSON.
      auto [p, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
      out.append(buf, p);
    }
  }
  if (!changed) return std::nullopt;
  return out;
}

}  // namespace

util::result<pipeline::batch> parse_ingest_body(std::string_view body, std::size_t max_batch,
                                                std::int64_t now_ms,
                                                std::vector<model::field_error>* details) {
  thread_local simdjson::dom::parser parser;
  element root;
  auto err = parser.parse(body.data(), body.size(), true).get(root);
  std::string rewritten;
  if (err == simdjson::NUMBER_ERROR || err == simdjson::NUMBER_OUT_OF_RANGE) {
    // Rare: a number simdjson cannot hold. Rewrite those numbers and parse once more.
    if (auto text = rewrite_numbers(body)) {
      rewritten = std::move(*text);
      err = parser.parse(rewritten.data(), rewritten.size(), true).get(root);
    }
  }
  if (err != simdjson::SUCCESS) {
    std::string why = err == simdjson::UTF8_ERROR ? "invalid UTF-8"
                      : (err == simdjson::NUMBER_ERROR || err == simdjson::NUMBER_OUT_OF_RANGE)
                          ? "a number is malformed"
                          : simdjson::error_message(err);
    return util::error(errc::invalid_json, "request body is not valid JSON: " + why);
  }
  if (auto dup = find_duplicate_key(root)) {
    std::string where =
        dup->index == model::kNoIndex ? "" : " in metric " + std::to_string(dup->index);
    std::string message = "request body is not valid JSON: duplicate key \"" + dup->field + "\"" +
                          where + " (a key may appear once per object)";
    if (details) details->push_back(std::move(*dup));
    return util::error(errc::invalid_json, std::move(message));
  }
  element metrics;
  if (!root.is_object() || root["metrics"].get(metrics) != simdjson::SUCCESS) {
    return util::error(errc::invalid_request,
                       "request body must be an object with a \"metrics\" array");
  }
  if (!metrics.is_array()) {
    return util::error(errc::invalid_request,
                       "\"metrics\" must be an array, got " + std::string(type_name(metrics)));
  }
  auto items = metrics.get_array().value_unsafe();
  const std::size_t count = items.size();
  if (count == 0) return util::error(errc::invalid_request, "\"metrics\" must not be empty");
  if (count > max_batch) {
    return util::error(errc::batch_too_large, "batch has " + std::to_string(count) +
                                                  " metrics; the limit is " +
                                                  std::to_string(max_batch));
  }
  pipeline::batch out;
  out.items.reserve(count);
  std::size_t index = 0;
  for (element e : items) {
    model::metric m;
    if (auto err = read_metric(e, index, now_ms, m)) {
      out.rejected.push_back(std::move(*err));
    } else {
      out.items.emplace_back(index, std::move(m));
    }
    ++index;
  }
  return out;
}

}  // namespace mca::api
