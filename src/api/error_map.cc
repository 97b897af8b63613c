#include "api/error_map.h"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "api/ingest_parser.h"
#include "avro/metric_codec.h"
#include "registry/registry.h"
#include "transport/transport.h"

namespace mca::api {

error_mapping map_error(const util::error& e) {
  const auto& cat = e.code.category();
  if (cat == api::category()) {
    switch (static_cast<errc>(e.code.value())) {
      case errc::invalid_json:
        return {400, "invalid_json"};
      case errc::invalid_request:
        return {400, "invalid_request"};
      case errc::invalid_app_id:
        return {400, "invalid_app_id"};
      case errc::no_valid_metrics:
        return {400, "no_valid_metrics"};
      case errc::batch_too_large:
        return {413, "batch_too_large"};
      case errc::unsupported_media_type:
        return {415, "unsupported_media_type"};
      case errc::unknown_app:
        return {404, "unknown_app"};
    }
  }
  if (cat == transport::category() || cat == registry::category()) return {503, "unavailable"};
  return {500, "internal"};
}

std::string field_errors_json(const std::vector<model::field_error>& errors) {
  boost::json::array out;
  out.reserve(errors.size());
  for (const auto& fe : errors) {
    boost::json::object o;
    if (fe.index != model::kNoIndex) o["index"] = fe.index;
    o["field"] = fe.field;
    o["error"] = fe.error;
    out.push_back(std::move(o));
  }
  return boost::json::serialize(out);
}

http::response json_response(unsigned status, std::string body, const http::request& req) {
  http::response res{static_cast<boost::beast::http::status>(status), req.version()};
  res.set(boost::beast::http::field::content_type, "application/json");
  res.set(boost::beast::http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

http::response error_response(const util::error& e, const http::request& req,
                              std::chrono::seconds retry_after,
                              const std::vector<model::field_error>& details) {
  const auto m = map_error(e);
  std::string body = R"({"error":{"code":)" + boost::json::serialize(boost::json::value(m.code)) +
                     R"(,"message":)" + boost::json::serialize(boost::json::value(e.message)) +
                     R"(,"details":)" + field_errors_json(details) + "}}";
  auto res = json_response(m.status, std::move(body), req);
  if (m.status == 503 || m.status == 429) {
    res.set(boost::beast::http::field::retry_after, std::to_string(retry_after.count()));
  }
  return res;
}

}  // namespace mca::api
