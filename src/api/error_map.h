// The one place where errors become HTTP: every module's error category maps to a status, a
// stable `code` string and a JSON body {"error":{"code","message","details"}}. 503 and 429 carry
// Retry-After.
#pragma once

#include <chrono>
#include <vector>

#include "http/server.h"
#include "model/metric.h"
#include "util/result.h"

namespace mca::api {

struct error_mapping {
  unsigned status;
  const char* code;
};

// Status and code for an error of any module.
error_mapping map_error(const util::error& e);

// The full response; `details` lists per-item problems (index, field, error).
http::response error_response(const util::error& e, const http::request& req,
                              std::chrono::seconds retry_after,
                              const std::vector<model::field_error>& details = {});

// JSON for a list of field errors: [{"index":i,"field":"…","error":"…"}, …].
std::string field_errors_json(const std::vector<model::field_error>& errors);

// A JSON response with the given status.
http::response json_response(unsigned status, std::string body, const http::request& req);

}  // namespace mca::api
