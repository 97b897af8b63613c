// An HTTP/1.1 server on Boost.Beast + Asio that knows nothing of metrics.
//
// A handler is a function from a request to exactly one response, delivered through a
// `responder` that may be called later and from any thread (the ingest handler answers when Kafka
// has acknowledged). Sessions only move bytes and enforce limits: header and body size, read
// timeout against slow clients, keep-alive with a cap on requests per connection, gzip request
// bodies (limit applied to the decompressed size too), gzip responses when the client accepts
// them, CORS for an allowlist of origins, 404/405 (with Allow) from the router.
//
// Errors the server answers itself are JSON (http::errc, error_response.h): 400 bad_request
// (malformed request, faulty framing, missing or repeated Host, chunk extensions too long), 403
// origin_not_allowed (CORS preflight from an unlisted origin), 404 not_found, 405
// method_not_allowed (+ Allow), 408 request_timeout, 411 length_required, 413 payload_too_large,
// 414 uri_too_long, 415 unsupported_encoding, 431 headers_too_large (also a trailer section past
// the header limit), 500 internal (handler threw or dropped its responder), 501 not_implemented (a
// transfer coding other than chunked), 503 unavailable (+ Retry-After: 1; handler_timeout passed,
// the server is draining, or the connection cap is reached). See src/http/README.md for the design.
//
// Thread safety: add routes before start(); start()/stop() from one thread that is not one of the
// server's I/O threads; responders from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>

#include "util/probe.h"
#include "util/result.h"

namespace mca::http {

using request = boost::beast::http::request<boost::beast::http::string_body>;
using response = boost::beast::http::response<boost::beast::http::string_body>;
using verb = boost::beast::http::verb;

// Path parameters of a matched route, e.g. {"app_id", "my-app"}, percent-decoded. Handlers get
// them by const reference, valid during the handler call only: copy what a later reply needs.
struct params {
  std::vector<std::pair<std::string, std::string>> values;
  // The address of the TCP peer, as text without the port ("192.0.2.7", "2001:db8::1"); an
  // IPv4-mapped IPv6 peer is given as IPv4. Behind a proxy this is the proxy: whether to believe
  // X-Forwarded-For is the handler's decision.
  std::string peer;
  std::string_view get(std::string_view name) const;
};

// Sends the response for one request. Call exactly once, from any thread. Cheap to copy; if every
// copy is destroyed without a call, the server answers 500 (a handler bug, never a hang). Later
// calls, and calls after the 503 of handler_timeout or after the connection closed, are ignored.
// May outlive the server. The server adds Content-Length, Connection, gzip and CORS headers.
class responder {
 public:
  struct state;
  explicit responder(std::shared_ptr<state> s) : state_(std::move(s)) {}
  void operator()(response&& res) const;

 private:
  std::shared_ptr<state> state_;
};

// Runs on an I/O thread: must not block (post slow work elsewhere and answer via `respond`).
// Exceptions are caught and answered 500. A HEAD request reaches the GET handler (the server drops
// the body); a gzip request body arrives inflated, without Content-Encoding.
using handler = std::function<void(request&& req, const params& p, responder respond)>;

struct server_options {
  std::string host = "0.0.0.0";
  std::uint16_t port = 5000;             // 0 = any free port (tests)
  unsigned threads = 0;                  // 0 = hardware concurrency
  std::size_t max_body_bytes = 1 << 20;  // wire and decompressed
  // Request line + header fields; also bounds the chunk extensions of one request (together)
  // and its trailer section, and the bytes a connection buffers before parsing.
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_target_bytes = 8 * 1024;         // longer request targets: 414
  std::chrono::milliseconds read_timeout{10'000};  // a whole request must arrive within this
  std::chrono::milliseconds idle_timeout{60'000};  // keep-alive idle connections
  // A response must be taken by the client within this, or the connection is closed.
  std::chrono::milliseconds write_timeout{10'000};
  // Open connections at most (0 = no cap). From 7/8 of it on, each new connection closes the
  // connection that has been idle longest (waiting for a request); at the cap new connections get
  // a fixed 503 and are closed at once.
  std::size_t max_connections = 0;
  // HTTPS: with cert_file and key_file (PEM; the certificate file may hold the chain), every
  // connection on the port speaks TLS (1.2 or later) and HTTP/1.1 inside it, with the same limits.
  // The handshake must finish within read_timeout. With client_ca_file, a client must present a
  // certificate signed by one of its CAs (mutual TLS), or the handshake fails.
  struct tls_files {
    std::string cert_file;
    std::string key_file;
    std::string client_ca_file;
    bool enabled() const { return !cert_file.empty(); }
  } tls;
  std::chrono::milliseconds handler_timeout{30'000};  // responder not called by then -> 503
  unsigned max_requests_per_connection = 10'000;
  std::size_t gzip_min_bytes = 1024;  // responses at least this large are gzipped when accepted
  std::vector<std::string> cors_allowed_origins;  // exact origins; "*" allows any
  // Called once per answered request (for self-metrics): route name ("" when unmatched). Runs on
  // I/O threads concurrently: must be thread-safe and cheap.
  std::function<void(std::string_view route, verb method, unsigned status,
                     std::chrono::duration<double> elapsed)>
      on_complete;
};

// Routes: "/api/v2/app/{app_id}/metrics" style patterns; a segment in braces matches one
// non-empty path segment (percent-decoded). `name` labels self-metrics.
class router {
 public:
  void add(verb method, std::string pattern, std::string name, handler h);
  // Routes whose CORS headers are sent (e.g. ingest for browsers), by the pattern given to add().
  // A request whose Origin is in cors_allowed_origins gets Access-Control-Allow-Origin: <origin>,
  // Vary: Origin and Access-Control-Expose-Headers: Retry-After, WWW-Authenticate, on errors too.
  // A preflight (OPTIONS + Access-Control-Request-Method) is answered 204 with the path's
  // methods, the headers Content-Type, Content-Encoding, Authorization and X-API-Key and Max-Age
  // 600; from an unlisted origin it gets a 403 JSON error (clearer in logs and devtools than a
  // 204 without CORS headers).
  void enable_cors(std::string pattern);

  struct route {
    verb method;
    std::string pattern;
    std::string name;
    handler h;
    std::vector<std::string> segments;  // pattern split on '/', "{name}" kept as is
  };
  const std::vector<route>& routes() const { return routes_; }

 private:
  std::vector<route> routes_;
  std::vector<std::string> cors_patterns_;
  friend class server;
};

// Connection counters since start (for self-metrics). Thread-safe snapshot.
struct server_stats {
  std::uint64_t open = 0;                    // connections open now
  std::uint64_t idle = 0;                    // of those, waiting for a request (evictable)
  std::uint64_t refused = 0;                 // closed at accept: max_connections reached
  std::uint64_t evicted = 0;                 // idle connections closed to make room near the cap
  std::uint64_t read_timeouts = 0;           // a started request did not arrive within read_timeout
  std::uint64_t write_timeouts = 0;          // a response was not taken within write_timeout
  std::uint64_t tls_handshake_failures = 0;  // TLS handshakes that failed or timed out
};

class server {
 public:
  server(server_options opts, router routes);
  ~server();
  // Binds and starts the threads. Throws std::system_error when the address cannot be bound,
  // std::invalid_argument when the TLS files cannot be loaded.
  void start();
  std::uint16_t port() const;  // the bound port (useful with port 0)
  // Stops accepting and lets in-flight requests finish within `deadline` (their responses carry
  // Connection: close); a request arriving meanwhile on an open keep-alive connection is answered
  // 503 + Connection: close + Retry-After. Once nothing is in flight (or at the deadline) every
  // connection is closed and the threads are joined.
  // Bounded: at most max(deadline, 1 s) + 0.5 s plus whatever handlers are running. Idempotent;
  // the destructor calls it with a zero deadline.
  void stop(std::chrono::milliseconds deadline);
  server_stats stats() const;
  // Runs `on_ready` on an I/O thread each time `fd` has something to read, after reading it (up
  // to 64 bytes: an eventfd's counter, a pipe's wake-up bytes), until stop(); one call at a time.
  // For completions that arrive from another thread (the Kafka producer's acknowledgements):
  // served here, their responses need no second hand-off to reach the connection. The server
  // watches its own dup() of `fd`. Call after start(); `on_ready` must not block.
  void watch(int fd, std::function<void()> on_ready);
  // Loads the TLS files of server_options::tls again (e.g. renewed certificates). New connections
  // use them; open connections keep theirs and are not dropped. On failure (errc::bad_tls_files,
  // the message says which file and why) the previous files stay in use. Thread-safe; an error
  // when the server was not started with TLS.
  util::result<void> reload_tls();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// The server's self-metrics (connections open, refused, evicted; TLS failures; timeouts): the
// mca_http_connections_* families and their kin. `s` must outlive the probe's last scrape.
std::shared_ptr<util::probe> make_probe(const server& s);

// Raises the soft RLIMIT_NOFILE to the hard limit and returns the soft limit then in force (0 when
// it cannot be read). Call once at start, before threads open files.
std::size_t raise_open_files_limit();

// The default for max_connections under a limit of `open_files` descriptors: the limit minus a
// reserve for everything else the process opens (max(64, 1/8 of the limit)), at least 16.
std::size_t default_max_connections(std::size_t open_files);

}  // namespace mca::http
