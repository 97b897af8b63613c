// The service's assembly (app/wiring.h): services built from a configuration on the embedded log
// (no Kafka), listening on 127.0.0.1 and a free port, driven over real HTTP; and the settings
// wiring itself refuses (schema files, API_KEYS_FILE, TRUSTED_PROXIES, the Kafka clients' options,
// the port, the TLS files) with their message. Waits poll with generous deadlines: the machine
// running the suites may be loaded.
#include "app/wiring.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "auth/new_key.h"
#include "support/http_client.h"
#include "support/support.h"

namespace mca::app {
namespace {

using namespace std::chrono_literals;
namespace bhttp = boost::beast::http;
using http::test::client_response;

constexpr auto kDeadline = 60s;  // for anything that should take milliseconds

// A configuration as the service loads it, on 127.0.0.1 and any free port, with `env` on top.
config::config make_config(std::map<std::string, std::string> env = {}) {
  env.try_emplace("HOST", "127.0.0.1");
  env.try_emplace("PORT", "0");
  env.try_emplace("HTTP_THREADS", "2");
  env.try_emplace("LOG_LEVEL", "warn");
  auto loaded = config::load(env, {"--env-file", "/dev/null"});
  for (const auto& e : loaded.errors) ADD_FAILURE() << "configuration error: " << e;
  return loaded.cfg;
}

// Threads of this process now (the test's own, gtest's and whatever a service left running).
std::size_t thread_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& task : std::filesystem::directory_iterator("/proc/self/task"))
    ++n;
  return n;
}

// Polls `done` until it holds or `deadline` passes; true when it held.
bool eventually(const std::function<bool()>& done, std::chrono::seconds deadline = kDeadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

struct reply {
  bool ok = false;  // connected and read a whole response
  client_response res;
  unsigned status() const { return ok ? res.result_int() : 0; }
};

// One request on a connection of its own.
reply call(std::uint16_t port, bhttp::verb method, std::string target, std::string body = {},
           const std::vector<std::pair<bhttp::field, std::string>>& headers = {}) {
  http::test::client c(port);
  if (c.connect_error()) return {};
  auto req = http::test::make_request(method, std::move(target), std::move(body));
  if (method == bhttp::verb::post) req.set(bhttp::field::content_type, "application/json");
  for (const auto& [name, value] : headers) req.set(name, value);
  auto r = c.roundtrip(std::move(req));
  if (r.ec) return {};
  return {true, std::move(r.res)};
}

reply get(std::uint16_t port, std::string target, std::string key = {}) {
  if (key.empty()) return call(port, bhttp::verb::get, std::move(target));
  return call(port, bhttp::verb::get, std::move(target), {},
              {{bhttp::field::authorization, "Bearer " + key}});
}

std::string one_metric(const std::string& name, double value, const std::string& host) {
  std::ostringstream body;
  body << R"({"metrics":[{"name":")" << name << R"(","value":)" << value << R"(,"tags":{"host":")"
       << host << R"("},"profileId":"user-1"}]})";
  return body.str();
}

reply post_metric(std::uint16_t port, const std::string& app, const std::string& body,
                  const std::string& key = {}) {
  std::vector<std::pair<bhttp::field, std::string>> headers;
  if (!key.empty()) headers.emplace_back(bhttp::field::authorization, "Bearer " + key);
  return call(port, bhttp::verb::post, "/api/v2/app/" + app + "/metrics", body, headers);
}

// A line of the exposition page, exactly.
bool has_line(const std::string& page, const std::string& line) {
  std::istringstream in(page);
  for (std::string l; std::getline(in, l);)
    if (l == line) return true;
  return false;
}

// Polls the exposition page until it has every one of `lines`, each exactly; fails the test for
// those still missing at the deadline. Returns the last page seen.
std::string page_with(std::uint16_t port, const std::vector<std::string>& lines,
                      const std::string& key = {}) {
  std::string page;
  auto all_there = [&] {
    for (const auto& line : lines)
      if (!has_line(page, line)) return false;
    return true;
  };
  eventually([&] {
    auto r = get(port, "/prometheus-metrics", key);
    page = r.status() == 200 ? r.res.body() : std::string();
    return all_there();
  });
  for (const auto& line : lines) EXPECT_TRUE(has_line(page, line)) << line << " not on\n" << page;
  return page;
}

// A started service; stop() and the destructor are the application's.
std::unique_ptr<application> started(const config::config& cfg) {
  auto app = build(cfg);
  if (!app) {
    ADD_FAILURE() << "build: " << app.error().message;
    return nullptr;
  }
  if (auto r = (*app)->start(); !r) {
    ADD_FAILURE() << "start: " << r.error().message;
    return nullptr;
  }
  return std::move(*app);
}

// {family name: type} from the README's "Self-metrics" table (a cell may name several families).
std::map<std::string, std::string> readme_self_metrics() {
  const auto readme = test::read_file(test::source_path("README.md"));
  const auto begin = readme.find("### Self-metrics");
  EXPECT_NE(begin, std::string::npos);
  const auto section = readme.substr(begin, readme.find("\n## ", begin) - begin);
  const std::regex name(R"(`([a-z_:][a-z0-9_:]*)(\{[^`]*\})?`)");
  std::map<std::string, std::string> table;
  std::istringstream in(section);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("| `", 0) != 0) continue;  // header, separator and prose lines
    std::vector<std::string> cells;
    std::istringstream row(line.substr(1));
    for (std::string cell; std::getline(row, cell, '|');) cells.push_back(cell);
    EXPECT_EQ(cells.size(), 3u) << line;
    if (cells.size() != 3) continue;
    const auto type = cells[1].substr(1, cells[1].size() - 2);
    for (std::sregex_iterator it(cells[0].begin(), cells[0].end(), name), end; it != end; ++it)
      table[(*it)[1]] = type;
  }
  return table;
}

// {family name: type} of the page's "# TYPE" lines, the collected client_metric_ families left out.
std::map<std::string, std::string> page_families(const std::string& page) {
  std::map<std::string, std::string> out;
  std::istringstream in(page);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# TYPE ", 0) != 0) continue;
    std::istringstream words(line.substr(7));
    std::string family, type;
    words >> family >> type;
    if (family.rfind("client_metric_", 0) != 0) out[family] = type;
  }
  return out;
}

TEST(wiring, lists_every_route_before_it_starts) {
  auto app = build(make_config());
  ASSERT_TRUE(app) << app.error().message;
  EXPECT_EQ((*app)->port(), 0);
  const auto routes = (*app)->route_table();
  const std::set<std::string> listed(routes.begin(), routes.end());
  EXPECT_EQ(listed.size(), routes.size()) << "a route listed twice";
  for (const char* r : {"POST /api/v2/app/{app_id}/metrics", "GET /api/v2/app/{app_id}/metrics",
                        "GET /api/v2/app/{app_id}/health", "GET /prometheus-metrics", "GET /livez",
                        "GET /readyz", "GET /openapi.json", "GET /swagger-ui"})
    EXPECT_EQ(listed.count(r), 1u) << r;
}

TEST(wiring, serves_probes_ingest_and_exposition_over_http_then_stops_leaving_no_thread) {
  const auto threads_before = thread_count();
  auto cfg = make_config({{"SHUTDOWN_TIMEOUT_MS", "30000"}});
  auto app = started(cfg);
  ASSERT_NE(app, nullptr);
  const auto port = app->port();
  ASSERT_NE(port, 0);
  EXPECT_GT(thread_count(), threads_before);

  EXPECT_EQ(get(port, "/livez").status(), 200u);
  EXPECT_TRUE(eventually([&] { return get(port, "/readyz").status() == 200; }));
  auto health = get(port, "/api/v2/app/wiring/health");
  EXPECT_EQ(health.status(), 200u) << health.res.body();
  // The registered probes' health reports, in the order the wiring registers them.
  const std::string& h = health.res.body();
  const auto transport = h.find(R"("components":{"transport":{"kind":"embedded")");
  const auto registry = h.find(R"(},"registry":{"kind":"embedded")");
  const auto consumer = h.find(R"(},"consumer":{"kind":"embedded")");
  EXPECT_TRUE(transport != std::string::npos && transport < registry && registry < consumer &&
              consumer != std::string::npos)
      << h;

  auto posted = post_metric(port, "wiring", one_metric("cpu_usage", 75.5, "h1"));
  ASSERT_EQ(posted.status(), 200u) << posted.res.body();
  EXPECT_EQ(posted.res.body(), R"({"accepted":1,"rejected":[]})");
  // Accepted = delivered to the log; the consumer applies it to the store.
  auto page = page_with(port, {R"(client_metric_cpu_usage{app_id="wiring",host="h1"} 75.5)",
                               "kafka_metrics_consumed_total 1"});
  auto held = get(port, "/api/v2/app/wiring/metrics");
  EXPECT_EQ(held.status(), 200u);
  EXPECT_NE(held.res.body().find(R"("name":"cpu_usage","value":75.5)"), std::string::npos)
      << held.res.body();

  // Every module's probe is registered: the page holds exactly the README's families, typed alike.
  const auto documented = readme_self_metrics();
  const auto on_page = page_families(page);
  EXPECT_GT(documented.size(), 40u);
  for (const auto& [family, type] : documented) {
    auto it = on_page.find(family);
    if (it == on_page.end()) {
      ADD_FAILURE() << family << " is in the README's table but not on /prometheus-metrics";
    } else {
      EXPECT_EQ(it->second, type) << family;
    }
  }
  for (const auto& [family, type] : on_page)
    EXPECT_EQ(documented.count(family), 1u) << family << " is on the page but not in the README";

  // The server reports each request to the self-metrics, by route template (unmatched: 404).
  EXPECT_EQ(get(port, "/no-such-route").status(), 404u);
  page_with(port, {R"(mca_http_requests_total{method="GET",route="unmatched",status="404"} 1)",
                   R"(mca_http_requests_total{method="POST",route="ingest",status="200"} 1)"});

  const auto t0 = std::chrono::steady_clock::now();
  app->stop();
  const auto took = std::chrono::steady_clock::now() - t0;
  // Idle: nothing to wait for, so well within SHUTDOWN_TIMEOUT_MS.
  EXPECT_LT(took, 10s) << std::chrono::duration<double>(took).count() << " s";
  EXPECT_TRUE(eventually([&] { return thread_count() <= threads_before; }, 10s))
      << thread_count() << " threads after stop(), " << threads_before << " before start";
  EXPECT_FALSE(get(port, "/livez").ok) << "still answering after stop()";
  app.reset();  // the destructor after stop(): nothing left to do
  EXPECT_EQ(thread_count(), threads_before);
}

// The key file is written whole before the service reads it (a reload sees old or new).
void write_keys(const std::string& path, const std::vector<std::string>& entries) {
  std::string text = R"({"keys":[)";
  for (std::size_t i = 0; i < entries.size(); ++i) text += (i ? "," : "") + entries[i];
  const auto tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text << "]}";
  }
  std::filesystem::rename(tmp, path);
}

auth::new_key admin_key(const std::string& id) {
  auto k = auth::make_key({id, {"admin"}, {}, {}});
  EXPECT_TRUE(k) << k.error().message;
  return *k;
}

TEST(wiring, api_keys_file_guards_the_routes_and_reload_reads_it_again) {
  const auto keys_file = test::write_temp("wiring_keys.json", "");
  const auto first = admin_key("first");
  write_keys(keys_file, {first.entry});
  auto app = started(make_config({{"API_KEYS_FILE", keys_file}}));
  ASSERT_NE(app, nullptr);
  const auto port = app->port();
  const auto body = one_metric("cpu_usage", 1, "h1");

  EXPECT_EQ(post_metric(port, "keys", body).status(), 401u);
  EXPECT_EQ(post_metric(port, "keys", body, first.key).status(), 200u);
  EXPECT_EQ(get(port, "/prometheus-metrics").status(), 401u);
  EXPECT_EQ(get(port, "/livez").status(), 200u) << "probes need no key";

  const auto second = admin_key("second");
  write_keys(keys_file, {second.entry});
  app->reload();
  EXPECT_EQ(post_metric(port, "keys", body, first.key).status(), 401u);
  EXPECT_EQ(post_metric(port, "keys", body, second.key).status(), 200u);

  // An invalid file keeps the keys in force.
  {
    std::ofstream out(keys_file, std::ios::trunc);
    out << "{not json";
  }
  app->reload();
  EXPECT_EQ(post_metric(port, "keys", body, second.key).status(), 200u);
  page_with(port,
            {R"(mca_auth_reloads_total{outcome="failure"} 1)",
             R"(mca_auth_reloads_total{outcome="success"} 1)", "mca_auth_keys 1"},
            second.key);
  app->stop();
}

TEST(wiring, the_docs_routes_count_against_the_per_client_limit_and_probes_do_not) {
  auto app = started(make_config({{"RATE_LIMIT_PER_CLIENT", "1"}}));
  ASSERT_NE(app, nullptr);
  const auto port = app->port();
  // A burst of one second's worth: one request a second. Twenty in a row cannot all fit.
  unsigned docs_limited = 0, probes_limited = 0;
  for (int i = 0; i < 20; ++i) {
    auto r = get(port, "/openapi.json");
    ASSERT_TRUE(r.status() == 200 || r.status() == 429) << r.status();
    if (r.status() == 429) {
      ++docs_limited;
      EXPECT_FALSE(r.res[bhttp::field::retry_after].empty());
    }
    if (get(port, "/livez").status() != 200) ++probes_limited;
  }
  EXPECT_GT(docs_limited, 0u);
  EXPECT_EQ(probes_limited, 0u);
  app->stop();
}

TEST(wiring, allowed_app_ids_and_the_app_id_label_reach_the_api_and_the_exposition) {
  auto app =
      started(make_config({{"ALLOWED_APP_IDS", "shop"}, {"EXPOSITION_APP_ID_LABEL", "false"}}));
  ASSERT_NE(app, nullptr);
  const auto port = app->port();
  auto refused = post_metric(port, "other", one_metric("cpu_usage", 2, "h2"));
  EXPECT_EQ(refused.status(), 404u);
  EXPECT_NE(refused.res.body().find("unknown_app"), std::string::npos) << refused.res.body();
  EXPECT_EQ(post_metric(port, "shop", one_metric("cpu_usage", 2, "h2")).status(), 200u);
  page_with(port, {R"(client_metric_cpu_usage{host="h2"} 2)", "kafka_metrics_consumed_total 1"});
  app->stop();
}

TEST(wiring, the_maintenance_thread_expires_series_past_their_ttl) {
  auto app = started(make_config({{"METRIC_TTL_SECONDS", "1"}}));
  ASSERT_NE(app, nullptr);
  const auto port = app->port();
  ASSERT_EQ(post_metric(port, "ttl", one_metric("cpu_usage", 3, "h3")).status(), 200u);
  // Consumed, then removed by the once-a-second sweep (which alone counts expired series).
  auto page = page_with(port, {"mca_store_expired_series_total 1", "kafka_metrics_consumed_total 1",
                               "mca_store_series 0"});
  EXPECT_EQ(page.find("client_metric_cpu_usage{"), std::string::npos) << page;
  app->stop();
}

// What wiring refuses: each a std::errc::invalid_argument (exit status 2) with the setting named.
void expect_refused(const config::config& cfg, const std::string& message_start) {
  const auto threads_before = thread_count();
  {
    auto app = build(cfg);
    ASSERT_FALSE(app) << "built with " << message_start;
    EXPECT_EQ(app.error().code, std::errc::invalid_argument) << app.error().message;
    EXPECT_EQ(app.error().message.rfind(message_start, 0), 0u) << app.error().message;
  }
  EXPECT_EQ(thread_count(), threads_before);
}

TEST(wiring, refuses_a_schema_file_that_does_not_load) {
  auto cfg = make_config();
  cfg.registry.schema_file = "/nonexistent/metric.avsc";
  expect_refused(cfg, "schema /nonexistent/metric.avsc: ");
  cfg = make_config();
  cfg.registry.schema_v2_file = test::write_temp("wiring_bad.avsc", R"({"type":"record")");
  expect_refused(cfg, "schema " + cfg.registry.schema_v2_file + ": ");
}

TEST(wiring, refuses_an_api_keys_file_it_cannot_read) {
  expect_refused(make_config({{"API_KEYS_FILE", "/nonexistent/keys.json"}}),
                 "API_KEYS_FILE /nonexistent/keys.json");
  expect_refused(make_config({{"API_KEYS_FILE", test::write_temp("wiring_bad_keys.json", "[")}}),
                 "API_KEYS_FILE ");
}

TEST(wiring, refuses_trusted_proxies_that_are_no_cidrs) {
  auto cfg = make_config();
  cfg.access.trusted_proxies = {"10.0.0.0/8", "not-a-cidr"};
  expect_refused(cfg, "TRUSTED_PROXIES: ");
}

TEST(wiring, refuses_kafka_settings_the_clients_cannot_be_made_from) {
  auto cfg = make_config();
  cfg.kafka.bootstrap_servers = "127.0.0.1:9";
  cfg.kafka.security_protocol = "CARRIER_PIGEON";
  expect_refused(cfg, "KAFKA_SECURITY_PROTOCOL: unknown protocol \"CARRIER_PIGEON\"");
}

TEST(wiring, start_reports_a_port_in_use_and_leaves_no_thread) {
  auto first = started(make_config());
  ASSERT_NE(first, nullptr);
  const auto port = std::to_string(first->port());
  const auto threads_before = thread_count();
  {
    auto second = build(make_config({{"PORT", port}}));
    ASSERT_TRUE(second) << second.error().message;
    auto r = (*second)->start();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, std::errc::address_in_use);
    EXPECT_EQ(r.error().message.rfind("cannot listen on 127.0.0.1:" + port + ": ", 0), 0u)
        << r.error().message;
  }
  EXPECT_TRUE(eventually([&] { return thread_count() <= threads_before; }, 10s));
  EXPECT_EQ(get(first->port(), "/livez").status(), 200u) << "the first service is untouched";
  first->stop();
}

TEST(wiring, start_refuses_tls_files_that_do_not_load) {
  auto cfg = make_config();
  cfg.http.tls.cert_file = "/nonexistent/cert.pem";
  cfg.http.tls.key_file = "/nonexistent/key.pem";
  auto app = build(cfg);
  ASSERT_TRUE(app) << app.error().message;
  auto r = (*app)->start();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, std::errc::invalid_argument);
  EXPECT_NE(r.error().message.find("/nonexistent/cert.pem"), std::string::npos)
      << r.error().message;
}

TEST(wiring, reload_tls_without_tls_has_nothing_to_do) {
  auto app = started(make_config());
  ASSERT_NE(app, nullptr);
  EXPECT_TRUE(app->reload_tls());
  EXPECT_EQ(get(app->port(), "/livez").status(), 200u);
  app->stop();
}

}  // namespace
}  // namespace mca::app
