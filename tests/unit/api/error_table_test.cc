// Every error a client can be answered with, pinned: each module's table row by row (status,
// `code`, Retry-After), and the one JSON envelope built from it. A row added to any table without
// a line here fails `every_row_of_every_table_is_pinned`.
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "api/errc.h"
#include "auth/errc.h"
#include "avro/metric_codec.h"
#include "http/errc.h"
#include "http/error_response.h"
#include "pipeline/aggregate_codec.h"
#include "registry/registry.h"
#include "transport/transport.h"
#include "util/error_table.h"

namespace mca {
namespace {

using util::error_answer;

struct pinned {
  std::error_code code;
  error_answer answer;
};

const error_answer kInternal{500, "internal", false};
const error_answer kUnavailable{503, "unavailable", true};

const std::vector<pinned>& table() {
  static const std::vector<pinned> rows = {
      // api: request bodies, paths, queries, access.
      {api::errc::invalid_json, {400, "invalid_json", false}},
      {api::errc::invalid_request, {400, "invalid_request", false}},
      {api::errc::invalid_app_id, {400, "invalid_app_id", false}},
      {api::errc::no_valid_metrics, {400, "no_valid_metrics", false}},
      {api::errc::batch_too_large, {413, "batch_too_large", false}},
      {api::errc::unsupported_media_type, {415, "unsupported_media_type", false}},
      {api::errc::unknown_app, {404, "unknown_app", false}},
      {api::errc::unauthorized, {401, "unauthorized", false}},
      {api::errc::forbidden, {403, "forbidden", false}},
      {api::errc::rate_limited, {429, "rate_limited", true}},
      // http: what the server answers itself.
      {http::errc::body_too_large, {413, "payload_too_large", false}},
      {http::errc::unsupported_encoding, {415, "unsupported_encoding", false}},
      {http::errc::bad_gzip, {400, "bad_request", false}},
      {http::errc::bad_tls_files, kInternal},
      {http::errc::bad_request, {400, "bad_request", false}},
      {http::errc::not_found, {404, "not_found", false}},
      {http::errc::method_not_allowed, {405, "method_not_allowed", false}},
      {http::errc::request_timeout, {408, "request_timeout", false}},
      {http::errc::length_required, {411, "length_required", false}},
      {http::errc::uri_too_long, {414, "uri_too_long", false}},
      {http::errc::headers_too_large, {431, "headers_too_large", false}},
      {http::errc::origin_not_allowed, {403, "origin_not_allowed", false}},
      {http::errc::not_implemented, {501, "not_implemented", false}},
      {http::errc::unavailable, kUnavailable},
      {http::errc::internal, kInternal},
      // transport and registry: outages and back-pressure.
      {transport::errc::queue_full, kUnavailable},
      {transport::errc::delivery_failed, kUnavailable},
      {transport::errc::timed_out, kUnavailable},
      {transport::errc::unavailable, kUnavailable},
      {registry::errc::not_ready, kUnavailable},
      {registry::errc::not_found, kUnavailable},
      {registry::errc::unreachable, kUnavailable},
      {registry::errc::rejected, kUnavailable},
      // Never the end of a request: internal if one ever were.
      {auth::errc::unreadable_keys_file, kInternal},
      {auth::errc::invalid_keys_file, kInternal},
      {auth::errc::invalid_cidr, kInternal},
      {auth::errc::invalid_key_request, kInternal},
      {avro::errc::invalid_schema, kInternal},
      {avro::errc::truncated, kInternal},
      {avro::errc::corrupt, kInternal},
      {avro::errc::bad_magic, kInternal},
      {avro::errc::resolution_failed, kInternal},
      {avro::errc::unknown_type, kInternal},
      {pipeline::state_errc::unknown_version, kInternal},
      {pipeline::state_errc::truncated, kInternal},
      {pipeline::state_errc::checksum_mismatch, kInternal},
      {pipeline::state_errc::invalid, kInternal},
  };
  return rows;
}

std::string describe(const std::error_code& c) {
  return std::string(c.category().name()) + ":" + std::to_string(c.value());
}

TEST(error_table, each_code_answers_its_status_code_and_retry_after) {
  for (const auto& p : table()) {
    EXPECT_EQ(util::answer_for(p.code), p.answer) << describe(p.code);
  }
}

TEST(error_table, every_row_of_every_table_is_pinned) {
  std::map<const std::error_category*, std::set<int>> pinned_values;
  for (const auto& p : table()) pinned_values[&p.code.category()].insert(p.code.value());
  ASSERT_EQ(pinned_values.size(), 7u);  // api, http, transport, registry, auth, avro, state
  for (const auto& [cat, values] : pinned_values) {
    const auto* t = dynamic_cast<const util::table_category*>(cat);
    ASSERT_NE(t, nullptr) << cat->name() << " is not a util::table_category";
    std::set<int> rows;
    for (const auto& row : t->rows()) {
      EXPECT_TRUE(rows.insert(row.value).second)
          << cat->name() << " lists " << row.value << " twice";
      EXPECT_FALSE(row.message.empty());
    }
    EXPECT_EQ(rows, values) << cat->name();
  }
}

TEST(error_table, a_code_no_table_lists_is_internal) {
  EXPECT_EQ(util::answer_for(std::make_error_code(std::errc::io_error)), kInternal);
  EXPECT_EQ(util::answer_for(std::error_code(999, transport::category())), kInternal);
  EXPECT_EQ(std::error_code(999, transport::category()).message(), "unknown transport error");
}

TEST(error_table, messages_come_from_the_rows) {
  EXPECT_EQ(std::error_code(api::errc::invalid_json).message(), "request body is not valid JSON");
  EXPECT_EQ(std::error_code(transport::errc::queue_full).message(), "transport queue is full");
  EXPECT_EQ(std::error_code(http::errc::bad_gzip).message(), "malformed gzip body");
  EXPECT_STREQ(transport::category().name(), "transport");
  EXPECT_STREQ(http::http_category().name(), "mca.http");
}

std::string header(const http::response& res, boost::beast::http::field f) {
  auto v = res[f];
  return std::string(v.data(), v.size());
}

TEST(error_envelope, is_the_documented_json_byte_for_byte) {
  const std::vector<util::field_error> details = {{3, "name", "must not be empty"},
                                                  {util::kNoIndex, "app_id", "bad \"quote\""}};
  auto res = http::error_response({api::errc::invalid_request, "metrics must be an array"}, details,
                                  std::chrono::seconds(7));
  EXPECT_EQ(res.result_int(), 400u);
  EXPECT_EQ(res.body(),
            R"({"error":{"code":"invalid_request","message":"metrics must be an array","details":)"
            R"([{"index":3,"field":"name","error":"must not be empty"},)"
            R"({"field":"app_id","error":"bad \"quote\""}]}})");
  EXPECT_EQ(header(res, boost::beast::http::field::content_type), "application/json");
  EXPECT_EQ(header(res, boost::beast::http::field::cache_control), "no-store");
  EXPECT_EQ(res.count(boost::beast::http::field::retry_after), 0u);
  EXPECT_EQ(header(res, boost::beast::http::field::content_length),
            std::to_string(res.body().size()));
}

TEST(error_envelope, carries_retry_after_when_the_row_says_so) {
  for (const auto& p : table()) {
    auto res = http::error_response({p.code, "m"}, {}, std::chrono::seconds(4));
    EXPECT_EQ(res.result_int(), p.answer.status) << describe(p.code);
    EXPECT_EQ(res.count(boost::beast::http::field::retry_after), p.answer.retry_after ? 1u : 0u)
        << describe(p.code);
    if (p.answer.retry_after) {
      EXPECT_EQ(header(res, boost::beast::http::field::retry_after), "4");
    }
    const auto body = boost::json::parse(res.body());
    EXPECT_EQ(body.at("error").at("code").as_string(), p.answer.code) << describe(p.code);
    EXPECT_EQ(body.at("error").at("message").as_string(), "m");
    EXPECT_TRUE(body.at("error").at("details").as_array().empty());
  }
}

TEST(error_envelope, defaults_retry_after_to_one_second) {
  auto res = http::error_response({http::errc::unavailable, "draining"});
  EXPECT_EQ(header(res, boost::beast::http::field::retry_after), "1");
}

TEST(error_envelope, escapes_control_characters_and_keeps_utf8) {
  auto res = http::error_response({api::errc::invalid_json, std::string("a\n\x01\"\\é", 7)});
  EXPECT_EQ(boost::json::parse(res.body()).at("error").at("message").as_string(),
            std::string("a\n\x01\"\\é", 7));
}

}  // namespace
}  // namespace mca
