#include "http/error_response.h"

#include <boost/beast/http/field.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "util/error_table.h"

namespace mca::http {

std::string field_errors_json(std::span<const util::field_error> errors) {
  if (errors.empty()) return "[]";  // every accepted batch: no array to build and serialise
  boost::json::array out;
  out.reserve(errors.size());
  for (const auto& fe : errors) {
    boost::json::object o;
    if (fe.index != util::kNoIndex) o["index"] = fe.index;
    o["field"] = fe.field;
    o["error"] = fe.error;
    out.push_back(std::move(o));
  }
  return boost::json::serialize(out);
}

response json_response(unsigned status, std::string body) {
  response res{static_cast<boost::beast::http::status>(status), 11};
  res.set(boost::beast::http::field::content_type, "application/json");
  res.set(boost::beast::http::field::cache_control, "no-store");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

response error_response(const util::error& e, std::span<const util::field_error> details,
                        std::chrono::seconds retry_after) {
  const auto answer = util::answer_for(e.code);
  std::string body =
      R"({"error":{"code":)" + boost::json::serialize(boost::json::string_view(answer.code)) +
      R"(,"message":)" + boost::json::serialize(boost::json::string_view(e.message)) +
      R"(,"details":)" + field_errors_json(details) + "}}";
  auto res = json_response(answer.status, std::move(body));
  if (answer.retry_after) {
    res.set(boost::beast::http::field::retry_after, std::to_string(retry_after.count()));
  }
  return res;
}

}  // namespace mca::http
