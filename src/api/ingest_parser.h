// Parses an ingest body ({"metrics":[...]}) with simdjson into a pipeline::batch: items whose
// JSON types are right, and per-item errors for the rest (partial success). Whole-body problems
// (malformed JSON, invalid UTF-8, no "metrics" array, too many items) are an api::errc error.
//
// Thread-safe (a parser per thread).
#pragma once

#include <cstdint>
#include <string_view>

#include "pipeline/ingest.h"
#include "util/result.h"

namespace mca::api {

enum class errc {
  invalid_json = 1,        // 400: not JSON, invalid UTF-8, too deep
  invalid_request,         // 400: JSON, but not {"metrics":[...]} with at least one item
  invalid_app_id,          // 400
  no_valid_metrics,        // 400: every item rejected
  batch_too_large,         // 413
  unsupported_media_type,  // 415
};
const std::error_category& category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), category()}; }

// `now_ms` replaces a missing or null timestamp.
util::result<pipeline::batch> parse_ingest_body(std::string_view body, std::size_t max_batch,
                                                std::int64_t now_ms);

}  // namespace mca::api

template <>
struct std::is_error_code_enum<mca::api::errc> : std::true_type {};
