// The one builder of error answers. Every error a client sees -- the server's own (http::errc),
// a handler's, or any module's -- is this JSON body
//   {"error":{"code":"…","message":"…","details":[{"index":i,"field":"…","error":"…"}]}}
// with the status and `code` of the error's table row (util/error_table.h; 500 "internal" for a
// code no table lists), `message` the util::error's own message, and Retry-After when the row
// says so (503, 429).
#pragma once

#include <chrono>
#include <span>
#include <string>

#include "http/server.h"
#include "util/field_error.h"
#include "util/result.h"

namespace mca::http {

response error_response(const util::error& e, std::span<const util::field_error> details = {},
                        std::chrono::seconds retry_after = std::chrono::seconds{1});

// The `details` array alone: [{"index":i,"field":"…","error":"…"}, …] (index left out for
// util::kNoIndex). Also what a 200 ingest answer lists as "rejected".
std::string field_errors_json(std::span<const util::field_error> errors);

// A JSON response with the given status and body (Content-Type application/json, no-store).
response json_response(unsigned status, std::string body);

}  // namespace mca::http
