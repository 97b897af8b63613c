// Parses an ingest body ({"metrics":[...]}) with simdjson into a pipeline::batch: items whose
// JSON types are right, and per-item errors for the rest (partial success). Whole-body problems
// (malformed JSON, invalid UTF-8, no "metrics" array, too many items) are an api::errc error.
//
// Thread-safe (a parser per thread).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "api/errc.h"
#include "pipeline/batch.h"
#include "util/result.h"

namespace mca::api {

// `now_ms` replaces a missing or null timestamp. A missing or null `type` is a gauge; a `type`
// other than the strings "gauge", "counter", "histogram" (case-sensitive) rejects its item with
// field "type".
//
// Numbers: any JSON number is read as a double. Integers beyond 64 bits become the nearest double
// (18446744073709551616 -> 1.8446744073709552e19); a number too small for a double is 0
// (1e-999 -> 0); a number too large for one (1e999) rejects its item, naming the field ("out of the
// double range"), and never the batch. simdjson refuses such numbers outright, so only a body it
// refuses for a number is rewritten (each such number replaced by its double, or by a marker for
// an overflow) and parsed again: the common body pays nothing.
//
// Duplicate keys in any object are an invalid_json error for the whole body (the first key of a
// pair would win here, the last in JavaScript and Python: a proxy or a validator in front could
// see another value than ours). `details`, when given, receives where: field = the key's path
// ("name", "tags.host", "metrics"), index = the item, or model::kNoIndex outside the items.
util::result<pipeline::batch> parse_ingest_body(std::string_view body, std::size_t max_batch,
                                                std::int64_t now_ms,
                                                std::vector<model::field_error>* details = nullptr);

}  // namespace mca::api
