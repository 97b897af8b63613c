// Avro for the `Metric` record (schemas/metric.avsc) and the Confluent wire format.
//
// The encoder/decoder here are hand-written for the one record we produce (the ingest hot path);
// avro-c's generic writer is their oracle (tests/unit/avro). Schemas themselves are parsed and
// resolved with avro-c. All functions are thread-safe; `schema` and `resolving_decoder` are
// immutable after creation and may be shared between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "model/metric.h"
#include "util/result.h"

namespace mca::avro {

enum class errc {
  invalid_schema = 1,  // not JSON, not Avro, or not a record we can read as Metric
  truncated,           // input ends inside a value
  corrupt,             // negative length, bad varint, trailing bytes, invalid UTF-8 ...
  bad_magic,           // Confluent frame does not start with byte 0
  resolution_failed,   // writer schema cannot be read as our reader schema
};
const std::error_category& category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), category()}; }

// A Schema Registry id (Confluent framing bytes 1..4, big-endian).
struct schema_id {
  std::int32_t value = 0;
  auto operator<=>(const schema_id&) const = default;
};

// A parsed Avro schema (avro-c). Immutable.
class schema {
 public:
  // Parses JSON schema text. For load_metric_schema the record must have the Metric fields.
  static util::result<schema> parse(std::string_view json);
  // Reads and parses a file; checks it is the Metric record (field names and types).
  static util::result<schema> load_metric_schema(const std::string& path);

  const std::string& text() const;  // the text as given (what is registered)
  void* raw() const;                // avro_schema_t, for avro-c calls inside this module

 private:
  friend util::result<std::string> encode_with_avro_c(const schema& s, const model::metric& m);
  struct impl;
  std::shared_ptr<const impl> impl_;
};

// Appends the Avro binary encoding of `m` (field order of the Metric schema; map written as one
// block of tags.size() entries followed by the 0 terminator, as avro-c does).
void encode(const model::metric& m, std::string& out);
// Decodes one Metric from exactly `body` (trailing bytes are an error).
util::result<model::metric> decode(std::string_view body);

// Confluent wire format: 0x00, 4-byte big-endian schema id, Avro body.
void frame(schema_id id, const model::metric& m, std::string& out);
struct framed {
  schema_id id;
  std::string_view body;
};
util::result<framed> unframe(std::string_view message);

// The oracle: avro-c's generic writer for the same record.
util::result<std::string> encode_with_avro_c(const schema& s, const model::metric& m);

// Reads records written with another (evolved) writer schema as our reader schema, with avro-c's
// schema resolution (added fields with defaults, removed fields, promotions).
class resolving_decoder {
 public:
  static util::result<resolving_decoder> create(const schema& writer, const schema& reader);
  util::result<model::metric> decode(std::string_view body) const;

 private:
  struct impl;
  std::shared_ptr<const impl> impl_;
};

}  // namespace mca::avro

template <>
struct std::is_error_code_enum<mca::avro::errc> : std::true_type {};
