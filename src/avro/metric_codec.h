// Avro for the `Metric` record and the Confluent wire format. Two versions of the record:
// v1 (schemas/metric.avsc, the seed's schema: every gauge) and v2 (schemas/metric.v2.avsc: v1's
// fields plus a last field `type`, a string with default "gauge": counters and histograms).
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
  unknown_type,        // a v2 record whose `type` is none of model::metric_type's spellings
};
const std::error_category& category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), category()}; }

// Which of our two record versions a body is written in. v1: the seed's record, byte for byte what
// the service always wrote (gauges). v2: v1's body followed by the `type` string (counters,
// histograms).
enum class wire_schema : std::uint8_t { v1, v2 };

// v1 for a gauge (its record stays the seed's), v2 for every other type.
constexpr wire_schema wire_schema_for(model::metric_type t) {
  return t == model::metric_type::gauge ? wire_schema::v1 : wire_schema::v2;
}

// A Schema Registry id (Confluent framing bytes 1..4, big-endian).
struct schema_id {
  std::int32_t value = 0;
  auto operator<=>(const schema_id&) const = default;
};

// A parsed Avro schema (avro-c). Immutable; copies share one parsed schema (shared ownership),
// which lives until the last copy is gone.
class schema {
 public:
  // Parses any Avro JSON schema text (e.g. a writer schema fetched from the registry) and keeps
  // the text byte for byte. errc::invalid_schema (with avro-c's reason) when it is not JSON or
  // not Avro.
  static util::result<schema> parse(std::string_view json);
  // Reads and parses a file and checks it is the Metric record: exactly the fields name:string,
  // value:double, timestamp:long, tags:map<string>, profileId:string, in that order. Anything
  // else is errc::invalid_schema with a message naming the path and what is wrong (e.g.
  // "field 'value' has type string, expected double", "missing field 'profileId'").
  static util::result<schema> load_metric_schema(const std::string& path);
  // The same for v2: the five fields above, then type:string whose default is "gauge" (checked
  // in the text: avro-c does not keep defaults). "field 'type' must have the default \"gauge\"".
  static util::result<schema> load_typed_metric_schema(const std::string& path);

  const std::string& text() const;  // the text as given (what is registered)
  void* raw() const;                // avro_schema_t, for avro-c calls inside this module

 private:
  friend util::result<std::string> encode_with_avro_c(const schema& s, const model::metric& m);
  struct impl;
  std::shared_ptr<const impl> impl_;
};

// Appends the Avro binary encoding of `m` in record version `w` (field order of the Metric schema;
// map written as one block of tags.size() entries followed by the 0 terminator, as avro-c does;
// v2 then writes to_string(m.type)). v1 ignores m.type. Grows `out` once, by the exact encoded
// size. Strings are written as given: callers pass validated metrics (valid UTF-8, finite value).
void encode(const model::metric& m, std::string& out, wire_schema w = wire_schema::v1);
// Decodes one Metric from exactly `body`, which may come from any producer: maps in any number
// of blocks (negative counts with byte sizes too), tags in the order written. Errors:
// errc::truncated when the input ends inside a value or a length points past the end;
// errc::corrupt for negative lengths, varints over 10 bytes or 64 bits, block sizes that do not
// match, invalid UTF-8 in any string, trailing bytes. Nothing is allocated from a declared length
// or count beyond what the input can hold. v1: the type is gauge. v2: the type is read from the
// `type` string; a well-formed string that is no metric_type is errc::unknown_type.
util::result<model::metric> decode(std::string_view body, wire_schema w = wire_schema::v1);
// The same into `out`, reusing its strings and tags (their capacity): once `out` has held a
// record as large, decoding another allocates nothing (the consumer's per-record path). Every
// field of `out` is overwritten on success; on an error `out` holds a partial record.
util::result<void> decode_into(std::string_view body, wire_schema w, model::metric& out);

// Confluent wire format: 0x00, 4-byte big-endian schema id, Avro body in version `w` (the id must
// be that version's). Appends to `out`.
void frame(schema_id id, const model::metric& m, std::string& out, wire_schema w = wire_schema::v1);
struct framed {
  schema_id id;
  std::string_view body;  // points into the message given to unframe()
};
// errc::bad_magic when the first byte is not 0; errc::truncated when shorter than the 5-byte
// header.
util::result<framed> unframe(std::string_view message);

// The oracle: avro-c's generic writer for the same record (`s` must have the Metric fields; when
// it also has the v2 field `type`, to_string(m.type) is written there). Tag keys are C strings to
// avro-c, so a key with an embedded NUL is cut there.
util::result<std::string> encode_with_avro_c(const schema& s, const model::metric& m);

// Reads records written with another (evolved) writer schema as our reader schema, with avro-c's
// schema resolution (writer fields we do not have are skipped, fields in any order, int/long/
// float promotions). avro-c does not apply reader defaults, so a reader field the writer lacks
// takes the default from the reader's JSON (tags: {}, type: "gauge"). The reader is v1 (the type
// is then gauge) or v2 (the type is the resolved `type` string; one that is no metric_type is
// errc::unknown_type). Shares ownership of both schemas.
class resolving_decoder {
 public:
  // errc::invalid_schema when `reader` is not the Metric record (v1 or v2); errc::resolution_failed
  // when `writer` cannot be read as it (incompatible type, missing field without default).
  static util::result<resolving_decoder> create(const schema& writer, const schema& reader);
  // The body is checked against the writer schema before avro-c reads it (lengths and counts
  // against the bytes present, UTF-8, union branches, no trailing bytes), so the errors and
  // allocation bounds are those of avro::decode.
  util::result<model::metric> decode(std::string_view body) const;

 private:
  struct impl;
  std::shared_ptr<const impl> impl_;
};

}  // namespace mca::avro

template <>
struct std::is_error_code_enum<mca::avro::errc> : std::true_type {};
