#include <fstream>
#include <sstream>

#include <avro.h>
#include <boost/json.hpp>

#include "avro/metric_codec.h"
#include "avro/metric_shape.h"

namespace mca::avro {

struct schema::impl {
  std::string text;
  avro_schema_t raw = nullptr;
  // Built once so the oracle (and anything else writing generic values) does not pay for it per
  // record. Immutable after construction; avro-c refcounts are atomic.
  avro_value_iface_t* generic_class = nullptr;

  impl() = default;
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;
  ~impl() {
    if (generic_class != nullptr) avro_value_iface_decref(generic_class);
    if (raw != nullptr) avro_schema_decref(raw);
  }
};

namespace detail {

namespace {

const char* type_word(avro_schema_t s) {
  switch (avro_typeof(s)) {
    case AVRO_STRING:
      return "string";
    case AVRO_BYTES:
      return "bytes";
    case AVRO_INT32:
      return "int";
    case AVRO_INT64:
      return "long";
    case AVRO_FLOAT:
      return "float";
    case AVRO_DOUBLE:
      return "double";
    case AVRO_BOOLEAN:
      return "boolean";
    case AVRO_NULL:
      return "null";
    case AVRO_RECORD:
      return "record";
    case AVRO_ENUM:
      return "enum";
    case AVRO_FIXED:
      return "fixed";
    case AVRO_MAP:
      return "map";
    case AVRO_ARRAY:
      return "array";
    case AVRO_UNION:
      return "union";
    case AVRO_LINK:
      return "a recursive reference";
  }
  return "unknown";
}

}  // namespace

std::optional<std::string> metric_shape_problem(avro_schema_t s, bool typed) {
  if (!is_avro_record(s)) {
    return std::string("top-level type is ") + type_word(s) + ", expected the Metric record";
  }
  static constexpr avro_type_t expected_types[] = {AVRO_STRING, AVRO_DOUBLE, AVRO_INT64, AVRO_MAP,
                                                   AVRO_STRING};
  static constexpr const char* expected_words[] = {"string", "double", "long", "map<string>",
                                                   "string"};
  constexpr std::size_t n = std::size(metric_field_names);
  const std::size_t have = avro_schema_record_size(s);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string want = metric_field_names[i];
    if (i >= have) return "missing field '" + want + "' (field " + std::to_string(i) + ")";
    const std::string got = avro_schema_record_field_name(s, static_cast<int>(i));
    if (got != want) {
      return "field " + std::to_string(i) + " is '" + got + "', expected '" + want + "'";
    }
    avro_schema_t t = avro_schema_record_field_get_by_index(s, static_cast<int>(i));
    const bool ok = avro_typeof(t) == expected_types[i] &&
                    (!is_avro_map(t) || is_avro_string(avro_schema_map_values(t)));
    if (!ok) {
      std::string found = type_word(t);
      if (is_avro_map(t)) found = std::string("map<") + type_word(avro_schema_map_values(t)) + ">";
      return "field '" + want + "' has type " + found + ", expected " + expected_words[i];
    }
  }
  if (typed) {
    const std::string want = metric_type_field_name;
    if (have <= n) return "missing field '" + want + "' (field " + std::to_string(n) + ")";
    const std::string got = avro_schema_record_field_name(s, static_cast<int>(n));
    if (got != want)
      return "field " + std::to_string(n) + " is '" + got + "', expected '" + want + "'";
    avro_schema_t t = avro_schema_record_field_get_by_index(s, static_cast<int>(n));
    if (!is_avro_string(t)) {
      return "field '" + want + "' has type " + type_word(t) + ", expected string";
    }
  }
  const std::size_t expected = typed ? n + 1 : n;
  if (have > expected) {
    return "unexpected field '" +
           std::string(avro_schema_record_field_name(s, static_cast<int>(expected))) + "' after '" +
           avro_schema_record_field_name(s, static_cast<int>(expected - 1)) + "'";
  }
  return std::nullopt;
}

bool has_type_field(avro_schema_t s) {
  return is_avro_record(s) && avro_schema_record_field_get_index(s, metric_type_field_name) >= 0;
}

}  // namespace detail

util::result<schema> schema::parse(std::string_view json) {
  auto i = std::make_shared<impl>();
  i->text.assign(json);
  if (avro_schema_from_json_length(i->text.data(), i->text.size(), &i->raw) != 0) {
    i->raw = nullptr;
    return util::error(errc::invalid_schema,
                       std::string("schema is not valid Avro JSON: ") + avro_strerror());
  }
  i->generic_class = avro_generic_class_from_schema(i->raw);
  if (i->generic_class == nullptr) {
    return util::error(errc::invalid_schema,
                       std::string("schema has no avro-c value class: ") + avro_strerror());
  }
  schema s;
  s.impl_ = std::move(i);
  return s;
}

namespace {

util::result<schema> load_shaped(const std::string& path, bool typed) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return util::error(errc::invalid_schema, "cannot read schema file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return util::error(errc::invalid_schema, "cannot read schema file " + path);
  auto s = schema::parse(text.str());
  if (!s) return util::error(errc::invalid_schema, path + ": " + s.error().message);
  const char* what = typed ? ": not the Metric v2 schema: " : ": not the Metric schema: ";
  if (auto problem = detail::metric_shape_problem(static_cast<avro_schema_t>(s->raw()), typed)) {
    return util::error(errc::invalid_schema, path + what + *problem);
  }
  if (typed) {
    // avro-c drops defaults: the text says whether `type` has the one that lets readers of v2 read
    // v1 records (and lets the registry's BACKWARD check pass).
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(s->text(), ec);
    const boost::json::value* d = nullptr;
    if (!ec && v.is_object()) {
      if (const auto* fields = v.as_object().if_contains("fields");
          fields != nullptr && fields->is_array() && !fields->as_array().empty() &&
          fields->as_array().back().is_object()) {
        d = fields->as_array().back().as_object().if_contains("default");
      }
    }
    if (d == nullptr || !d->is_string() || d->as_string() != "gauge") {
      return util::error(errc::invalid_schema,
                         path + what + "field 'type' must have the default \"gauge\"");
    }
  }
  return s;
}

}  // namespace

util::result<schema> schema::load_metric_schema(const std::string& path) {
  return load_shaped(path, false);
}

util::result<schema> schema::load_typed_metric_schema(const std::string& path) {
  return load_shaped(path, true);
}

const std::string& schema::text() const { return impl_->text; }

void* schema::raw() const { return impl_->raw; }

namespace {

// Owns one avro-c value for the duration of a call.
struct value_guard {
  avro_value_t v{};
  bool live = false;
  ~value_guard() {
    if (live) avro_value_decref(&v);
  }
};

struct writer_guard {
  avro_writer_t w;
  ~writer_guard() { avro_writer_free(w); }
};

int set_string(avro_value_t& v, const std::string& s) {
  // avro-c sizes include the NUL terminator that c_str() provides.
  return avro_value_set_string_len(&v, s.c_str(), s.size() + 1);
}

util::error avro_c_error(const char* what) {
  return util::error(errc::invalid_schema, std::string(what) + ": " + avro_strerror());
}

}  // namespace

util::result<std::string> encode_with_avro_c(const schema& s, const model::metric& m) {
  auto* cls = s.impl_->generic_class;
  value_guard rec;
  if (avro_generic_value_new(cls, &rec.v) != 0) return avro_c_error("avro_generic_value_new");
  rec.live = true;
  avro_value_t f, e;
  if (avro_value_get_by_name(&rec.v, "name", &f, nullptr) != 0 || set_string(f, m.name) != 0) {
    return avro_c_error("field name");
  }
  if (avro_value_get_by_name(&rec.v, "value", &f, nullptr) != 0 ||
      avro_value_set_double(&f, m.value) != 0) {
    return avro_c_error("field value");
  }
  if (avro_value_get_by_name(&rec.v, "timestamp", &f, nullptr) != 0 ||
      avro_value_set_long(&f, m.timestamp_ms) != 0) {
    return avro_c_error("field timestamp");
  }
  if (avro_value_get_by_name(&rec.v, "tags", &f, nullptr) != 0) return avro_c_error("field tags");
  for (const auto& [k, v] : m.tags) {
    // avro-c map keys are C strings; a key with an embedded NUL cannot be written here.
    if (avro_value_add(&f, k.c_str(), &e, nullptr, nullptr) != 0 || set_string(e, v) != 0) {
      return avro_c_error("tag");
    }
  }
  if (avro_value_get_by_name(&rec.v, "profileId", &f, nullptr) != 0 ||
      set_string(f, m.profile_id) != 0) {
    return avro_c_error("field profileId");
  }
  if (detail::has_type_field(static_cast<avro_schema_t>(s.raw())) &&
      (avro_value_get_by_name(&rec.v, detail::metric_type_field_name, &f, nullptr) != 0 ||
       set_string(f, std::string(model::to_string(m.type))) != 0)) {
    return avro_c_error("field type");
  }
  std::size_t size = 0;
  if (avro_value_sizeof(&rec.v, &size) != 0) return avro_c_error("avro_value_sizeof");
  std::string out(size, '\0');
  writer_guard w{avro_writer_memory(out.data(), static_cast<int64_t>(out.size()))};
  if (avro_value_write(w.w, &rec.v) != 0) return avro_c_error("avro_value_write");
  out.resize(static_cast<std::size_t>(avro_writer_tell(w.w)));
  return out;
}

}  // namespace mca::avro
