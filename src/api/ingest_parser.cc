#include "api/ingest_parser.h"

#include <simdjson.h>

namespace mca::api {
namespace {

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "api"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::invalid_json:
        return "request body is not valid JSON";
      case errc::invalid_request:
        return "request body must be {\"metrics\": [...]}";
      case errc::invalid_app_id:
        return "app_id must match [A-Za-z0-9._-]{1,64}";
      case errc::no_valid_metrics:
        return "no metric in the batch is valid";
      case errc::batch_too_large:
        return "too many metrics in one batch";
      case errc::unsupported_media_type:
        return "Content-Type must be application/json";
    }
    return "unknown api error";
  }
};

using simdjson::dom::element;
using simdjson::dom::element_type;

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

// Reads one metric; returns the field error of the first problem.
std::optional<model::field_error> read_metric(element e, std::size_t index, std::int64_t now_ms,
                                              model::metric& out) {
  auto fail = [&](std::string field, std::string error) {
    return model::field_error{index, std::move(field), std::move(error)};
  };
  if (!e.is_object())
    return fail("metric", "must be an object, got " + std::string(type_name(e.type())));
  auto obj = e.get_object().value_unsafe();

  element v;
  if (obj["name"].get(v) != simdjson::SUCCESS) return fail("name", "is required");
  if (!v.is_string())
    return fail("name", "must be a string, got " + std::string(type_name(v.type())));
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
      return fail("value", "must be a number, got " + std::string(type_name(v.type())));
  }

  if (obj["timestamp"].get(v) != simdjson::SUCCESS || v.is_null()) {
    out.timestamp_ms = now_ms;
  } else if (v.type() == element_type::INT64) {
    out.timestamp_ms = v.get_int64().value_unsafe();
  } else if (v.type() == element_type::UINT64) {
    return fail("timestamp", "out of range");
  } else if (v.type() == element_type::DOUBLE) {
    return fail("timestamp", "must be an integer (milliseconds since the Unix epoch)");
  } else {
    return fail("timestamp", "must be an integer (milliseconds since the Unix epoch), got " +
                                 std::string(type_name(v.type())));
  }

  out.tags.clear();
  if (obj["tags"].get(v) == simdjson::SUCCESS && !v.is_null()) {
    if (!v.is_object())
      return fail("tags", "must be an object of strings, got " + std::string(type_name(v.type())));
    const simdjson::dom::object tags = v.get_object().value_unsafe();  // a copy: outlives the loop
    for (auto field : tags) {
      std::string key(field.key);
      if (!field.value.is_string()) {
        return fail("tags." + key,
                    "must be a string, got " + std::string(type_name(field.value.type())));
      }
      for (const auto& t : out.tags) {
        if (t.first == key) return fail("tags." + key, "appears twice");
      }
      out.tags.emplace_back(std::move(key), std::string(field.value.get_string().value_unsafe()));
    }
  }

  if (obj["profileId"].get(v) != simdjson::SUCCESS) return fail("profileId", "is required");
  if (!v.is_string())
    return fail("profileId", "must be a string, got " + std::string(type_name(v.type())));
  out.profile_id = std::string(v.get_string().value_unsafe());
  return std::nullopt;
}

}  // namespace

const std::error_category& category() {
  static const category_impl c;
  return c;
}

util::result<pipeline::batch> parse_ingest_body(std::string_view body, std::size_t max_batch,
                                                std::int64_t now_ms) {
  thread_local simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(body.data(), body.size(), true).get(root); err != simdjson::SUCCESS) {
    std::string why = err == simdjson::UTF8_ERROR ? "invalid UTF-8"
                      : (err == simdjson::NUMBER_ERROR || err == simdjson::NUMBER_OUT_OF_RANGE)
                          ? "a number is malformed or out of range (integers must fit in 64 "
                            "bits, other numbers in a double)"
                          : simdjson::error_message(err);
    return util::error(errc::invalid_json, "request body is not valid JSON: " + why);
  }
  element metrics;
  if (!root.is_object() || root["metrics"].get(metrics) != simdjson::SUCCESS) {
    return util::error(errc::invalid_request,
                       "request body must be an object with a \"metrics\" array");
  }
  if (!metrics.is_array()) {
    return util::error(errc::invalid_request, "\"metrics\" must be an array, got " +
                                                  std::string(type_name(metrics.type())));
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
