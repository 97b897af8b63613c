#include "http/server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include <sys/eventfd.h>
#include <unistd.h>

#include <boost/json/parse.hpp>

#include "http/codec.h"
#include "http/error_response.h"
#include "support/http_client.h"

namespace mca::http {
namespace {

using namespace std::chrono_literals;
using test::client;
using test::make_request;
using field = boost::beast::http::field;

// Generous: the tests run on a loaded 2-core machine.
constexpr auto stop_deadline = 10s;

server_options test_options() {
  server_options o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.threads = 2;
  return o;
}

response text(std::string body, unsigned status = 200) {
  response res{static_cast<boost::beast::http::status>(status), 11};
  res.set(field::content_type, "text/plain");
  res.body() = std::move(body);
  return res;
}

handler reply_with(std::string body) {
  return [body](request&&, const params&, responder respond) { respond(text(body)); };
}

handler echo_body() {
  return [](request&& req, const params&, responder respond) {
    std::string seen = req.body();
    if (req.count(field::content_encoding)) seen = "still encoded";
    respond(text(std::move(seen)));
  };
}

// One route of a test router.
struct route {
  verb method;
  std::string pattern;
  std::string name;
  handler h;
};

router routes(std::vector<route> rs) {
  router r;
  for (auto& [method, pattern, name, h] : rs)
    r.add(method, std::move(pattern), std::move(name), std::move(h));
  return r;
}

// Starts on construction, stops on destruction.
struct running {
  explicit running(router r, server_options o = test_options()) : srv(std::move(o), std::move(r)) {
    srv.start();
  }
  ~running() { srv.stop(stop_deadline); }
  client connect() { return client(srv.port()); }
  server srv;
};

// Hands a responder from the I/O thread to the test thread.
struct parked_responders {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<responder> waiting;

  handler park() {
    return [this](request&&, const params&, responder respond) {
      std::lock_guard l(mu);
      waiting.push_back(std::move(respond));
      cv.notify_all();
    };
  }
  std::optional<responder> take(std::chrono::milliseconds timeout = 15s) {
    std::unique_lock l(mu);
    if (!cv.wait_for(l, timeout, [this] { return !waiting.empty(); })) return std::nullopt;
    auto r = std::move(waiting.front());
    waiting.erase(waiting.begin());
    return r;
  }
};

void expect_json_error(const test::reply& r, unsigned status, std::string_view code) {
  ASSERT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.res.result_int(), status);
  EXPECT_EQ(r.res[field::content_type], "application/json");
  auto v = boost::json::parse(r.res.body());
  EXPECT_EQ(v.at("error").at("code").as_string(), code);
  EXPECT_TRUE(v.at("error").at("message").is_string());
  EXPECT_TRUE(v.at("error").at("details").as_array().empty());
}

// --- routing -----------------------------------------------------------------------------------

TEST(http_router, passes_percent_decoded_path_params_to_handler) {
  running s(
      routes({{verb::get, "/api/v2/app/{app_id}/metrics", "metrics",
               [](request&&, const params& p, responder respond) {
                 respond(text(std::string(p.get("app_id")) + "|" + std::string(p.get("missing"))));
               }}}));
  auto c = s.connect();
  auto reply = c.roundtrip(make_request(verb::get, "/api/v2/app/my%20app%2Fx/metrics?app_id=no"));
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.res.result_int(), 200);
  EXPECT_EQ(reply.res.body(), "my app/x|");
}

TEST(http_router, picks_the_route_whose_literal_segments_match) {
  running s(routes({{verb::get, "/api/v2/app/{app_id}/metrics", "metrics", reply_with("metrics")},
                    {verb::get, "/api/v2/app/{app_id}/health", "health", reply_with("health")},
                    {verb::get, "/", "root", reply_with("root")}}));
  auto c = s.connect();
  EXPECT_EQ(c.roundtrip(make_request(verb::get, "/api/v2/app/a/health")).res.body(), "health");
  EXPECT_EQ(c.roundtrip(make_request(verb::get, "/api/v2/app/a/metrics")).res.body(), "metrics");
  EXPECT_EQ(c.roundtrip(make_request(verb::get, "/")).res.body(), "root");
}

TEST(http_router, answers_unknown_path_with_404_json_error) {
  running s(routes({{verb::get, "/api/v2/app/{app_id}/metrics", "metrics", reply_with("x")}}));
  auto c = s.connect();
  expect_json_error(c.roundtrip(make_request(verb::get, "/api/v2/app/a/other")), 404, "not_found");
  // An empty segment does not fill a parameter.
  expect_json_error(c.roundtrip(make_request(verb::get, "/api/v2/app//metrics")), 404, "not_found");
}

TEST(http_router, answers_wrong_method_with_405_listing_allowed_methods) {
  running s(routes({{verb::get, "/things/{id}", "get_thing", reply_with("x")},
                    {verb::post, "/things/{id}", "post_thing", reply_with("y")}}));
  auto c = s.connect();
  auto reply = c.roundtrip(make_request(verb::delete_, "/things/1"));
  expect_json_error(reply, 405, "method_not_allowed");
  EXPECT_EQ(reply.res[field::allow], "GET, HEAD, POST, OPTIONS");
}

// With one I/O thread the connections run on the io_context itself (no strand): keep-alive
// requests, params reused between them, a 405's Allow, and a responder called from another
// thread all behave as with several threads.
TEST(http_router, one_io_thread_serves_keep_alive_requests_and_foreign_responders) {
  parked_responders parked;
  router r;
  r.add(verb::get, "/things/{id}", "get_thing", [](request&&, const params& p, responder respond) {
    respond(text(std::string(p.get("id"))));
  });
  r.add(verb::post, "/things/{id}", "post_thing", parked.park());
  server_options o = test_options();
  o.threads = 1;
  running s(std::move(r), o);
  auto c = s.connect();
  for (const char* id : {"a", "a-much-longer-identifier-than-fits-inline", "b"})
    EXPECT_EQ(c.roundtrip(make_request(verb::get, std::string("/things/") + id)).res.body(), id);
  auto refused = c.roundtrip(make_request(verb::delete_, "/things/1"));
  expect_json_error(refused, 405, "method_not_allowed");
  EXPECT_EQ(refused.res[field::allow], "GET, HEAD, POST, OPTIONS");

  std::thread answer([&] {
    auto respond = parked.take();
    ASSERT_TRUE(respond);
    (*respond)(text("from another thread"));
  });
  auto reply = c.roundtrip(make_request(verb::post, "/things/2", "x"));
  answer.join();
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.res.body(), "from another thread");
  EXPECT_EQ(c.roundtrip(make_request(verb::get, "/things/3")).res.body(), "3");
}

TEST(http_router, answers_head_with_get_headers_and_no_body) {
  running s(
      routes({{verb::get, "/page", "page", [](request&& req, const params&, responder respond) {
                 auto res = text("hello world");
                 res.set("X-Seen-Method", std::string(req.method_string()));
                 respond(std::move(res));
               }}}));
  auto c = s.connect();
  auto head = c.roundtrip(make_request(verb::head, "/page"));
  ASSERT_FALSE(head.ec) << head.ec.message();
  EXPECT_EQ(head.res.result_int(), 200);
  EXPECT_EQ(head.res[field::content_length], "11");
  EXPECT_EQ(head.res["X-Seen-Method"], "HEAD");
  EXPECT_TRUE(head.res.body().empty());
  // No body bytes followed the headers: the next response on the connection parses cleanly.
  auto get = c.roundtrip(make_request(verb::get, "/page"));
  ASSERT_FALSE(get.ec) << get.ec.message();
  EXPECT_EQ(get.res.body(), "hello world");
}

// The server writes the header block itself (one buffer with a small body, the body apart when
// large, in place when the socket takes it): the bytes are Beast's serializer's, for bodies on
// both sides of the inline size, one that fills the socket's send buffer, and for HEAD.
TEST(http_connection, writes_responses_byte_for_byte_as_beast_serializes_them) {
  auto made = [](std::size_t n) {
    response res{boost::beast::http::status::created, 11};
    res.reason("Made Here");
    res.set("X-B", "2");
    res.set(field::content_type, "text/plain");
    res.insert("X-A", "1");
    res.insert("X-A", "");
    std::string body(n, 'b');
    for (std::size_t i = 0; i < n; ++i) body[i] = static_cast<char>('a' + i % 26);
    res.body() = std::move(body);
    return res;
  };
  auto o = test_options();
  o.gzip_min_bytes = std::size_t{1} << 30;
  running s(routes({{verb::get, "/page/{n}", "page",
                     [&](request&&, const params& p, responder respond) {
                       respond(made(std::stoul(std::string(p.get("n")))));
                     }}}),
            o);
  auto c = s.connect();
  for (std::size_t n : {0, 100, 511, 512, 513, 5000, 8 << 20}) {
    for (bool head : {false, true}) {
      auto expected = made(n);
      expected.keep_alive(true);
      expected.prepare_payload();
      std::ostringstream wire;
      if (head) {
        wire << expected.base();
      } else {
        wire << expected;
      }
      ASSERT_FALSE(c.write_raw(std::string(head ? "HEAD" : "GET") + " /page/" + std::to_string(n) +
                               " HTTP/1.1\r\nHost: x\r\n\r\n"));
      auto [ec, got] = c.read_raw(wire.str().size());
      ASSERT_FALSE(ec) << n << (head ? " HEAD: " : " GET: ") << ec.message();
      EXPECT_TRUE(got == wire.str()) << n << (head ? " HEAD" : " GET") << ":\n"
                                     << got.substr(0, 300);
    }
  }
  // Nothing followed the last response: the connection still answers in step.
  auto last = c.roundtrip(make_request(verb::get, "/page/3"));
  ASSERT_FALSE(last.ec) << last.ec.message();
  EXPECT_EQ(last.res.body(), "abc");
}

TEST(http_router, answers_options_with_allow) {
  running s(routes({{verb::post, "/ingest", "ingest", reply_with("x")}}));
  auto c = s.connect();
  auto reply = c.roundtrip(make_request(verb::options, "/ingest"));
  ASSERT_FALSE(reply.ec);
  EXPECT_EQ(reply.res.result_int(), 204);
  EXPECT_EQ(reply.res[field::allow], "POST, OPTIONS");
}

// --- limits ------------------------------------------------------------------------------------

server_options small_body_options() {
  auto o = test_options();
  o.max_body_bytes = 1024;
  return o;
}

server_options header_limit_options(std::size_t max_header_bytes) {
  auto o = test_options();
  o.max_header_bytes = max_header_bytes;
  return o;
}

// A POST to /echo whose X-Padding header holds `padding` bytes.
request padded_post(std::size_t padding) {
  auto req = make_request(verb::post, "/echo", "x");
  req.set("X-Padding", std::string(padding, 'p'));
  return req;
}

router echo_router() { return routes({{verb::post, "/echo", "echo", echo_body()}}); }

TEST(http_limits, accepts_body_exactly_at_limit) {
  running s(echo_router(), small_body_options());
  auto c = s.connect();
  auto reply = c.roundtrip(make_request(verb::post, "/echo", std::string(1024, 'a')));
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.res.result_int(), 200);
  EXPECT_EQ(reply.res.body().size(), 1024u);
}

TEST(http_limits, rejects_content_length_one_byte_past_limit_with_413) {
  running s(echo_router(), small_body_options());
  auto c = s.connect();
  auto reply = c.roundtrip(make_request(verb::post, "/echo", std::string(1025, 'a')));
  expect_json_error(reply, 413, "payload_too_large");
  EXPECT_FALSE(reply.res.keep_alive());
  EXPECT_TRUE(c.closed_by_peer());
}

TEST(http_limits, rejects_announced_content_length_past_limit_before_body_arrives) {
  running s(echo_router(), small_body_options());
  auto c = s.connect();
  ASSERT_FALSE(c.write_raw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n"));
  expect_json_error(c.read(), 413, "payload_too_large");
}

std::string chunked_post(std::size_t total, std::size_t chunk) {
  std::string raw = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  char size_line[32];
  for (std::size_t sent = 0; sent < total; sent += chunk) {
    std::size_t n = std::min(chunk, total - sent);
    std::snprintf(size_line, sizeof size_line, "%zx\r\n", n);
    raw += size_line;
    raw += std::string(n, 'c');
    raw += "\r\n";
  }
  raw += "0\r\n\r\n";
  return raw;
}

TEST(http_limits, accepts_chunked_body_exactly_at_limit) {
  running s(echo_router(), small_body_options());
  auto c = s.connect();
  ASSERT_FALSE(c.write_raw(chunked_post(1024, 100)));
  auto reply = c.read();
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.res.result_int(), 200);
  EXPECT_EQ(reply.res.body(), std::string(1024, 'c'));
}

TEST(http_limits, rejects_chunked_body_one_byte_past_limit_with_413) {
  running s(echo_router(), small_body_options());
  auto c = s.connect();
  ASSERT_FALSE(c.write_raw(chunked_post(1025, 100)));
  expect_json_error(c.read(), 413, "payload_too_large");
}

TEST(http_limits, rejects_oversized_headers_with_431) {
  running s(echo_router(), header_limit_options(2048));
  auto c = s.connect();
  expect_json_error(c.roundtrip(padded_post(4096)), 431, "headers_too_large");
}

TEST(http_limits, accepts_headers_below_limit) {
  running s(echo_router(), header_limit_options(2048));
  auto c = s.connect();
  EXPECT_EQ(c.roundtrip(padded_post(1024)).res.result_int(), 200);
}

TEST(http_limits, answers_malformed_request_with_400) {
  running s(echo_router());
  auto c = s.connect();
  ASSERT_FALSE(c.write_raw("POST /echo HTTP/1.1\r\nContent-Length: nope\r\n\r\n"));
  expect_json_error(c.read(), 400, "bad_request");
}

// --- content encoding ---------------------------------------------------------------------------

// A POST of `body` to the echo route, sent with Content-Encoding `encoding`.
request encoded_post(const std::string& body, const std::string& encoding) {
  auto req = make_request(verb::post, "/echo", body);
  req.set(field::content_encoding, encoding);
  return req;
}

TEST(http_encoding, hands_inflated_gzip_body_to_handler_without_content_encoding) {
  running s(echo_router());
  auto c = s.connect();
  auto reply = c.roundtrip(encoded_post(gzip("{\"metrics\":[]}"), "gzip"));
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.res.result_int(), 200);
  EXPECT_EQ(reply.res.body(), "{\"metrics\":[]}");
}

TEST(http_encoding, accepts_identity_encoding) {
  running s(echo_router());
  auto c = s.connect();
  EXPECT_EQ(c.roundtrip(encoded_post("plain", "identity")).res.body(), "plain");
}

// POSTs `body` with Content-Encoding `encoding` to the echo route and expects a JSON error.
void expect_encoding_error(const std::string& encoding, const std::string& body, unsigned status,
                           const std::string& code, const server_options& o = test_options()) {
  running s(echo_router(), o);
  auto c = s.connect();
  expect_json_error(c.roundtrip(encoded_post(body, encoding)), status, code);
}

TEST(http_encoding, rejects_gzip_bomb_with_413_by_decompressed_size) {
  auto o = test_options();
  o.max_body_bytes = 64 * 1024;
  auto bomb = gzip(std::string(10 << 20, '\0'));
  ASSERT_LT(bomb.size(), o.max_body_bytes);  // small on the wire
  expect_encoding_error("gzip", bomb, 413, "payload_too_large", o);
}

TEST(http_encoding, rejects_unknown_content_encoding_with_415) {
  expect_encoding_error("br", "data", 415, "unsupported_encoding");
}

TEST(http_encoding, rejects_corrupt_gzip_with_400) {
  expect_encoding_error("gzip", "not gzip at all", 400, "bad_request");
}

router big_page_router(std::string body) {
  return routes({{verb::get, "/big", "big", reply_with(std::move(body))}});
}

// GETs `page` from a fresh server whose one route answers it, sending Accept-Encoding `accept`.
test::reply get_page(const std::string& page, const std::string& accept) {
  running s(big_page_router(page));
  auto c = s.connect();
  auto req = make_request(verb::get, "/big");
  req.set(field::accept_encoding, accept);
  return c.roundtrip(std::move(req));
}

TEST(http_encoding, gzips_large_response_when_client_accepts_gzip) {
  std::string page(4096, 'm');
  auto reply = get_page(page, "br;q=1.0, gzip;q=0.8");
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.res[field::content_encoding], "gzip");
  EXPECT_EQ(reply.res[field::vary], "Accept-Encoding");
  EXPECT_EQ(reply.res[field::content_length], std::to_string(reply.res.body().size()));
  auto plain = gunzip(reply.res.body(), 1 << 20);
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(*plain, page);
}

TEST(http_encoding, does_not_gzip_when_client_refuses_with_q_zero) {
  std::string page(4096, 'm');
  auto reply = get_page(page, "gzip;q=0, identity");
  ASSERT_FALSE(reply.ec);
  EXPECT_EQ(reply.res.count(field::content_encoding), 0u);
  EXPECT_EQ(reply.res[field::vary], "Accept-Encoding");
  EXPECT_EQ(reply.res.body(), page);
}

TEST(http_encoding, does_not_gzip_responses_below_minimum_size) {
  auto reply = get_page("small", "gzip");
  EXPECT_EQ(reply.res.count(field::content_encoding), 0u);
  EXPECT_EQ(reply.res.body(), "small");
}

// --- connections --------------------------------------------------------------------------------

TEST(http_connection, serves_several_requests_on_one_keep_alive_connection) {
  running s(routes({{verb::get, "/n/{i}", "n", [](request&&, const params& p, responder respond) {
                       respond(text(std::string(p.get("i"))));
                     }}}));
  auto c = s.connect();
  for (int i = 0; i < 5; ++i) {
    auto reply = c.roundtrip(make_request(verb::get, "/n/" + std::to_string(i)));
    ASSERT_FALSE(reply.ec) << i << ": " << reply.ec.message();
    EXPECT_EQ(reply.res.body(), std::to_string(i));
    EXPECT_TRUE(reply.res.keep_alive());
  }
}

TEST(http_connection, closes_http10_connection_without_keep_alive) {
  running s(big_page_router("ten"));
  auto c = s.connect();
  ASSERT_FALSE(c.write_raw("GET /big HTTP/1.0\r\n\r\n"));
  auto reply = c.read();
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.res.version(), 10u);
  EXPECT_EQ(reply.res.body(), "ten");
  EXPECT_TRUE(c.closed_by_peer());
}

TEST(http_connection, keeps_http10_connection_alive_when_asked) {
  running s(big_page_router("ten"));
  auto c = s.connect();
  for (int i = 0; i < 2; ++i) {
    ASSERT_FALSE(c.write_raw("GET /big HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto reply = c.read();
    ASSERT_FALSE(reply.ec) << reply.ec.message();
    EXPECT_EQ(reply.res[field::connection], "keep-alive");
  }
}

TEST(http_connection, closes_connection_after_max_requests) {
  auto o = test_options();
  o.max_requests_per_connection = 2;
  running s(big_page_router("x"), o);
  auto c = s.connect();
  EXPECT_TRUE(c.roundtrip(make_request(verb::get, "/big")).res.keep_alive());
  auto last = c.roundtrip(make_request(verb::get, "/big"));
  ASSERT_FALSE(last.ec);
  EXPECT_FALSE(last.res.keep_alive());
  EXPECT_TRUE(c.closed_by_peer());
}

TEST(http_connection, answers_pipelined_requests_in_order) {
  parked_responders parked;
  running s(
      routes({{verb::get, "/slow", "slow", parked.park()},
              {verb::get, "/fast/{i}", "fast", [](request&&, const params& p, responder respond) {
                 respond(text("fast " + std::string(p.get("i"))));
               }}}));
  auto c = s.connect();
  ASSERT_FALSE(
      c.write_raw("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
                  "GET /fast/1 HTTP/1.1\r\nHost: x\r\n\r\n"
                  "GET /fast/2 HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto slow = parked.take();
  ASSERT_TRUE(slow);
  (*slow)(text("slow"));
  EXPECT_EQ(c.read().res.body(), "slow");
  EXPECT_EQ(c.read().res.body(), "fast 1");
  EXPECT_EQ(c.read().res.body(), "fast 2");
}

TEST(http_connection, answers_expect_100_continue_before_body) {
  running s(echo_router());
  auto c = s.connect();
  ASSERT_FALSE(c.write_raw(
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  auto interim = c.read();
  ASSERT_FALSE(interim.ec) << interim.ec.message();
  EXPECT_EQ(interim.res.result_int(), 100);
  ASSERT_FALSE(c.write_raw("hello"));
  EXPECT_EQ(c.read().res.body(), "hello");
}

// Timeouts: each fires after its time and long before the others would (every other timeout
// long). Upper bounds are generous for a loaded machine.

using steady = std::chrono::steady_clock;

// Waits until `done` holds (polling), at most `limit`: the time it took, or nothing.
template <class Pred>
std::optional<steady::duration> time_until(Pred done, std::chrono::milliseconds limit = 15s) {
  const auto start = steady::now();
  while (!done()) {
    if (steady::now() - start > limit) return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
  return steady::now() - start;
}

// Long timeouts for everything but what a test sets.
server_options long_timeouts() {
  auto o = test_options();
  o.read_timeout = 60s;
  o.idle_timeout = 60s;
  o.write_timeout = 60s;
  o.handler_timeout = 60s;
  return o;
}

// `took` lies in [at, at + slack): the timeout fired after its time and well before any other.
void expect_fired_at(steady::duration took, std::chrono::milliseconds at,
                     std::chrono::milliseconds slack = 5s) {
  EXPECT_GE(took, at - 2ms);  // the clocks of the test and the server differ by a read
  EXPECT_LT(took, at + slack);
}

TEST(http_connection, answers_408_and_closes_slow_client_after_read_timeout) {
  auto o = test_options();
  o.read_timeout = 200ms;
  running s(echo_router(), o);
  auto c = s.connect();
  // Half a request, then silence (slowloris).
  ASSERT_FALSE(c.write_raw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Le"));
  expect_json_error(c.read(), 408, "request_timeout");
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_EQ(s.srv.stats().read_timeouts, 1u);
}

TEST(http_connection, closes_silent_new_connection_after_read_timeout_without_answer) {
  auto o = long_timeouts();
  o.read_timeout = 300ms;
  running s(echo_router(), o);
  const auto start = steady::now();
  auto c = s.connect();
  EXPECT_TRUE(c.closed_by_peer());
  expect_fired_at(steady::now() - start, 300ms);
  EXPECT_EQ(s.srv.stats().read_timeouts, 0u);
}

TEST(http_connection, closes_idle_keep_alive_connection_after_idle_timeout) {
  auto o = long_timeouts();
  o.idle_timeout = 300ms;
  running s(big_page_router("x"), o);
  auto c = s.connect();
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(c.roundtrip(make_request(verb::get, "/big")).res.result_int(), 200);
  }
  const auto start = steady::now();
  EXPECT_TRUE(c.closed_by_peer());
  expect_fired_at(steady::now() - start, 300ms);
}

TEST(http_connection, keeps_idle_connection_open_within_idle_timeout) {
  auto o = test_options();
  o.read_timeout = 100ms;  // shorter than the wait below: idle time must not count as reading
  o.idle_timeout = 60s;
  running s(big_page_router("x"), o);
  auto c = s.connect();
  ASSERT_EQ(c.roundtrip(make_request(verb::get, "/big")).res.result_int(), 200);
  EXPECT_TRUE(c.stays_open_for(500ms));
  EXPECT_EQ(c.roundtrip(make_request(verb::get, "/big")).res.result_int(), 200);
}

// --- responder ----------------------------------------------------------------------------------

TEST(http_responder, sends_response_given_on_another_thread) {
  parked_responders parked;
  running s(routes({{verb::post, "/later", "later", parked.park()}}));
  std::promise<void> answered;
  std::thread worker([&] {
    auto respond = parked.take();
    ASSERT_TRUE(respond);
    (*respond)(text("from worker", 202));
    answered.set_value();
  });
  auto c = s.connect();
  auto reply = c.roundtrip(make_request(verb::post, "/later", "x"));
  worker.join();
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.res.result_int(), 202);
  EXPECT_EQ(reply.res.body(), "from worker");
}

TEST(http_responder, answers_500_when_every_responder_copy_is_dropped) {
  running s(
      routes({{verb::get, "/forget", "forget", [](request&&, const params&, responder respond) {
                 auto copy = respond;  // copies die too
               }}}));
  auto c = s.connect();
  expect_json_error(c.roundtrip(make_request(verb::get, "/forget")), 500, "internal");
}

TEST(http_responder, answers_500_when_handler_throws) {
  running s(routes({{verb::get, "/boom", "boom", [](request&&, const params&, responder) {
                       throw std::runtime_error("handler bug");
                     }}}));
  auto c = s.connect();
  expect_json_error(c.roundtrip(make_request(verb::get, "/boom")), 500, "internal");
  // The connection survives the handler's bug.
  expect_json_error(c.roundtrip(make_request(verb::get, "/boom")), 500, "internal");
}

// /slow parks its responder in `parked`; /ok answers "ok".
router slow_and_ok_router(parked_responders& parked) {
  return routes(
      {{verb::get, "/slow", "slow", parked.park()}, {verb::get, "/ok", "ok", reply_with("ok")}});
}

// On time, on a connection kept alive through several requests, with every other timeout long.
TEST(http_responder, answers_503_with_retry_after_when_handler_is_too_slow) {
  parked_responders parked;
  auto o = test_options();
  o.read_timeout = o.idle_timeout = o.write_timeout = 60s;
  o.handler_timeout = 300ms;
  running s(slow_and_ok_router(parked), o);
  auto c = s.connect();
  for (int i = 0; i < 3; ++i) {
    const auto start = steady::now();
    auto reply = c.roundtrip(make_request(verb::get, "/slow"));
    expect_json_error(reply, 503, "unavailable");
    expect_fired_at(steady::now() - start, 300ms);
    EXPECT_EQ(reply.res[field::retry_after], "1");
    // The late answer is dropped; the connection carries on with the next request.
    auto late = parked.take();
    ASSERT_TRUE(late);
    (*late)(text("too late"));
    EXPECT_EQ(c.roundtrip(make_request(verb::get, "/ok")).res.body(), "ok");
  }
}

TEST(http_responder, ignores_second_call) {
  running s(routes({{verb::get, "/twice", "twice",
                     [](request&&, const params&, responder respond) {
                       respond(text("first"));
                       respond(text("second"));
                     }},
                    {verb::get, "/ok", "ok", reply_with("ok")}}));
  auto c = s.connect();
  EXPECT_EQ(c.roundtrip(make_request(verb::get, "/twice")).res.body(), "first");
  EXPECT_EQ(c.roundtrip(make_request(verb::get, "/ok")).res.body(), "ok");
}

TEST(http_responder, reports_each_answered_request_to_on_complete) {
  using steady = std::chrono::steady_clock;
  struct seen {
    std::string route;
    verb method;
    unsigned status;
    std::chrono::duration<double> elapsed;
  };
  std::mutex mu;
  std::vector<seen> calls;
  auto o = test_options();
  o.on_complete = [&](std::string_view route, verb m, unsigned status,
                      std::chrono::duration<double> elapsed) {
    std::lock_guard l(mu);
    calls.push_back({std::string(route), m, status, elapsed});
  };
  parked_responders parked;
  steady::time_point handler_entered;
  running s(routes({{verb::post, "/api/{app}/metrics", "ingest", reply_with("ok")},
                    {verb::get, "/slow", "slow",
                     [&](request&& req, const params& p, responder respond) {
                       handler_entered = steady::now();
                       parked.park()(std::move(req), p, std::move(respond));
                     }}}),
            o);
  auto c = s.connect();
  // Each report is made before its response is written, so the client's round trip bounds it.
  std::vector<std::chrono::duration<double>> round_trips;
  auto timed = [&](request req) {
    const auto t0 = steady::now();
    c.roundtrip(std::move(req));
    round_trips.emplace_back(steady::now() - t0);
  };
  timed(make_request(verb::post, "/api/a/metrics", "x"));
  timed(make_request(verb::get, "/api/a/metrics"));
  timed(make_request(verb::get, "/nowhere"));
  // A handler that holds the request: the report covers the whole time it held it.
  auto slow = std::async(std::launch::async, [&] {
    const auto t0 = steady::now();
    auto reply = c.roundtrip(make_request(verb::get, "/slow"));
    return std::pair{reply.res.result_int(), std::chrono::duration<double>(steady::now() - t0)};
  });
  auto held = parked.take();
  ASSERT_TRUE(held);
  // Not a synchronisation: the time the handler holds the request is what the report must cover.
  std::this_thread::sleep_for(50ms);
  const std::chrono::duration<double> held_for = steady::now() - handler_entered;
  (*held)(text("late"));
  const auto [slow_status, slow_round_trip] = slow.get();
  EXPECT_EQ(slow_status, 200u);
  round_trips.push_back(slow_round_trip);

  std::lock_guard l(mu);
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[0].route, "ingest");
  EXPECT_EQ(calls[0].method, verb::post);
  EXPECT_EQ(calls[0].status, 200u);
  EXPECT_EQ(calls[1].route, "ingest");
  EXPECT_EQ(calls[1].status, 405u);
  EXPECT_EQ(calls[2].route, "");
  EXPECT_EQ(calls[2].status, 404u);
  EXPECT_EQ(calls[3].route, "slow");
  EXPECT_EQ(calls[3].status, 200u);
  for (std::size_t i = 0; i < calls.size(); ++i) {
    EXPECT_GT(calls[i].elapsed.count(), 0.0) << i;
    EXPECT_LE(calls[i].elapsed.count(), round_trips[i].count()) << i;
  }
  EXPECT_GE(calls[3].elapsed.count(), held_for.count());
}

// --- CORS ---------------------------------------------------------------------------------------

router cors_router() {
  router r = routes({{verb::post, "/api/v2/app/{app_id}/metrics", "ingest", reply_with("ok")},
                     {verb::get, "/metrics", "exposition", reply_with("m")}});
  r.enable_cors("/api/v2/app/{app_id}/metrics");
  return r;
}

// A request to `target` that a browser page on `origin` sends.
request from_origin(const std::string& origin, verb method, std::string target,
                    std::string body = "") {
  auto req = make_request(method, std::move(target), std::move(body));
  req.set(field::origin, origin);
  return req;
}

server_options cors_options(std::vector<std::string> origins) {
  auto o = test_options();
  o.cors_allowed_origins = std::move(origins);
  return o;
}

TEST(http_cors, adds_allow_origin_for_listed_origin) {
  running s(cors_router(), cors_options({"https://app.example"}));
  auto c = s.connect();
  auto reply =
      c.roundtrip(from_origin("https://app.example", verb::post, "/api/v2/app/a/metrics", "x"));
  ASSERT_FALSE(reply.ec);
  EXPECT_EQ(reply.res[field::access_control_allow_origin], "https://app.example");
  EXPECT_EQ(reply.res[field::vary], "Origin");
  EXPECT_EQ(reply.res[field::access_control_expose_headers], "Retry-After, WWW-Authenticate");
}

TEST(http_cors, sends_no_cors_headers_to_unlisted_origin) {
  running s(cors_router(), cors_options({"https://app.example"}));
  auto c = s.connect();
  auto reply = c.roundtrip(
      from_origin("https://app.example.evil", verb::post, "/api/v2/app/a/metrics", "x"));
  ASSERT_FALSE(reply.ec);
  EXPECT_EQ(reply.res.result_int(), 200);
  EXPECT_EQ(reply.res.count(field::access_control_allow_origin), 0u);
}

TEST(http_cors, wildcard_allows_any_origin_and_echoes_it) {
  running s(cors_router(), cors_options({"*"}));
  auto c = s.connect();
  EXPECT_EQ(
      c.roundtrip(from_origin("http://localhost:3000", verb::post, "/api/v2/app/a/metrics", "x"))
          .res[field::access_control_allow_origin],
      "http://localhost:3000");
}

TEST(http_cors, leaves_routes_without_cors_alone) {
  running s(cors_router(), cors_options({"*"}));
  auto c = s.connect();
  EXPECT_EQ(c.roundtrip(from_origin("http://localhost:3000", verb::get, "/metrics"))
                .res.count(field::access_control_allow_origin),
            0u);
}

TEST(http_cors, answers_preflight_from_listed_origin_with_204) {
  running s(cors_router(), cors_options({"https://app.example"}));
  auto c = s.connect();
  auto req = from_origin("https://app.example", verb::options, "/api/v2/app/a/metrics");
  req.set(field::access_control_request_method, "POST");
  req.set(field::access_control_request_headers, "content-type, content-encoding");
  auto reply = c.roundtrip(std::move(req));
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.res.result_int(), 204);
  EXPECT_EQ(reply.res[field::access_control_allow_origin], "https://app.example");
  EXPECT_EQ(reply.res[field::access_control_allow_methods], "POST, OPTIONS");
  // Keys are sent as Authorization: Bearer or X-API-Key; both must pass the preflight.
  EXPECT_EQ(reply.res[field::access_control_allow_headers],
            "Content-Type, Content-Encoding, Authorization, X-API-Key");
  EXPECT_EQ(reply.res[field::access_control_max_age], "600");
  EXPECT_EQ(reply.res[field::vary], "Origin");
}

TEST(http_cors, rejects_preflight_from_unlisted_origin_with_403) {
  running s(cors_router(), cors_options({"https://app.example"}));
  auto c = s.connect();
  auto req = from_origin("https://other.example", verb::options, "/api/v2/app/a/metrics");
  req.set(field::access_control_request_method, "POST");
  auto reply = c.roundtrip(std::move(req));
  expect_json_error(reply, 403, "origin_not_allowed");
  EXPECT_EQ(reply.res.count(field::access_control_allow_origin), 0u);
}

TEST(http_cors, adds_cors_headers_to_server_errors_on_cors_routes) {
  auto o = cors_options({"https://app.example"});
  o.max_body_bytes = 16;
  running s(cors_router(), o);
  auto c = s.connect();
  auto req =
      from_origin("https://app.example", verb::post, "/api/v2/app/a/metrics", std::string(17, 'x'));
  auto reply = c.roundtrip(std::move(req));
  expect_json_error(reply, 413, "payload_too_large");
  EXPECT_EQ(reply.res[field::access_control_allow_origin], "https://app.example");
}

TEST(http_cors, adds_cors_headers_to_handler_refusals_so_a_browser_can_read_them) {
  router r = routes(
      {{verb::post, "/api/v2/app/{app_id}/metrics", "ingest",
        [](request&&, const params&, responder respond) {
          auto res = json_response(
              401,
              R"({"error":{"code":"unauthorized","message":"a key is required","details":[]}})");
          res.set(field::www_authenticate, "Bearer");
          respond(std::move(res));
        }}});
  r.enable_cors("/api/v2/app/{app_id}/metrics");
  running s(std::move(r), cors_options({"https://app.example"}));
  auto c = s.connect();
  auto reply =
      c.roundtrip(from_origin("https://app.example", verb::post, "/api/v2/app/a/metrics", "x"));
  expect_json_error(reply, 401, "unauthorized");
  EXPECT_EQ(reply.res[field::access_control_allow_origin], "https://app.example");
  EXPECT_EQ(reply.res[field::access_control_expose_headers], "Retry-After, WWW-Authenticate");
}

// --- peer address -------------------------------------------------------------------------------

TEST(http_params, give_the_handler_the_peer_address_without_port) {
  running s(routes({{verb::get, "/who", "who", [](request&&, const params& p, responder respond) {
                       respond(text(p.peer));
                     }}}));
  auto c = s.connect();
  auto reply = c.roundtrip(make_request(verb::get, "/who"));
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.res.body(), "127.0.0.1");
}

TEST(http_params, give_an_ipv4_client_of_a_dual_stack_listener_as_ipv4) {
  router r = routes({{verb::get, "/who", "who", [](request&&, const params& p, responder respond) {
                        respond(text(p.peer));
                      }}});
  auto o = test_options();
  o.host = "::";
  server srv(o, std::move(r));
  try {
    srv.start();
  } catch (const std::system_error&) {
    GTEST_SKIP() << "no IPv6 on this host";
  }
  auto c = client(srv.port());
  auto reply = c.roundtrip(make_request(verb::get, "/who"));
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.res.body(), "127.0.0.1");
  srv.stop(stop_deadline);
}

// --- lifecycle ----------------------------------------------------------------------------------

TEST(http_lifecycle, binds_a_free_port_when_given_port_zero) {
  server srv(test_options(), big_page_router("x"));
  srv.start();
  EXPECT_NE(srv.port(), 0);
  auto c = client(srv.port());
  EXPECT_EQ(c.roundtrip(make_request(verb::get, "/big")).res.body(), "x");
  srv.stop(stop_deadline);
}

TEST(http_lifecycle, throws_system_error_when_port_is_taken) {
  server first(test_options(), big_page_router("x"));
  first.start();
  auto o = test_options();
  o.port = first.port();
  server second(o, big_page_router("x"));
  // SO_REUSEADDR does not allow two listeners on one port on Linux.
  EXPECT_THROW(second.start(), std::system_error);
  first.stop(stop_deadline);
}

TEST(http_lifecycle, stop_lets_in_flight_request_finish) {
  parked_responders parked;
  server srv(test_options(), routes({{verb::post, "/ingest", "ingest", parked.park()}}));
  srv.start();
  client c(srv.port());
  ASSERT_FALSE(c.write(make_request(verb::post, "/ingest", "x")));
  auto respond = parked.take();
  ASSERT_TRUE(respond);

  auto started = steady::now();
  auto stopping = std::async(std::launch::async, [&] { srv.stop(stop_deadline); });
  // New connections are refused once stop() has closed the acceptor.
  for (;;) {
    client probe(srv.port(), 1s);
    if (probe.connect_error()) break;
    ASSERT_LT(steady::now() - started, stop_deadline) << "acceptor stayed open";
    std::this_thread::yield();
  }
  (*respond)(text("done"));
  auto reply = c.read();
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.res.body(), "done");
  EXPECT_FALSE(reply.res.keep_alive());
  stopping.get();
  EXPECT_LT(steady::now() - started, stop_deadline);
}

TEST(http_lifecycle, stop_returns_by_deadline_when_handler_never_answers) {
  parked_responders parked;
  server srv(test_options(), routes({{verb::get, "/hang", "hang", parked.park()}}));
  srv.start();
  client c(srv.port());
  ASSERT_FALSE(c.write(make_request(verb::get, "/hang")));
  auto respond = parked.take();
  ASSERT_TRUE(respond);
  auto started = steady::now();
  srv.stop(200ms);
  EXPECT_LT(steady::now() - started, 5s);
  EXPECT_TRUE(c.closed_by_peer());
  (*respond)(text("after stop"));  // a responder outliving the connection is harmless
}

TEST(http_lifecycle, stop_does_not_wait_for_idle_connections) {
  server srv(test_options(), big_page_router("x"));
  srv.start();
  client c(srv.port());
  ASSERT_EQ(c.roundtrip(make_request(verb::get, "/big")).res.result_int(), 200);
  auto started = steady::now();
  srv.stop(60s);
  EXPECT_LT(steady::now() - started, 10s);
  EXPECT_TRUE(c.closed_by_peer());
}

// --- framing (RFC 9112 6) and the edge's own limits ---------------------------------------------

// A running server and one client connection that sends raw bytes: the framing tests' set-up.
struct raw_connection {
  explicit raw_connection(router r = echo_router(), server_options o = test_options())
      : s(std::move(r), std::move(o)), c(s.connect()) {}
  explicit raw_connection(server_options o) : raw_connection(echo_router(), std::move(o)) {}

  // Writes `bytes` as they are and reads one response.
  test::reply send(std::string bytes) {
    if (auto ec = c.write_raw(std::move(bytes))) return test::reply{ec, {}};
    return c.read();
  }

  running s;
  client c;
};

TEST(http_framing, answers_411_to_post_without_length) {
  raw_connection conn;
  expect_json_error(conn.send("POST /echo HTTP/1.1\r\nHost: x\r\n\r\n"), 411, "length_required");
}

TEST(http_framing, rejects_transfer_encoding_not_ending_in_chunked_with_400_and_closes) {
  raw_connection conn;
  auto r = conn.send(
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\nContent-Length: 0\r\n\r\n"
      "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
  expect_json_error(r, 400, "bad_request");
  EXPECT_FALSE(r.res.keep_alive());
  EXPECT_TRUE(conn.c.closed_by_peer());
}

TEST(http_framing, rejects_chunked_applied_twice_with_400) {
  raw_connection conn;
  expect_json_error(
      conn.send(
          "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"),
      400, "bad_request");
}

TEST(http_framing, answers_501_to_unsupported_transfer_coding) {
  raw_connection conn;
  expect_json_error(
      conn.send(
          "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
      501, "not_implemented");
}

TEST(http_framing, reads_chunked_body_ignoring_content_length_then_closes) {
  raw_connection conn;
  auto r = conn.send(
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n0\r\n\r\nGET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.res.result_int(), 200);
  EXPECT_EQ(r.res.body(), "hello");
  EXPECT_FALSE(r.res.keep_alive());
  EXPECT_TRUE(conn.c.closed_by_peer());
}

TEST(http_framing, rejects_missing_and_repeated_host_with_400) {
  for (const char* hosts : {"", "Host: a\r\nHost: b\r\n"}) {
    raw_connection conn;
    expect_json_error(
        conn.send(std::string("POST /echo HTTP/1.1\r\n") + hosts + "Content-Length: 1\r\n\r\nx"),
        400, "bad_request");
  }
}

TEST(http_framing, answers_414_to_target_past_limit_and_serves_target_at_it) {
  auto o = test_options();
  o.max_target_bytes = 100;
  raw_connection conn(big_page_router("x"), o);
  std::string at = "/big?" + std::string(100 - 5, 'q');
  EXPECT_EQ(conn.c.roundtrip(make_request(verb::get, at)).res.result_int(), 200);
  expect_json_error(conn.c.roundtrip(make_request(verb::get, at + "q")), 414, "uri_too_long");
}

TEST(http_framing, answers_414_when_request_line_alone_passes_header_limit) {
  auto o = header_limit_options(2048);
  o.max_target_bytes = 1024;
  raw_connection conn(big_page_router("x"), o);
  expect_json_error(
      conn.send("GET /big?" + std::string(4096, 'q') + " HTTP/1.1\r\nHost: x\r\n\r\n"), 414,
      "uri_too_long");
}

TEST(http_framing, answers_408_when_a_started_request_stalls) {
  auto o = test_options();
  o.read_timeout = 200ms;
  raw_connection conn(o);
  auto r = conn.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
  expect_json_error(r, 408, "request_timeout");
  EXPECT_FALSE(r.res.keep_alive());
  EXPECT_TRUE(conn.c.closed_by_peer());
}

TEST(http_framing, sends_no_100_continue_for_a_refused_request) {
  raw_connection conn;
  auto r = conn.send(
      "POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  expect_json_error(r, 404, "not_found");
  EXPECT_FALSE(r.res.keep_alive());
}

TEST(http_limits, rejects_chunk_extensions_past_header_limit_with_400) {
  raw_connection conn(header_limit_options(2048));
  std::string raw = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i) raw += "1;" + std::string(600, 'e') + "\r\nx\r\n";
  expect_json_error(conn.send(raw), 400, "bad_request");
}

TEST(http_limits, rejects_one_chunk_line_past_header_limit_with_400) {
  raw_connection conn(header_limit_options(2048));
  expect_json_error(
      conn.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;" +
                std::string(8192, 'e')),
      400, "bad_request");
}

TEST(http_limits, rejects_trailer_section_past_header_limit_with_431) {
  raw_connection conn(header_limit_options(2048));
  expect_json_error(conn.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                              "chunked\r\n\r\n1\r\nx\r\n0\r\nX-T: " +
                              std::string(8192, 't')),
                    431, "headers_too_large");
}

TEST(http_limits, discards_trailer_fields) {
  router r = routes(
      {{verb::post, "/fields", "fields", [](request&& req, const params&, responder respond) {
          respond(text(std::string(req["X-Late"]) + "|" + std::string(req["Content-Encoding"]) +
                       "|" + req.body()));
        }}});
  raw_connection conn(std::move(r));
  auto reply = conn.send(
      "POST /fields HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n"
      "0\r\nX-Late: yes\r\nContent-Encoding: gzip\r\n\r\n");
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.res.body(), "||hi");
}

TEST(http_connection, closes_connection_whose_client_does_not_read_after_write_timeout) {
  auto o = test_options();
  o.write_timeout = 300ms;
  running s(big_page_router(std::string(32 << 20, 'x')), o);
  auto c = s.connect();
  ASSERT_FALSE(c.write_raw("GET /big HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n"));
  // Never read: the server gives up after write_timeout (the response is far larger than the
  // socket buffers).
  for (auto until = steady::now() + 15s;
       s.srv.stats().write_timeouts == 0 && steady::now() < until;) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(s.srv.stats().write_timeouts, 1u);
}

// --- connection cap ----------------------------------------------------------------------------

TEST(http_cap, closes_the_longest_idle_connection_near_the_cap) {
  auto o = test_options();
  o.max_connections = 8;  // eviction from 7 open connections on
  running s(big_page_router("x"), o);
  std::vector<std::unique_ptr<client>> idle;
  for (int i = 0; i < 7; ++i) {
    idle.push_back(std::make_unique<client>(s.srv.port()));
    ASSERT_EQ(idle.back()->roundtrip(make_request(verb::get, "/big")).res.result_int(), 200);
    // The server lists a connection as idle after its response is written, which can come after
    // the client has read it: wait for it, so the idle order is the order of the clients.
    for (auto until = steady::now() + 10s;
         s.srv.stats().idle < static_cast<std::uint64_t>(i + 1) && steady::now() < until;) {
      std::this_thread::sleep_for(1ms);
    }
    ASSERT_EQ(s.srv.stats().idle, static_cast<std::uint64_t>(i + 1));
  }
  auto fresh = s.connect();
  EXPECT_EQ(fresh.roundtrip(make_request(verb::get, "/big")).res.result_int(), 200);
  EXPECT_TRUE(idle.front()->closed_by_peer());
  EXPECT_EQ(s.srv.stats().evicted, 1u);
}

TEST(http_cap, refuses_with_503_at_the_cap_when_nothing_is_idle) {
  auto o = test_options();
  o.max_connections = 4;
  running s(echo_router(), o);
  std::vector<std::unique_ptr<client>> busy;
  for (int i = 0; i < 4; ++i) {
    busy.push_back(std::make_unique<client>(s.srv.port()));
    ASSERT_FALSE(busy.back()->write_raw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Len"));
  }
  for (auto until = steady::now() + 10s; s.srv.stats().open < 4 && steady::now() < until;) {
    std::this_thread::sleep_for(10ms);
  }
  auto extra = s.connect();
  auto r = extra.read();
  expect_json_error(r, 503, "unavailable");
  EXPECT_EQ(r.res[field::retry_after], "1");
  EXPECT_EQ(s.srv.stats().refused, 1u);
}

TEST(http_cap, default_cap_leaves_descriptors_for_the_rest_of_the_process) {
  EXPECT_EQ(default_max_connections(1024), 896u);
  EXPECT_EQ(default_max_connections(256), 192u);
  EXPECT_EQ(default_max_connections(50), 16u);
}

TEST(http_lifecycle, answers_503_to_a_request_arriving_during_drain) {
  parked_responders parked;
  server srv(test_options(), routes({{verb::post, "/ingest", "ingest", parked.park()},
                                     {verb::get, "/fast", "fast", reply_with("fast")}}));
  srv.start();
  client keep(srv.port());
  ASSERT_EQ(keep.roundtrip(make_request(verb::get, "/fast")).res.result_int(), 200);
  client inflight(srv.port());
  ASSERT_FALSE(inflight.write(make_request(verb::post, "/ingest", "x")));
  auto respond = parked.take();
  ASSERT_TRUE(respond);
  auto stopping = std::async(std::launch::async, [&] { srv.stop(stop_deadline); });
  for (auto started = steady::now();;) {
    client probe(srv.port(), 1s);
    if (probe.connect_error()) break;
    ASSERT_LT(steady::now() - started, stop_deadline) << "acceptor stayed open";
    std::this_thread::yield();
  }
  auto late = keep.roundtrip(make_request(verb::get, "/fast"));
  expect_json_error(late, 503, "unavailable");
  EXPECT_FALSE(late.res.keep_alive());
  EXPECT_EQ(late.res[field::retry_after], "1");
  (*respond)(text("done"));
  EXPECT_EQ(inflight.read().res.body(), "done");
  stopping.get();
}

TEST(http_lifecycle, stop_is_safe_to_call_twice_and_before_start) {
  server never_started(test_options(), router{});
  never_started.stop(1s);
  server srv(test_options(), big_page_router("x"));
  srv.start();
  srv.stop(1s);
  srv.stop(1s);
}

TEST(http_lifecycle, responder_outliving_the_server_is_harmless) {
  parked_responders parked;
  std::optional<responder> kept;
  {
    router r = routes({{verb::get, "/hang", "hang", parked.park()}});
    server srv(test_options(), std::move(r));
    srv.start();
    client c(srv.port());
    ASSERT_FALSE(c.write(make_request(verb::get, "/hang")));
    kept = parked.take();
    ASSERT_TRUE(kept);
  }  // destructor stops the server
  (*kept)(text("nobody listens"));
  kept.reset();  // and dropping it does not post either
}

// --- watched descriptors ---------------------------------------------------------------------

// What the service does with the Kafka producer's completion descriptor: each signal runs the
// handler on an I/O thread, once per readable state (the server reads the descriptor first), and
// a signal that arrives while the handler runs is not lost.
TEST(http_watch, runs_the_handler_on_an_io_thread_for_every_signal_of_a_descriptor) {
  running s(router{});
  const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  std::mutex mu;
  std::condition_variable cv;
  int calls = 0;
  const auto test_thread = std::this_thread::get_id();
  bool on_test_thread = false;
  s.srv.watch(fd, [&] {
    std::lock_guard l(mu);
    on_test_thread = on_test_thread || std::this_thread::get_id() == test_thread;
    ++calls;
    cv.notify_all();
  });
  const std::uint64_t one = 1;
  for (int i = 1; i <= 20; ++i) {
    ASSERT_EQ(::write(fd, &one, sizeof one), 8);
    std::unique_lock l(mu);
    ASSERT_TRUE(cv.wait_for(l, 15s, [&] { return calls >= i; })) << "signal " << i;
  }
  // Read by the server: nothing is left in the descriptor.
  std::uint64_t left = 0;
  EXPECT_LT(::read(fd, &left, sizeof left), 0);
  EXPECT_FALSE(on_test_thread);
  s.srv.stop(stop_deadline);
  // After stop() (its I/O threads are joined) the caller's descriptor stays open and usable.
  ASSERT_EQ(::write(fd, &one, sizeof one), 8);
  ASSERT_EQ(::read(fd, &left, sizeof left), 8);
  ::close(fd);
}

// --- one deadline timer per connection: the other timeouts fire on time -------------------------

TEST(http_timeouts, read_timeout_fires_on_time_for_a_request_started_after_a_keep_alive_idle) {
  auto o = long_timeouts();
  o.read_timeout = 300ms;
  running s(echo_router(), o);
  auto c = s.connect();
  ASSERT_EQ(c.roundtrip(make_request(verb::post, "/echo", "a")).res.body(), "a");
  // Idle for longer than the read timeout (idle time is not reading), then half a request.
  ASSERT_TRUE(c.stays_open_for(700ms));
  ASSERT_FALSE(c.write_raw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Le"));
  const auto start = steady::now();
  expect_json_error(c.read(), 408, "request_timeout");
  expect_fired_at(steady::now() - start, 300ms);
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_EQ(s.srv.stats().read_timeouts, 1u);
}

TEST(http_timeouts, write_timeout_closes_a_client_that_does_not_take_its_response) {
  auto o = long_timeouts();
  o.write_timeout = 300ms;
  // More than the kernel's socket buffers on both ends hold.
  running s(big_page_router(std::string(48u << 20, 'w')), o);
  auto c = s.connect();
  ASSERT_FALSE(c.write(make_request(verb::get, "/big")));
  auto took = time_until([&] { return s.srv.stats().write_timeouts == 1; });
  ASSERT_TRUE(took) << "no write timeout";
  // The write stalls a moment after it started; the deadline counts from its start.
  expect_fired_at(*took, 300ms);
  EXPECT_EQ(s.srv.stats().write_timeouts, 1u);
  EXPECT_TRUE(time_until([&] { return s.srv.stats().open == 0; }));
}

TEST(http_timeouts, lingering_close_ends_after_the_read_timeout) {
  auto o = long_timeouts();
  o.read_timeout = 300ms;
  o.max_body_bytes = 1024;
  running s(echo_router(), o);
  auto c = s.connect();
  // Refused on its header; the body that never comes is what the server drains.
  ASSERT_FALSE(c.write_raw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\n\r\n"));
  expect_json_error(c.read(), 413, "payload_too_large");
  // The client sees the end of the response at once; the server drains until the deadline.
  auto took = time_until([&] { return s.srv.stats().open == 0; });
  ASSERT_TRUE(took) << "the connection was not closed";
  expect_fired_at(*took, 300ms);
}

// The drain is bounded by 5 s even with a longer read timeout: a deadline shorter than every
// configured timeout, which the connection's timer must be re-armed for.
TEST(http_timeouts, lingering_close_ends_after_five_seconds_when_every_timeout_is_longer) {
  auto o = long_timeouts();
  o.max_body_bytes = 1024;
  running s(echo_router(), o);
  test::client c(s.srv.port(), 30s);
  ASSERT_FALSE(c.write_raw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\n\r\n"));
  expect_json_error(c.read(), 413, "payload_too_large");
  auto took = time_until([&] { return s.srv.stats().open == 0; }, 30s);
  ASSERT_TRUE(took) << "the connection was not closed";
  expect_fired_at(*took, 5000ms, 10s);  // the read timeout is 60 s
}

// A responder called inside the handler answers at once (no hand-off); a throw after it does not
// replace the answer, and the connection carries on.
TEST(http_responder, an_answer_given_inside_the_handler_stands_when_the_handler_throws_after_it) {
  running s(routes({{verb::get, "/answer-then-throw", "att",
                     [](request&&, const params&, responder respond) {
                       respond(text("answered"));
                       throw std::runtime_error("after the answer");
                     }},
                    {verb::get, "/ok", "ok", reply_with("ok")}}));
  auto c = s.connect();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(c.roundtrip(make_request(verb::get, "/answer-then-throw")).res.body(), "answered");
    EXPECT_EQ(c.roundtrip(make_request(verb::get, "/ok")).res.body(), "ok");
  }
}

TEST(http_watch, needs_a_running_server) {
  server srv(test_options(), router{});
  const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  EXPECT_THROW(srv.watch(fd, [] {}), std::logic_error);
  ::close(fd);
}

}  // namespace
}  // namespace mca::http
