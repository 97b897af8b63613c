#include "api/errc.h"

#include "util/error_table.h"

namespace mca::api {
namespace {

constexpr util::error_row kErrors[] = {
    {errc::invalid_json, "request body is not valid JSON", {400, "invalid_json"}},
    {errc::invalid_request, "request body must be {\"metrics\": [...]}", {400, "invalid_request"}},
    {errc::invalid_app_id,
     "app_id must match [A-Za-z0-9._-]{1,64} and not be only dots",
     {400, "invalid_app_id"}},
    {errc::no_valid_metrics, "no metric in the batch is valid", {400, "no_valid_metrics"}},
    {errc::batch_too_large, "too many metrics in one batch", {413, "batch_too_large"}},
    {errc::unsupported_media_type,
     "Content-Type must be application/json",
     {415, "unsupported_media_type"}},
    {errc::unknown_app, "this service takes no metrics for that app_id", {404, "unknown_app"}},
    {errc::unauthorized, "an API key is required", {401, "unauthorized"}},
    {errc::forbidden, "the API key does not allow this request", {403, "forbidden"}},
    {errc::rate_limited, "too many requests", {429, "rate_limited", true}},
};

}  // namespace

const std::error_category& category() { return util::category_of<kErrors>("api"); }

}  // namespace mca::api
