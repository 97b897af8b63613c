// The Confluent Schema Registry client against a scripted HTTP server (tests/unit/registry/
// fake_registry_server.h). Nothing sleeps: every wait polls with a deadline.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include <boost/json.hpp>

#include "fake_registry_server.h"
#include "registry/confluent.h"
#include "support/support.h"

namespace mca::registry {
namespace {

using namespace std::chrono_literals;
using test::canned_response;
using test::fake_registry_server;
using test::seen_request;

constexpr char kSubject[] = "client-metrics-value";
constexpr char kVersionsPath[] = "/subjects/client-metrics-value/versions";
constexpr char kLookupPath[] = "/subjects/client-metrics-value";

// The seed schema plus an optional field: what an evolved producer registers as version 2.
constexpr char kEvolvedSchema[] =
    R"({"type":"record","name":"Metric","namespace":"com.metrics.collection",
 "fields":[{"name":"name","type":"string"},{"name":"value","type":"double"},
 {"name":"timestamp","type":"long"},{"name":"tags","type":{"type":"map","values":"string"},"default":{}},
 {"name":"profileId","type":"string"},{"name":"unit","type":["null","string"],"default":null}]})";

avro::schema ours() { return avro::schema::load_metric_schema(test::schema_file()).value(); }
avro::schema ours_v2() {
  return avro::schema::load_typed_metric_schema(test::schema_v2_file()).value();
}

confluent_options options_for(const std::string& url) {
  confluent_options o;
  o.url = url;
  o.subject = kSubject;
  o.schema = ours();
  o.typed_schema = ours_v2();
  o.retry_initial = 5ms;  // fast retries keep the tests short; the logic is the same
  o.retry_max = 20ms;
  o.connect_timeout = 1000ms;
  o.request_timeout = 2000ms;
  return o;
}

std::unique_ptr<schema_registry> start(confluent_options o) {
  auto r = make_confluent(std::move(o));
  EXPECT_TRUE(r.has_value()) << r.error().message;
  return std::move(*r);
}

// Polls `pred` until it holds or 10 s pass.
bool eventually(const std::function<bool()>& pred) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::yield();
  }
  return pred();
}

std::string schema_by_id_body(const std::string& schema_text) {
  boost::json::object o;
  o["schema"] = schema_text;
  return boost::json::serialize(o);
}

// A closed port: bound, then released, so nothing listens there.
std::string closed_url() {
  unsigned short port;
  {
    fake_registry_server s([](const seen_request&) { return canned_response{}; });
    port = s.port();
  }
  return "http://127.0.0.1:" + std::to_string(port);
}

TEST(confluent_registry, registers_v1_then_v2_under_the_value_subject_and_serves_both_ids) {
  fake_registry_server server([](const seen_request& r) {
    if (r.method == "POST" && r.target == kVersionsPath) {
      const bool v2 =
          boost::json::parse(r.body).as_object().at("schema").as_string() == ours_v2().text();
      return canned_response{200, v2 ? R"({"id":8})" : R"({"id":7})"};
    }
    return canned_response{404, R"({"error_code":40401,"message":"not here"})"};
  });
  auto reg = start(options_for(server.url()));

  ASSERT_TRUE(eventually([&] { return reg->value_schema_id().has_value(); }));
  EXPECT_EQ(reg->value_schema_id()->value, 7);
  EXPECT_EQ(reg->schema_id(avro::wire_schema::v1)->value, 7);
  EXPECT_EQ(reg->schema_id(avro::wire_schema::v2)->value, 8);
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].content_type, "application/vnd.schemaregistry.v1+json");
  EXPECT_EQ(boost::json::parse(reqs[0].body).as_object().at("schema").as_string(), ours().text());
  EXPECT_EQ(boost::json::parse(reqs[1].body).as_object().at("schema").as_string(),
            ours_v2().text());
  auto h = reg->health();
  EXPECT_EQ(h.info.at("schema_id").as_int64(), 7);
  EXPECT_EQ(h.info.at("typed_schema_id").as_int64(), 8);
  // Both are answered from what was registered, without a request.
  EXPECT_EQ(reg->schema_by_id(avro::schema_id{8})->text(), ours_v2().text());
  EXPECT_EQ(reg->schema_by_id(avro::schema_id{7})->text(), ours().text());
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(confluent_registry, a_refused_v2_keeps_both_ids_unknown_and_health_names_the_refusal) {
  fake_registry_server server([](const seen_request& r) {
    if (boost::json::parse(r.body).as_object().at("schema").as_string() == ours_v2().text()) {
      return canned_response{
          409, R"({"error_code":409,"message":"Schema being registered is incompatible"})"};
    }
    return canned_response{200, R"({"id":3})"};
  });
  auto reg = start(options_for(server.url()));

  ASSERT_TRUE(eventually([&] { return reg->health().status == "rejected"; }));
  EXPECT_EQ(reg->value_schema_id().error().code, errc::not_ready);
  EXPECT_EQ(reg->schema_id(avro::wire_schema::v2).error().code, errc::not_ready);
  auto err = std::string(reg->health().info.at("last_error").as_string());
  EXPECT_NE(err.find("v2"), std::string::npos) << err;
  EXPECT_NE(err.find("incompatible"), std::string::npos) << err;
  // v1 is registered once; v2 is retried (with back-off) on its own.
  ASSERT_TRUE(eventually([&] { return server.requests().size() >= 4; }));
  std::size_t v1_posts = 0;
  for (const auto& q : server.requests()) {
    if (boost::json::parse(q.body).as_object().at("schema").as_string() == ours().text())
      ++v1_posts;
  }
  EXPECT_EQ(v1_posts, 1u);
}

TEST(confluent_registry, answers_not_ready_without_blocking_until_registration_succeeds) {
  std::atomic<bool> up{false};
  fake_registry_server server([&](const seen_request&) {
    return up ? canned_response{200, R"({"id":3})"}
              : canned_response{503, R"({"error_code":50003,"message":"warming up"})"};
  });
  auto reg = start(options_for(server.url()));

  ASSERT_TRUE(eventually([&] { return server.count(kVersionsPath) >= 2; }));
  auto before = std::chrono::steady_clock::now();
  auto id = reg->value_schema_id();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 100ms);
  ASSERT_FALSE(id.has_value());
  EXPECT_EQ(id.error().code, errc::not_ready);

  up = true;
  ASSERT_TRUE(eventually([&] { return reg->value_schema_id().has_value(); }));
  EXPECT_EQ(reg->value_schema_id()->value, 3);
}

TEST(confluent_registry, only_looks_the_schema_up_when_auto_register_is_off) {
  std::atomic<int> lookups{0};
  fake_registry_server server([&](const seen_request& r) {
    if (r.method == "POST" && r.target == kLookupPath) {
      // Unknown at first (someone registers it later): the client keeps asking.
      if (++lookups < 3)
        return canned_response{404, R"({"error_code":40403,"message":"Schema not found"})"};
      return canned_response{
          200, R"({"subject":"client-metrics-value","version":1,"id":11,"schema":"{}"})"};
    }
    return canned_response{500, "{}"};
  });
  auto opts = options_for(server.url());
  opts.auto_register = false;
  auto reg = start(opts);

  ASSERT_TRUE(eventually([&] { return reg->value_schema_id().has_value(); }));
  EXPECT_EQ(reg->value_schema_id()->value, 11);
  EXPECT_EQ(server.count(kVersionsPath), 0u);
  EXPECT_EQ(server.count(kLookupPath), 4u);  // v1 three times, then v2
}

TEST(confluent_registry, sends_basic_auth_credentials_with_every_request) {
  fake_registry_server server([](const seen_request& r) {
    if (r.authorization != "Basic YWxpY2U6czNjcmV0") {  // base64("alice:s3cret")
      return canned_response{401, R"({"error_code":401,"message":"Unauthorized"})"};
    }
    if (r.target == kVersionsPath) return canned_response{200, R"({"id":4})"};
    return canned_response{200, schema_by_id_body(kEvolvedSchema)};
  });
  auto opts = options_for(server.url());
  opts.basic_auth_user_info = "alice:s3cret";
  auto reg = start(opts);

  ASSERT_TRUE(eventually([&] { return reg->value_schema_id().has_value(); }));
  EXPECT_TRUE(reg->schema_by_id(avro::schema_id{5}).has_value());
  for (const auto& r : server.requests()) EXPECT_EQ(r.authorization, "Basic YWxpY2U6czNjcmV0");
}

TEST(confluent_registry, reports_a_refused_registration_as_rejected_in_health) {
  fake_registry_server server([](const seen_request&) {
    return canned_response{
        409, R"({"error_code":409,"message":"Schema being registered is incompatible"})"};
  });
  auto reg = start(options_for(server.url()));

  ASSERT_TRUE(eventually([&] { return reg->health().status == "rejected"; }));
  auto h = reg->health();
  EXPECT_FALSE(h.ok);
  EXPECT_NE(std::string(h.info.at("last_error").as_string()).find("incompatible"),
            std::string::npos);
  EXPECT_EQ(reg->value_schema_id().error().code, errc::not_ready);
}

TEST(confluent_registry, reports_wrong_credentials_as_rejected_with_the_answer_on_one_line) {
  fake_registry_server server([](const seen_request&) {
    return canned_response{401, "Unauthorized\n"};
  });
  auto opts = options_for(server.url());
  opts.basic_auth_user_info = "alice:wrong";
  auto reg = start(opts);

  ASSERT_TRUE(eventually([&] { return reg->health().status == "rejected"; }));
  auto err = std::string(reg->health().info.at("last_error").as_string());
  EXPECT_TRUE(err.ends_with("HTTP 401: Unauthorized")) << err;
  EXPECT_EQ(err.find("wrong"), std::string::npos) << err;
}

TEST(confluent_registry, health_is_ok_once_registered_and_names_url_subject_and_id) {
  fake_registry_server server([](const seen_request&) {
    return canned_response{200, R"({"id":2})"};
  });
  auto reg = start(options_for(server.url()));

  ASSERT_TRUE(eventually([&] { return reg->health().ok; }));
  auto h = reg->health();
  EXPECT_EQ(h.status, "ok");
  EXPECT_EQ(h.info.at("kind").as_string(), "confluent");
  EXPECT_EQ(h.info.at("url").as_string(), server.url());
  EXPECT_EQ(h.info.at("subject").as_string(), kSubject);
  EXPECT_EQ(h.info.at("schema_id").as_int64(), 2);
  EXPECT_FALSE(h.info.contains("last_error"));
}

TEST(confluent_registry, unreachable_registry_is_unhealthy_and_health_never_shows_credentials) {
  auto url = closed_url();
  auto opts = options_for("http://bob:hunter2@" + url.substr(std::string("http://").size()));
  opts.basic_auth_user_info = "carol:topsecret";
  auto reg = start(opts);

  ASSERT_TRUE(eventually([&] { return reg->health().status == "unreachable"; }));
  auto h = reg->health();
  EXPECT_FALSE(h.ok);
  auto text = boost::json::serialize(h.info);
  EXPECT_EQ(text.find("hunter2"), std::string::npos) << text;
  EXPECT_EQ(text.find("bob"), std::string::npos) << text;
  EXPECT_EQ(text.find("topsecret"), std::string::npos) << text;
  EXPECT_EQ(h.info.at("url").as_string(), url);
  EXPECT_EQ(reg->value_schema_id().error().code, errc::not_ready);
}

TEST(confluent_registry, fetches_a_writer_schema_by_id_once_and_caches_it) {
  fake_registry_server server([](const seen_request& r) {
    if (r.target == "/schemas/ids/5")
      return canned_response{200, schema_by_id_body(kEvolvedSchema)};
    return canned_response{200, R"({"id":1})"};
  });
  auto reg = start(options_for(server.url()));

  auto first = reg->schema_by_id(avro::schema_id{5});
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(first->text(), kEvolvedSchema);
  auto second = reg->schema_by_id(avro::schema_id{5});
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->text(), kEvolvedSchema);
  EXPECT_EQ(server.count("/schemas/ids/5"), 1u);
}

TEST(confluent_registry, answers_our_own_id_with_our_schema_without_asking) {
  fake_registry_server server([](const seen_request&) {
    return canned_response{200, R"({"id":6})"};
  });
  auto reg = start(options_for(server.url()));
  ASSERT_TRUE(eventually([&] { return reg->value_schema_id().has_value(); }));

  auto s = reg->schema_by_id(avro::schema_id{6});
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->text(), ours().text());
  EXPECT_EQ(server.count("/schemas/ids/6"), 0u);
}

TEST(confluent_registry, remembers_an_unknown_id_until_the_negative_cache_expires) {
  util::manual_clock clock;
  fake_registry_server server([](const seen_request& r) {
    if (r.target == "/schemas/ids/9") {
      return canned_response{404, R"({"error_code":40403,"message":"Schema 9 not found"})"};
    }
    return canned_response{200, R"({"id":1})"};
  });
  auto opts = options_for(server.url());
  opts.clock = &clock;
  opts.negative_cache_ttl = 10s;
  auto reg = start(opts);

  auto first = reg->schema_by_id(avro::schema_id{9});
  ASSERT_FALSE(first.has_value());
  EXPECT_EQ(first.error().code, errc::not_found);
  EXPECT_EQ(reg->schema_by_id(avro::schema_id{9}).error().code, errc::not_found);
  EXPECT_EQ(server.count("/schemas/ids/9"), 1u);

  clock.advance(11s);
  EXPECT_EQ(reg->schema_by_id(avro::schema_id{9}).error().code, errc::not_found);
  EXPECT_EQ(server.count("/schemas/ids/9"), 2u);
}

TEST(confluent_registry, backs_off_id_lookups_while_the_registry_fails) {
  util::manual_clock clock;
  std::atomic<bool> up{false};
  fake_registry_server server([&](const seen_request& r) {
    if (r.target == kVersionsPath) return canned_response{200, R"({"id":1})"};
    if (!up) return canned_response{503, R"({"error_code":50001,"message":"store down"})"};
    return canned_response{200, schema_by_id_body(kEvolvedSchema)};
  });
  auto opts = options_for(server.url());
  opts.clock = &clock;
  opts.retry_initial = 1s;
  opts.retry_max = 8s;
  auto reg = start(opts);

  EXPECT_EQ(reg->schema_by_id(avro::schema_id{5}).error().code, errc::unreachable);
  // Other ids too: the registry is what failed, not the id.
  EXPECT_EQ(reg->schema_by_id(avro::schema_id{8}).error().code, errc::unreachable);
  EXPECT_EQ(server.count("/schemas/ids/5") + server.count("/schemas/ids/8"), 1u);

  up = true;
  clock.advance(1500ms);
  auto s = reg->schema_by_id(avro::schema_id{5});
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(server.count("/schemas/ids/5"), 2u);
}

TEST(confluent_registry, rejects_an_answer_that_is_not_an_avro_schema) {
  fake_registry_server server([](const seen_request& r) {
    if (r.target == "/schemas/ids/12")
      return canned_response{200, R"({"schema":"not avro at all"})"};
    if (r.target == "/schemas/ids/13") return canned_response{200, R"({"nothing":"here"})"};
    return canned_response{200, R"({"id":1})"};
  });
  auto reg = start(options_for(server.url()));

  EXPECT_EQ(reg->schema_by_id(avro::schema_id{12}).error().code, errc::rejected);
  EXPECT_EQ(reg->schema_by_id(avro::schema_id{13}).error().code, errc::rejected);
}

TEST(confluent_registry, escapes_the_subject_in_the_request_path) {
  fake_registry_server server([](const seen_request&) {
    return canned_response{200, R"({"id":1})"};
  });
  auto opts = options_for(server.url() + "/");
  opts.subject = "odd topic/name-value";
  auto reg = start(opts);

  ASSERT_TRUE(eventually([&] { return reg->value_schema_id().has_value(); }));
  EXPECT_EQ(server.requests().at(0).target, "/subjects/odd%20topic%2Fname-value/versions");
}

TEST(confluent_registry, stops_promptly_while_registration_keeps_failing) {
  auto opts = options_for(closed_url());
  opts.retry_initial = 10s;  // a long back-off: the destructor must not wait it out
  opts.retry_max = 10s;
  auto reg = start(opts);
  ASSERT_TRUE(eventually([&] { return reg->health().status == "unreachable"; }));

  auto before = std::chrono::steady_clock::now();
  reg.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 2s);
}

TEST(confluent_registry, refuses_a_url_that_is_not_http_at_start) {
  auto opts = options_for("ftp://user:pw@registry.example:21");
  auto r = make_confluent(opts);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::rejected);
  EXPECT_EQ(r.error().message.find("pw"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace mca::registry
