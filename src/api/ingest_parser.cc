#include "api/ingest_parser.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <bit>
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

// The first key of `keys` that appears twice: a pairwise check up to 16 keys (the first key that
// repeats an earlier one), else sorted (the smallest such key).
std::optional<std::string_view> first_duplicate(std::span<const std::string_view> keys) {
  if (keys.size() <= 16) {
    for (std::size_t i = 1; i < keys.size(); ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        if (keys[i] == keys[j]) return keys[i];
      }
    }
    return std::nullopt;
  }
  std::vector<std::string_view> sorted(keys.begin(), keys.end());
  std::sort(sorted.begin(), sorted.end());
  if (auto it = std::adjacent_find(sorted.begin(), sorted.end()); it != sorted.end()) return *it;
  return std::nullopt;
}

std::optional<std::string> duplicate_below(const simdjson::dom::object& obj);

// The first key that appears twice in one object of `e` (depth first), as a dotted path from `e`.
// Objects are small (a metric, its tags): see first_duplicate(). The path is only built when there
// is a duplicate.
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
  if (auto dup = first_duplicate(list.keys())) return std::string(*dup);
  return duplicate_below(obj);
}

// The first duplicate inside the values of `obj`'s fields, in order, as a dotted path from `obj`.
std::optional<std::string> duplicate_below(const simdjson::dom::object& obj) {
  for (auto field : obj) {
    if (auto d = duplicate_in(field.value)) return std::string(field.key) + "." + *d;
  }
  return std::nullopt;
}

// What read_metric() found in one item: a duplicate key inside it (its path from the item: the
// body is refused), else the field error of its first problem, else nothing (`out` holds it).
struct item_problem {
  std::optional<std::string> duplicate;
  std::optional<model::field_error> error;
};

// The fields of a metric that read_metric() reads, found in one walk of the item.
struct metric_fields {
  static constexpr unsigned name = 1, value = 2, timestamp = 4, tags = 8, profile_id = 16,
                            type = 32;
  unsigned found = 0;
  element at[6];
  bool get(unsigned field, element& v) const {
    if (!(found & field)) return false;
    v = at[std::countr_zero(field)];
    return true;
  }
  void set(std::string_view key, element v) {
    unsigned f = 0;
    switch (key.size()) {
      case 4:
        f = key == "name" ? name : key == "tags" ? tags : key == "type" ? type : 0;
        break;
      case 5:
        f = key == "value" ? value : 0;
        break;
      case 9:
        f = key == "timestamp" ? timestamp : key == "profileId" ? profile_id : 0;
        break;
    }
    if (f == 0) return;
    found |= f;
    at[std::countr_zero(f)] = v;
  }
};

bool holds_more(element v) {
  const auto t = v.type();
  return t == element_type::OBJECT || t == element_type::ARRAY;
}

// The first value of a tags object that is not a string (its item's error), if any.
struct bad_tag {
  std::string_view key;
  element value;
  bool found = false;
};

// Reads a tags object into `out` in one walk that also checks it for duplicate keys (returned as
// a path from the object, in duplicate_in()'s order); `bad` receives its first value that is not a
// string. The tags already in `out` are overwritten (their strings keep their capacity) and any
// left over dropped.
std::optional<std::string> read_tags(const simdjson::dom::object& tags,
                                     std::vector<model::tag>& out, bad_tag& bad) {
  key_list keys;
  bool nested = false;
  std::size_t n = 0;
  for (auto field : tags) {
    keys.push(field.key);
    if (field.value.is_string() && !out_of_range(field.value)) {
      if (n == out.size()) out.emplace_back();
      out[n].first.assign(field.key);
      out[n].second.assign(field.value.get_string().value_unsafe());
      ++n;
      continue;
    }
    if (!bad.found) bad = {field.key, field.value, true};
    nested = nested || holds_more(field.value);
  }
  out.resize(n);
  if (auto dup = first_duplicate(keys.keys())) return std::string(*dup);
  if (nested) return duplicate_below(tags);
  return std::nullopt;
}

// Reads one item. Its duplicate keys are checked first (the same order as duplicate_in(): its
// own keys, then inside its fields' values), in the walk that also finds the fields it reads.
// Every field of `out` is overwritten when the item is read (its strings and tags keep their
// capacity: `out` may be a spare batch's item); after a problem `out` holds part of the item.
item_problem read_metric(element e, std::size_t index, std::int64_t now_ms, model::metric& out) {
  auto fail = [&](std::string field, std::string error) {
    return item_problem{std::nullopt,
                        model::field_error{index, std::move(field), std::move(error)}};
  };
  if (!e.is_object()) {
    if (auto d = duplicate_in(e)) return {std::move(d), std::nullopt};
    return fail("metric", "must be an object, got " + std::string(type_name(e)));
  }
  auto obj = e.get_object().value_unsafe();

  metric_fields fields;
  key_list keys;
  // The fields whose values hold objects or arrays (tags, usually), in order; past four, all are
  // walked again.
  struct field_at {
    std::string_view key;
    element value;
  };
  std::array<field_at, 4> nested;
  std::size_t n_nested = 0;
  for (auto field : obj) {
    keys.push(field.key);
    fields.set(field.key, field.value);
    if (holds_more(field.value)) {
      if (n_nested < nested.size()) nested[n_nested] = {field.key, field.value};
      ++n_nested;
    }
  }
  if (auto dup = first_duplicate(keys.keys())) return {std::string(*dup), std::nullopt};
  // Inside the fields' values, in order; the tags object is read in the same walk.
  bad_tag bad;
  bool tags_read = false;
  const auto below = [&](std::string_view key, element value) -> std::optional<std::string> {
    std::optional<std::string> d;
    if (key == "tags" && value.is_object()) {
      tags_read = true;
      d = read_tags(value.get_object().value_unsafe(), out.tags, bad);
    } else {
      d = duplicate_in(value);
    }
    if (d) return std::string(key) + "." + *d;
    return std::nullopt;
  };
  if (n_nested <= nested.size()) {
    for (std::size_t i = 0; i < n_nested; ++i) {
      if (auto d = below(nested[i].key, nested[i].value)) return {std::move(d), std::nullopt};
    }
  } else {
    for (auto field : obj) {
      if (!holds_more(field.value)) continue;
      if (auto d = below(field.key, field.value)) return {std::move(d), std::nullopt};
    }
  }
  if (!tags_read) out.tags.clear();

  element v;
  if (!fields.get(metric_fields::name, v)) return fail("name", "is required");
  if (!v.is_string() || out_of_range(v))
    return fail("name", "must be a string, got " + std::string(type_name(v)));
  out.name.assign(v.get_string().value_unsafe());

  if (!fields.get(metric_fields::value, v)) return fail("value", "is required");
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

  if (!fields.get(metric_fields::timestamp, v) || v.is_null()) {
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

  // The tags were read with the duplicate check above (an object always holds more).
  if (fields.get(metric_fields::tags, v) && !v.is_null()) {
    if (!v.is_object())
      return fail("tags", "must be an object of strings, got " + std::string(type_name(v)));
    if (bad.found)
      return fail("tags." + std::string(bad.key),
                  "must be a string, got " + std::string(type_name(bad.value)));
  }

  if (!fields.get(metric_fields::profile_id, v)) return fail("profileId", "is required");
  if (!v.is_string() || out_of_range(v))
    return fail("profileId", "must be a string, got " + std::string(type_name(v)));
  out.profile_id.assign(v.get_string().value_unsafe());

  // Absent or null: a gauge, the seed's behaviour. The value is never echoed: it may be long.
  out.type = model::metric_type::gauge;
  if (fields.get(metric_fields::type, v) && !v.is_null()) {
    constexpr std::string_view kTypes = R"("gauge", "counter" or "histogram")";
    if (!v.is_string() || out_of_range(v))
      return fail("type", "must be " + std::string(kTypes) + ", got " + std::string(type_name(v)));
    auto t = model::parse_metric_type(v.get_string().value_unsafe());
    if (!t) return fail("type", "must be " + std::string(kTypes));
    out.type = *t;
  }
  return {};
}

// The first key of the root object that repeats an earlier one.
std::optional<model::field_error> duplicate_root_key(const simdjson::dom::object& obj) {
  key_list seen;
  for (auto field : obj) {
    for (auto k : seen.keys()) {
      if (k == field.key)
        return model::field_error{model::kNoIndex, std::string(field.key), "duplicate key"};
    }
    seen.push(field.key);
  }
  return std::nullopt;
}

// A duplicate inside a field of the root object other than the items.
std::optional<model::field_error> duplicate_in_root_field(simdjson::dom::key_value_pair field) {
  if (auto d = duplicate_in(field.value))
    return model::field_error{model::kNoIndex, std::string(field.key) + "." + *d, "duplicate key"};
  return std::nullopt;
}

// Where a key appears twice: inside metric i (field = path within the metric), or elsewhere
// (index kNoIndex, field = path from the root). In the order of a walk of the document: the root's
// keys, then its fields in order (the items of "metrics" in order).
std::optional<model::field_error> find_duplicate_key(element root) {
  if (!root.is_object()) {
    if (auto d = duplicate_in(root))
      return model::field_error{model::kNoIndex, std::move(*d), "duplicate key"};
    return std::nullopt;
  }
  const auto obj = root.get_object().value_unsafe();
  if (auto dup = duplicate_root_key(obj)) return dup;
  for (auto field : obj) {
    if (field.key == "metrics" && field.value.is_array()) {
      std::size_t index = 0;
      const simdjson::dom::array arr = field.value.get_array().value_unsafe();
      for (element item : arr) {
        if (auto d = duplicate_in(item))
          return model::field_error{index, std::move(*d), "duplicate key"};
        ++index;
      }
    } else if (auto dup = duplicate_in_root_field(field)) {
      return dup;
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
  const auto refuse = [&](model::field_error dup) {
    std::string where =
        dup.index == model::kNoIndex ? "" : " in metric " + std::to_string(dup.index);
    std::string message = "request body is not valid JSON: duplicate key \"" + dup.field + "\"" +
                          where + " (a key may appear once per object)";
    if (details) details->push_back(std::move(dup));
    return util::error(errc::invalid_json, std::move(message));
  };
  // A duplicate key anywhere refuses the body, before any other problem. When the items are read,
  // their duplicates are found in read_metric()'s walk, the rest around it in the same order as
  // find_duplicate_key(); otherwise the whole body is checked first.
  element metrics;
  const bool has_items =
      root.is_object() && root["metrics"].get(metrics) == simdjson::SUCCESS && metrics.is_array();
  const std::size_t count = has_items ? metrics.get_array().value_unsafe().size() : 0;
  if (count == 0 || count > max_batch) {
    if (auto dup = find_duplicate_key(root)) return refuse(std::move(*dup));
    if (!root.is_object() || root["metrics"].get(metrics) != simdjson::SUCCESS) {
      return util::error(errc::invalid_request,
                         "request body must be an object with a \"metrics\" array");
    }
    if (!metrics.is_array()) {
      return util::error(errc::invalid_request,
                         "\"metrics\" must be an array, got " + std::string(type_name(metrics)));
    }
    if (count == 0) return util::error(errc::invalid_request, "\"metrics\" must not be empty");
    return util::error(errc::batch_too_large, "batch has " + std::to_string(count) +
                                                  " metrics; the limit is " +
                                                  std::to_string(max_batch));
  }
  const auto obj = root.get_object().value_unsafe();
  if (auto dup = duplicate_root_key(obj)) return refuse(std::move(*dup));
  for (auto field : obj) {
    if (field.key == "metrics") break;
    if (auto dup = duplicate_in_root_field(field)) return refuse(std::move(*dup));
  }
  // Items are read into the thread's spare batch (the last one ingest was done with), over its
  // items: a batch shaped like the last allocates nothing per item.
  pipeline::batch out = pipeline::take_spare_batch();
  out.items.reserve(count);
  std::size_t index = 0;
  std::size_t kept = 0;
  const simdjson::dom::array items = metrics.get_array().value_unsafe();  // outlives the loop
  for (element e : items) {
    if (kept == out.items.size()) out.items.emplace_back();
    auto& [at, m] = out.items[kept];
    auto problem = read_metric(e, index, now_ms, m);
    if (problem.duplicate) return refuse({index, std::move(*problem.duplicate), "duplicate key"});
    if (problem.error) {
      out.rejected.push_back(std::move(*problem.error));
    } else {
      at = index;
      ++kept;
    }
    ++index;
  }
  out.items.resize(kept);
  bool after_items = false;
  for (auto field : obj) {
    if (after_items) {
      if (auto dup = duplicate_in_root_field(field)) return refuse(std::move(*dup));
    } else {
      after_items = field.key == "metrics";
    }
  }
  return out;
}

}  // namespace mca::api
