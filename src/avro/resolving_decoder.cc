#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include <avro.h>
#include <boost/json.hpp>

#include "avro/binary.h"
#include "avro/metric_codec.h"
#include "avro/metric_shape.h"

namespace mca::avro {

namespace {

using binary::cursor;

// ---- writer-schema validation -----------------------------------------------------------------
//
// avro-c's reader allocates a string or bytes value as soon as it has read the length prefix and
// grows arrays per declared item, so hostile input could make it allocate far more than the
// message holds. Every body therefore goes through this walk first: it checks each length and
// count against the bytes that remain, every string for UTF-8, every union branch and enum index,
// and that the record ends exactly at the end of the body. Only then does avro-c see it.

constexpr int max_depth = 64;
// Arrays whose items can encode to zero bytes (null, empty records) cannot be bounded by the
// input size; past this many items such data is treated as corrupt.
constexpr std::int64_t max_zero_size_items = 1 << 16;

std::size_t min_size(avro_schema_t s, int depth) {
  if (depth > max_depth) return 0;
  switch (avro_typeof(s)) {
    case AVRO_NULL:
      return 0;
    case AVRO_FLOAT:
      return 4;
    case AVRO_DOUBLE:
      return 8;
    case AVRO_FIXED:
      return static_cast<std::size_t>(avro_schema_fixed_size(s));
    case AVRO_RECORD: {
      std::size_t n = 0;
      for (std::size_t i = 0; i < avro_schema_record_size(s); ++i) {
        n += min_size(avro_schema_record_field_get_by_index(s, static_cast<int>(i)), depth + 1);
      }
      return n;
    }
    case AVRO_LINK:
      return 0;  // conservative: recursion is bounded by max_depth instead
    default:
      return 1;  // every other type starts with at least one byte
  }
}

errc walk(avro_schema_t s, cursor& c, int depth);

errc walk_blocks(avro_schema_t item, bool is_map, cursor& c, int depth) {
  const bool zero_size = !is_map && min_size(item, depth) == 0;
  std::int64_t total = 0;
  for (;;) {
    std::int64_t count = 0;
    const std::uint8_t* block_end = nullptr;
    if (errc e = binary::read_block_header(c, count, block_end); e != errc{}) return e;
    if (count == 0) return errc{};
    if (zero_size) {
      total += count;
      if (total > max_zero_size_items) return errc::corrupt;
    } else if (static_cast<std::uint64_t>(count) > c.remaining()) {
      return errc::truncated;
    }
    for (std::int64_t i = 0; i < count; ++i) {
      if (is_map) {
        std::size_t n = 0;
        if (errc e = binary::read_length(c, n); e != errc{}) return e;
        if (!binary::valid_utf8(c.p, n)) return errc::corrupt;
        c.p += n;
      }
      if (errc e = walk(item, c, depth + 1); e != errc{}) return e;
    }
    if (block_end != nullptr && c.p != block_end) return errc::corrupt;
  }
}

errc skip_bytes(cursor& c, std::size_t n) {
  if (c.remaining() < n) return errc::truncated;
  c.p += n;
  return errc{};
}

errc walk(avro_schema_t s, cursor& c, int depth) {
  if (depth > max_depth) return errc::corrupt;
  switch (avro_typeof(s)) {
    case AVRO_NULL:
      return errc{};
    case AVRO_BOOLEAN:
      if (c.p == c.end) return errc::truncated;
      return *c.p++ > 1 ? errc::corrupt : errc{};
    case AVRO_INT32: {
      std::int32_t v = 0;
      return binary::read_int(c, v);
    }
    case AVRO_INT64: {
      std::int64_t v = 0;
      return binary::read_long(c, v);
    }
    case AVRO_FLOAT:
      return skip_bytes(c, 4);
    case AVRO_DOUBLE:
      return skip_bytes(c, 8);
    case AVRO_FIXED:
      return skip_bytes(c, static_cast<std::size_t>(avro_schema_fixed_size(s)));
    case AVRO_STRING:
    case AVRO_BYTES: {
      std::size_t n = 0;
      if (errc e = binary::read_length(c, n); e != errc{}) return e;
      if (is_avro_string(s) && !binary::valid_utf8(c.p, n)) return errc::corrupt;
      c.p += n;
      return errc{};
    }
    case AVRO_ENUM: {
      std::int32_t v = 0;
      if (errc e = binary::read_int(c, v); e != errc{}) return e;
      return v < 0 || v >= avro_schema_enum_number_of_symbols(s) ? errc::corrupt : errc{};
    }
    case AVRO_UNION: {
      std::int32_t branch = 0;
      if (errc e = binary::read_int(c, branch); e != errc{}) return e;
      if (branch < 0 || static_cast<std::size_t>(branch) >= avro_schema_union_size(s)) {
        return errc::corrupt;
      }
      return walk(avro_schema_union_branch(s, branch), c, depth + 1);
    }
    case AVRO_RECORD:
      for (std::size_t i = 0; i < avro_schema_record_size(s); ++i) {
        auto f = avro_schema_record_field_get_by_index(s, static_cast<int>(i));
        if (errc e = walk(f, c, depth + 1); e != errc{}) return e;
      }
      return errc{};
    case AVRO_MAP:
      return walk_blocks(avro_schema_map_values(s), true, c, depth);
    case AVRO_ARRAY:
      return walk_blocks(avro_schema_array_items(s), false, c, depth);
    case AVRO_LINK:
      return walk(avro_schema_link_target(s), c, depth + 1);
  }
  return errc::corrupt;
}

// ---- defaults for reader fields the writer lacks ----------------------------------------------
//
// avro-c's resolver does not apply reader defaults (it fails with "Reader field ... doesn't
// appear in writer"), and its parser does not keep them. So the reader's JSON is read here: the
// fields the writer lacks are dropped from the schema given to avro-c, and their defaults are
// filled in after resolution.

// f_type only in a v2 reader.
enum field_index { f_name, f_value, f_timestamp, f_tags, f_profile_id, f_type, field_count };

const char* field_name(int f) {
  return f == f_type ? detail::metric_type_field_name : detail::metric_field_names[f];
}

std::optional<std::string> default_into(field_index f, const boost::json::value& d,
                                        model::metric& m) {
  switch (f) {
    case f_name:
    case f_profile_id:
      if (!d.is_string()) return "default is not a string";
      (f == f_name ? m.name : m.profile_id) = std::string(d.get_string());
      return std::nullopt;
    case f_value:
      if (d.is_double()) {
        m.value = d.get_double();
      } else if (d.is_int64()) {
        m.value = static_cast<double>(d.get_int64());
      } else if (d.is_uint64()) {
        m.value = static_cast<double>(d.get_uint64());
      } else {
        return "default is not a number";
      }
      return std::nullopt;
    case f_timestamp:
      if (!d.is_int64()) return "default is not a long";
      m.timestamp_ms = d.get_int64();
      return std::nullopt;
    case f_type: {
      if (!d.is_string()) return "default is not a string";
      auto t = model::parse_metric_type(std::string_view(d.get_string()));
      if (!t) return "default is not a metric type";
      m.type = *t;
      return std::nullopt;
    }
    case f_tags:
      if (!d.is_object()) return "default is not a map";
      for (const auto& [k, v] : d.get_object()) {
        if (!v.is_string()) return "default map value is not a string";
        m.tags.emplace_back(std::string(k), std::string(v.get_string()));
      }
      return std::nullopt;
    case field_count:
      break;
  }
  return "unknown field";
}

struct schema_deleter {
  void operator()(avro_schema_t s) const { avro_schema_decref(s); }
};
using schema_ptr = std::unique_ptr<std::remove_pointer_t<avro_schema_t>, schema_deleter>;

struct iface_deleter {
  void operator()(avro_value_iface_t* i) const { avro_value_iface_decref(i); }
};
using iface_ptr = std::unique_ptr<avro_value_iface_t, iface_deleter>;

struct value_guard {
  avro_value_t v{};
  bool live = false;
  value_guard() = default;
  value_guard(const value_guard&) = delete;
  value_guard& operator=(const value_guard&) = delete;
  ~value_guard() {
    if (live) avro_value_decref(&v);
  }
};

struct reader_guard {
  avro_reader_t r;
  ~reader_guard() { avro_reader_free(r); }
};

util::error failed(std::string what) {
  return util::error(errc::resolution_failed, std::move(what));
}

bool get_string(avro_value_t& v, std::string& out) {
  const char* p = nullptr;
  std::size_t size = 0;
  if (avro_value_get_string(&v, &p, &size) != 0) return false;
  // avro-c counts the NUL terminator in the size.
  out.assign(p, size > 0 ? size - 1 : 0);
  return true;
}

}  // namespace

struct resolving_decoder::impl {
  schema writer;
  schema_ptr reader_view;           // the reader minus fields the writer lacks
  iface_ptr writer_class;           // generic values of the writer schema
  iface_ptr resolver;               // reads a writer value as reader_view
  int fields = field_count - 1;     // the reader's: field_count with a v2 reader (f_type)
  bool from_writer[field_count]{};  // field present in the writer (else: its default)
  model::metric defaults;
};

util::result<resolving_decoder> resolving_decoder::create(const schema& writer,
                                                          const schema& reader) {
  auto w = static_cast<avro_schema_t>(writer.raw());
  auto r = static_cast<avro_schema_t>(reader.raw());
  const bool typed = !detail::metric_shape_problem(r, true).has_value();
  if (!typed) {
    if (auto problem = detail::metric_shape_problem(r)) {
      return util::error(errc::invalid_schema,
                         "reader schema is not the Metric schema: " + *problem);
    }
  }
  if (!is_avro_record(w)) return failed("writer schema is not a record");

  auto i = std::make_shared<impl>();
  i->writer = writer;
  i->fields = typed ? field_count : field_count - 1;

  boost::system::error_code ec;
  boost::json::value reader_json = boost::json::parse(reader.text(), ec);
  if (ec || !reader_json.is_object() || !reader_json.as_object()["fields"].is_array()) {
    return util::error(errc::invalid_schema, "reader schema text is not a JSON record");
  }
  auto& fields = reader_json.as_object()["fields"].as_array();
  // metric_shape_problem() checked the parsed schema; this checks the text says the same.
  if (fields.size() != static_cast<std::size_t>(i->fields) ||
      !std::all_of(fields.begin(), fields.end(), [](const auto& f) { return f.is_object(); })) {
    return util::error(errc::invalid_schema, "reader schema text does not list the Metric fields");
  }
  boost::json::array kept;
  for (int f = 0; f < i->fields; ++f) {
    const char* name = field_name(f);
    i->from_writer[f] = avro_schema_record_field_get_index(w, name) >= 0;
    const boost::json::object& field = fields[static_cast<std::size_t>(f)].as_object();
    if (i->from_writer[f]) {
      kept.push_back(field);
      continue;
    }
    const auto* d = field.if_contains("default");
    if (d == nullptr) {
      return failed(std::string("writer schema has no field '") + name +
                    "' and the reader gives no default");
    }
    if (auto why = default_into(static_cast<field_index>(f), *d, i->defaults)) {
      return failed(std::string("reader field '") + name + "': " + *why);
    }
  }

  if (kept.size() == static_cast<std::size_t>(i->fields)) {
    i->reader_view.reset(avro_schema_incref(r));
  } else {
    fields = std::move(kept);
    const std::string text = boost::json::serialize(reader_json);
    avro_schema_t view = nullptr;
    if (avro_schema_from_json_length(text.data(), text.size(), &view) != 0) {
      return failed(std::string("cannot build the reduced reader schema: ") + avro_strerror());
    }
    i->reader_view.reset(view);
  }

  i->writer_class.reset(avro_generic_class_from_schema(w));
  if (!i->writer_class) return failed(std::string("writer schema: ") + avro_strerror());
  i->resolver.reset(avro_resolved_reader_new(w, i->reader_view.get()));
  if (!i->resolver) return failed(avro_strerror());

  resolving_decoder d;
  d.impl_ = std::move(i);
  return d;
}

util::result<model::metric> resolving_decoder::decode(std::string_view body) const {
  auto w = static_cast<avro_schema_t>(impl_->writer.raw());
  {
    cursor c(body);
    errc e = walk(w, c, 0);
    if (e == errc{} && c.p != c.end) e = errc::corrupt;
    if (e != errc{}) {
      return util::error(
          e, "record does not match its writer schema: " + category().message(static_cast<int>(e)));
    }
  }

  value_guard written;
  if (avro_generic_value_new(impl_->writer_class.get(), &written.v) != 0) {
    return util::error(errc::corrupt, std::string("avro-c: ") + avro_strerror());
  }
  written.live = true;
  {
    reader_guard in{avro_reader_memory(body.data(), static_cast<int64_t>(body.size()))};
    if (avro_value_read(in.r, &written.v) != 0) {
      return util::error(errc::corrupt, std::string("avro-c read: ") + avro_strerror());
    }
  }
  value_guard resolved;
  if (avro_resolved_reader_new_value(impl_->resolver.get(), &resolved.v) != 0) {
    return util::error(errc::corrupt, std::string("avro-c: ") + avro_strerror());
  }
  resolved.live = true;
  avro_resolved_reader_set_source(&resolved.v, &written.v);

  model::metric m = impl_->defaults;
  auto bad = [](const char* field) {
    return util::error(errc::corrupt,
                       std::string("cannot read field ") + field + ": " + avro_strerror());
  };
  avro_value_t f;
  if (impl_->from_writer[f_name]) {
    if (avro_value_get_by_name(&resolved.v, "name", &f, nullptr) != 0 || !get_string(f, m.name)) {
      return bad("name");
    }
  }
  if (impl_->from_writer[f_value]) {
    if (avro_value_get_by_name(&resolved.v, "value", &f, nullptr) != 0 ||
        avro_value_get_double(&f, &m.value) != 0) {
      return bad("value");
    }
  }
  if (impl_->from_writer[f_timestamp]) {
    int64_t ts = 0;
    if (avro_value_get_by_name(&resolved.v, "timestamp", &f, nullptr) != 0 ||
        avro_value_get_long(&f, &ts) != 0) {
      return bad("timestamp");
    }
    m.timestamp_ms = ts;
  }
  if (impl_->from_writer[f_tags]) {
    std::size_t n = 0;
    if (avro_value_get_by_name(&resolved.v, "tags", &f, nullptr) != 0 ||
        avro_value_get_size(&f, &n) != 0) {
      return bad("tags");
    }
    m.tags.reserve(n);
    for (std::size_t k = 0; k < n; ++k) {
      avro_value_t e;
      const char* key = nullptr;
      std::string v;
      if (avro_value_get_by_index(&f, k, &e, &key) != 0 || !get_string(e, v)) return bad("tags");
      m.tags.emplace_back(key, std::move(v));
    }
  }
  if (impl_->from_writer[f_profile_id]) {
    if (avro_value_get_by_name(&resolved.v, "profileId", &f, nullptr) != 0 ||
        !get_string(f, m.profile_id)) {
      return bad("profileId");
    }
  }
  if (impl_->fields > f_type && impl_->from_writer[f_type]) {
    std::string type;
    if (avro_value_get_by_name(&resolved.v, detail::metric_type_field_name, &f, nullptr) != 0 ||
        !get_string(f, type)) {
      return bad("type");
    }
    auto t = model::parse_metric_type(type);
    if (!t) return util::error(errc::unknown_type, "field type: unknown metric type");
    m.type = *t;
  }
  return m;
}

}  // namespace mca::avro
