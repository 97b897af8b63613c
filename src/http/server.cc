#include "http/server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <limits>
#include <list>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>

#include <fcntl.h>
#include <sys/resource.h>

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>

#include "http/codec.h"
#include "http/error_response.h"
#include "http/stream.h"

namespace mca::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using field = bhttp::field;
using steady = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// params, router

std::string_view params::get(std::string_view name) const {
  for (const auto& [k, v] : values) {
    if (k == name) return v;
  }
  return {};
}

namespace {

std::vector<std::string> split_pattern(std::string_view pattern) {
  std::vector<std::string> out;
  if (!pattern.empty() && pattern.front() == '/') pattern.remove_prefix(1);
  if (pattern.empty()) return out;  // "/" has no segments, as Boost.URL sees it
  for (;;) {
    auto slash = pattern.find('/');
    out.emplace_back(pattern.substr(0, slash));
    if (slash == std::string_view::npos) break;
    pattern.remove_prefix(slash + 1);
  }
  return out;
}

bool is_param(const std::string& seg) {
  return seg.size() >= 2 && seg.front() == '{' && seg.back() == '}';
}

// Matches decoded path segments against a route; fills `out` when given.
bool match_route(const router::route& r, const std::vector<std::string>& segs, params* out) {
  if (r.segments.size() != segs.size()) return false;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    if (is_param(r.segments[i])) {
      if (segs[i].empty()) return false;
    } else if (r.segments[i] != segs[i]) {
      return false;
    }
  }
  if (out) {
    out->values.clear();
    for (std::size_t i = 0; i < segs.size(); ++i) {
      if (is_param(r.segments[i])) {
        out->values.emplace_back(r.segments[i].substr(1, r.segments[i].size() - 2), segs[i]);
      }
    }
  }
  return true;
}

void append_vary(response& res, std::string_view value) {
  auto current = res[field::vary];
  if (current.empty()) {
    res.set(field::vary, value);
  } else {
    std::string merged(current);
    merged += ", ";
    merged += value;
    res.set(field::vary, merged);
  }
}

}  // namespace

void router::add(verb method, std::string pattern, std::string name, handler h) {
  auto segments = split_pattern(pattern);
  routes_.push_back(
      route{method, std::move(pattern), std::move(name), std::move(h), std::move(segments)});
}

void router::enable_cors(std::string pattern) { cors_patterns_.push_back(std::move(pattern)); }

// ---------------------------------------------------------------------------------------------
// Internals shared by sessions, responders and the server.

namespace detail {

// Responders may outlive the server. Every post onto a session's strand from outside the I/O
// threads goes through this gate, which stop() closes before the io_context can go away.
struct post_gate {
  std::mutex mu;
  bool open = true;
};

class session;

// The session whose handler runs on this thread right now (set around the handler call only). A
// responder called from inside that call is on the session's strand already and answers in place;
// every other caller (another thread, a later handler) posts to the session.
thread_local session* in_handler = nullptr;

}  // namespace detail

struct responder::state {
  state(std::weak_ptr<detail::session> s, std::shared_ptr<detail::post_gate> g, std::uint64_t n)
      : session(std::move(s)), gate(std::move(g)), seq(n) {}
  ~state();
  state(const state&) = delete;
  state& operator=(const state&) = delete;

  // First call wins and returns true; later calls are ignored (logged at debug unless `quiet`).
  bool complete(response&& res, bool quiet = false);

  std::weak_ptr<detail::session> session;
  std::shared_ptr<detail::post_gate> gate;
  std::uint64_t seq;
  std::atomic<bool> done{false};

 private:
  void post(response&& res);
};

namespace detail {

// Everything sessions share with the server. `server::impl` is this plus the router's private
// parts it reads on construction.
struct core {
  core(server_options o, router r) : opts(std::move(o)), routes(std::move(r)) {}
  ~core();

  void start();
  void stop(std::chrono::milliseconds deadline);
  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
  void run_thread();
  void watch(int fd, std::function<void()> on_ready);
  // Under sessions_mu: closes the connection idle longest (if any) to make room.
  void evict_oldest_idle_locked();
  void refuse(tcp::socket& socket);
  std::shared_ptr<net::ssl::context> current_tls();

  // The TLS context new connections use (null: plain HTTP). Swapped by reload_tls().
  std::mutex tls_mu;
  std::shared_ptr<net::ssl::context> tls_ctx;
  std::atomic<std::uint64_t> tls_handshake_failures{0};

  server_options opts;
  router routes;
  std::vector<bool> cors_enabled;  // per route index

  std::shared_ptr<detail::post_gate> gate = std::make_shared<detail::post_gate>();

  // Every session, and the idle ones (waiting for the first byte of a request) oldest first.
  // Both under sessions_mu; a session lists and unlists itself, the evictor unlists the front.
  using idle_list = std::list<std::weak_ptr<detail::session>>;
  std::mutex sessions_mu;
  std::condition_variable sessions_cv;
  std::unordered_map<std::uint64_t, std::weak_ptr<detail::session>> sessions;
  idle_list idle;
  std::atomic<std::uint64_t> next_session_id{1};
  std::atomic<bool> stopping{false};

  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> evicted{0};
  std::atomic<std::uint64_t> read_timeouts{0};
  std::atomic<std::uint64_t> write_timeouts{0};

  std::mutex lifecycle_mu;  // start()/stop() against each other
  bool started = false;
  bool stopped = false;
  std::uint16_t bound_port = 0;

  // Destroyed explicitly in ~impl, before the members above that sessions touch on destruction.
  std::unique_ptr<net::io_context> ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::optional<tcp::acceptor> acceptor;
  std::optional<net::steady_timer> accept_retry;
  // Descriptors served by watch(), each a dup() of the caller's (under lifecycle_mu).
  std::vector<std::shared_ptr<net::posix::stream_descriptor>> watched;
  std::vector<std::thread> threads;
  unsigned io_threads = 0;  // how many run the io_context (set by start())
};

namespace {

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 9112 6.1: the transfer codings of a request, in order, over every Transfer-Encoding field;
// a problem with them as a ready answer, or nothing when the framing is sound.
std::optional<response> check_transfer_coding(const bhttp::request_header<>& h) {
  std::vector<std::string> codings;
  for (auto [it, end] = h.equal_range(field::transfer_encoding); it != end; ++it) {
    std::string_view v(it->value().data(), it->value().size());
    while (!v.empty()) {
      auto comma = v.find(',');
      auto item = trim_ows(v.substr(0, comma));
      item = trim_ows(item.substr(0, item.find(';')));
      if (!item.empty()) codings.emplace_back(item);
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  if (h.count(field::transfer_encoding) == 0) return std::nullopt;
  if (h.version() < 11) {
    return error_response({errc::bad_request, "Transfer-Encoding is not allowed in HTTP/1.0"});
  }
  auto is_chunked = [](const std::string& c) { return beast::iequals(c, "chunked"); };
  if (codings.empty() || !is_chunked(codings.back())) {
    return error_response({errc::bad_request,
                           "the final transfer coding must be chunked, or the body has no length"});
  }
  if (std::count_if(codings.begin(), codings.end(), is_chunked) > 1) {
    return error_response({errc::bad_request, "chunked is applied more than once"});
  }
  for (const auto& c : codings) {
    if (!is_chunked(c)) {
      return error_response(
          {errc::not_implemented, "unsupported transfer coding '" + c + "' (supported: chunked)"});
    }
  }
  return std::nullopt;
}

// The header block at the front of `data` without its Content-Length fields, when it also has a
// Transfer-Encoding (RFC 9112 6.3: the length is then ignored). Nothing otherwise.
std::optional<std::string> without_content_length(std::string_view data) {
  auto eom = data.find("\r\n\r\n");
  if (eom == std::string_view::npos) return std::nullopt;
  std::string_view head = data.substr(0, eom + 2);
  std::string out;
  out.reserve(data.size());
  bool has_te = false;
  bool has_cl = false;
  bool first = true;
  while (!head.empty()) {
    auto eol = head.find("\r\n");
    auto line = head.substr(0, eol + 2);
    head.remove_prefix(line.size());
    auto name = trim_ows(line.substr(0, line.find(':')));
    if (!first && beast::iequals(name, "content-length")) {
      has_cl = true;
      continue;
    }
    if (!first && beast::iequals(name, "transfer-encoding")) has_te = true;
    first = false;
    out.append(line);
  }
  if (!has_te || !has_cl) return std::nullopt;
  out.append(data.substr(eom + 2));
  return out;
}

bool body_method(verb m) { return m == verb::post || m == verb::put || m == verb::patch; }

}  // namespace

// One TCP connection. Lives on its own strand; every member is touched only from it, except the
// idle-list fields (idle_pos_, idle_listed_), which are guarded by core::sessions_mu. Owned by the
// pending asynchronous operations (and by the timers while they run), so it disappears when the
// connection is done and nothing waits on it.
class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket&& socket, core& srv, std::shared_ptr<net::ssl::context> tls)
      : peer_(peer_address(socket)),
        stream_(tls ? stream(std::move(socket), std::move(tls)) : stream(std::move(socket))),
        srv_(srv),
        timer_(stream_.get_executor()),
        timer_step_(timer_step(srv.opts)),
        id_(srv.next_session_id.fetch_add(1)),
        buffer_(std::max<std::size_t>(srv.opts.max_header_bytes, 1024)) {
    on_chunk_ = [this](std::uint64_t, beast::string_view extensions, beast::error_code& ec) {
      chunk_ext_bytes_ += extensions.size();
      if (chunk_ext_bytes_ > opts().max_header_bytes) {
        chunk_ext_overflow_ = true;
        ec = bhttp::error::bad_chunk_extension;
      }
    };
  }

  ~session() {
    std::lock_guard lock(srv_.sessions_mu);
    if (idle_listed_) srv_.idle.erase(idle_pos_);
    srv_.sessions.erase(id_);
    srv_.sessions_cv.notify_all();
  }

  std::uint64_t id() const { return id_; }
  net::any_io_executor executor() { return stream_.get_executor(); }

  void start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->stream_.is_tls()) {
        // Reads and writes are first tried in place (read_header, write_response), and fall
        // back to the asynchronous operation when the socket would block.
        beast::error_code ec;
        self->stream_.socket().non_blocking(true, ec);
        if (ec) return self->close();
        return self->read_request();
      }
      // The handshake must finish within read_timeout, like a request; it is not idle time.
      self->phase_ = phase::reading;
      self->set_deadline(self->opts().read_timeout, deadline_kind::silent);
      self->stream_.async_handshake([self](beast::error_code ec) {
        self->clear_deadline();
        if (self->phase_ == phase::closed) return;
        if (ec) {
          self->srv_.tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
          spdlog::debug("http: connection {} TLS handshake failed: {}", self->id_,
                        self->timed_out_ ? "timed out" : ec.message());
          return self->close();
        }
        self->read_request();
      });
    });
  }

  // Draining: the connection stays open; a request in flight is answered with Connection: close,
  // a request that arrives is answered 503 + Connection: close. stop() closes what is left.
  void begin_shutdown() {
    net::post(stream_.get_executor(), [self = shared_from_this()] { self->shutting_down_ = true; });
  }

  void force_close() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      // A request that has just arrived on an idle connection is still answered (503, the
      // server is draining) in the moment stop() leaves before the io_context stops.
      beast::error_code ec;
      if (self->phase_ == phase::idle && self->shutting_down_ &&
          self->stream_.socket().available(ec) > 0 && !ec) {
        return;
      }
      self->close();
    });
  }

  // Near the connection cap: closes the connection if it is still waiting for a request.
  void evict() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->phase_ != phase::idle) return;
      // Bytes already waiting: a request has arrived that the strand has not seen yet.
      beast::error_code ec;
      if (self->stream_.socket().available(ec) > 0 || ec) return;
      self->srv_.evicted.fetch_add(1, std::memory_order_relaxed);
      self->close();
    });
  }

  // Under core::sessions_mu (called by the evictor that took this session off the idle list).
  void unlisted_locked() { idle_listed_ = false; }

  // On the strand: the response for request `seq` (from a responder, a timeout or an error).
  void deliver(std::uint64_t seq, response&& res) {
    if (seq != seq_ || phase_ != phase::handling) return;  // stale: timed out or closed
    write_response(std::move(res));
  }

 private:
  // idle: waiting for the first byte of a request (evictable); reading: a request has started.
  enum class phase { idle, reading, handling, writing, lingering, closed };
  // What the connection's one deadline guards. silent: waiting for a request (or a TLS
  // handshake), closed without an answer; answer_408: a started request, answered 408;
  // handler: the responder's answer, 503; write: the client taking the response; linger: the
  // drain after an error answer.
  enum class deadline_kind { none, silent, answer_408, handler, write, linger };

  // What finalising the response needs to know about the request it answers.
  struct exchange {
    steady::time_point start;
    verb method = verb::unknown;
    unsigned version = 11;
    bool keep_alive = false;
    bool head = false;
    bool gzip_ok = false;
    bool target_ok = false;
    const router::route* route = nullptr;       // answers this method on this path
    const router::route* path_route = nullptr;  // first route whose path matched
    bool cors_route = false;
    std::string cors_origin;  // non-empty: the request's Origin is allowed on a CORS route
    params p;
  };

  const server_options& opts() const { return srv_.opts; }

  void new_parser() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(opts().max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    parser_->body_limit(static_cast<std::uint64_t>(opts().max_body_bytes));
    parser_->on_chunk_header(on_chunk_);
    chunk_ext_bytes_ = 0;
    chunk_ext_overflow_ = false;
  }

  // One timer per connection serves every timeout. A deadline is a field: setting one costs no
  // timer operation as long as the timer is due no later than it. The timer never waits longer
  // than the shortest configured timeout (timer_step_), so every later deadline (each timeout is at
  // least that long) finds it due in time; when it fires before the deadline it waits again, and
  // only a deadline shorter than the step (the lingering drain's) re-arms it at once. A request
  // on a keep-alive connection thus moves through its read, handler, write and idle deadlines
  // without arming or cancelling anything; the timer wakes the connection at most once a step.
  // The deadlines are ours, not tcp_stream's: tcp_stream closes the socket on expiry, and a
  // request that timed out gets a 408 before the close.
  static steady::duration timer_step(const server_options& o) {
    auto step = std::min({o.read_timeout, o.idle_timeout, o.write_timeout, o.handler_timeout});
    return std::max<steady::duration>(step, std::chrono::milliseconds(1));
  }

  void set_deadline(std::chrono::milliseconds d, deadline_kind kind) {
    deadline_kind_ = kind;
    timed_out_ = false;
    const auto now = steady::now();
    deadline_ = now + d;
    if (!timer_waiting_ || deadline_ < timer_due_)
      arm_timer(std::min(deadline_, now + timer_step_));
  }

  // No deadline until the next set_deadline(); the timer, if waiting, lapses when it fires.
  void clear_deadline() { deadline_kind_ = deadline_kind::none; }

  void arm_timer(steady::time_point due) {
    timer_due_ = due;
    timer_waiting_ = true;
    timer_.expires_at(due);  // a wait already pending completes as cancelled (a stale generation)
    timer_.async_wait([self = shared_from_this(), gen = ++timer_gen_](beast::error_code) {
      self->on_timer(gen);
    });
  }

  void on_timer(std::uint64_t gen) {
    if (gen != timer_gen_) return;  // re-armed since: a newer wait is pending
    timer_waiting_ = false;
    if (phase_ == phase::closed || deadline_kind_ == deadline_kind::none) return;
    const auto now = steady::now();
    if (now < deadline_) return arm_timer(std::min(deadline_, now + timer_step_));
    const auto kind = std::exchange(deadline_kind_, deadline_kind::none);
    switch (kind) {
      case deadline_kind::silent:
      case deadline_kind::answer_408: {
        // The pending read or wait completes as aborted; on_read / on_first_bytes see timed_out_.
        timed_out_ = true;
        answer_408_ = kind == deadline_kind::answer_408;
        beast::error_code ignored;
        stream_.socket().cancel(ignored);
        return;
      }
      case deadline_kind::handler:
        if (auto pending = pending_.lock()) {
          pending->complete(
              error_response({errc::unavailable, "the request was not answered in time"}),
              /*quiet=*/true);
        }
        return;  // every responder dropped: its destructor answers 500
      case deadline_kind::write:
        srv_.write_timeouts.fetch_add(1, std::memory_order_relaxed);
        spdlog::debug("http: connection {} timed out", id_);
        return close();  // the write completes as aborted
      case deadline_kind::linger:
      case deadline_kind::none:
        return close();
    }
  }

  void list_idle() {
    std::lock_guard lock(srv_.sessions_mu);
    if (!idle_listed_) {
      idle_pos_ = srv_.idle.insert(srv_.idle.end(), weak_from_this());
      idle_listed_ = true;
    }
    srv_.sessions_cv.notify_all();  // stop() waits for every connection to be idle
  }

  void unlist_idle() {
    std::lock_guard lock(srv_.sessions_mu);
    if (idle_listed_) srv_.idle.erase(idle_pos_);
    idle_listed_ = false;
  }

  void read_request() {
    // No early close while draining: the last response promised keep-alive, so the client may
    // already be sending. The connection waits as an idle one; a request that arrives is answered
    // 503 + Connection: close, and stop() closes what is still idle at the end.
    linger_ = false;
    te_with_length_ = false;
    scan_from_ = 0;
    header_copy_.reset();
    new_parser();
    if (buffer_.size() > 0) {
      // A pipelined request already buffered: the whole request must arrive within read_timeout.
      phase_ = phase::reading;
      set_deadline(opts().read_timeout, deadline_kind::answer_408);
      return read_header();
    }
    // Wait for the first byte of the next request: up to read_timeout on a new connection,
    // idle_timeout between keep-alive requests (idle time never counts as a slow request). A
    // connection that sends nothing is closed without an answer.
    phase_ = phase::idle;
    list_idle();
    set_deadline(served_ == 0 ? opts().read_timeout : opts().idle_timeout, deadline_kind::silent);
    auto on_first_bytes = [self = shared_from_this()](beast::error_code ec) {
      self->unlist_idle();
      if (self->phase_ == phase::closed) return;
      if (ec) return self->on_socket_error(ec);
      self->phase_ = phase::reading;
      self->set_deadline(self->opts().read_timeout, deadline_kind::answer_408);
      self->read_header();
    };
    if (stream_.is_tls()) {
      // TLS may hold decrypted bytes the socket no longer shows as readable: read instead.
      auto room = std::min<std::size_t>(4096, buffer_.max_size() - buffer_.size());
      stream_.async_read_some(buffer_.prepare(room),
                              [this, on_first_bytes](beast::error_code ec, std::size_t n) {
                                if (!ec) buffer_.commit(n);
                                on_first_bytes(ec);
                              });
      return;
    }
    // Waiting for readability instead of reading keeps an idle connection free of buffer memory
    // (thousands of idle keep-alive connections are normal).
    buffer_.shrink_to_fit();
    stream_.socket().async_wait(tcp::socket::wait_read, on_first_bytes);
  }

  // Reads until the buffer holds the whole header block (or the header limit), then hands it to
  // the parser. Seeing the raw block first lets the session ignore Content-Length next to
  // Transfer-Encoding (RFC 9112 6.3), a pair Beast's parser refuses outright.
  void read_header() {
    auto data = static_cast<const char*>(buffer_.data().data());
    std::string_view s(data, buffer_.size());
    auto eom = s.find("\r\n\r\n", scan_from_);
    while (eom == std::string_view::npos && s.size() < opts().max_header_bytes) {
      scan_from_ = s.size() > 3 ? s.size() - 3 : 0;
      auto room = std::min<std::size_t>(4096, buffer_.max_size() - buffer_.size());
      if (!stream_.is_tls()) {
        // The bytes are usually there already (the connection was just reported readable): take
        // them now instead of through a queued completion. Only an empty socket waits.
        beast::error_code ec;
        auto n = stream_.socket().read_some(buffer_.prepare(room), ec);
        if (!ec) {
          buffer_.commit(n);
          s = std::string_view(static_cast<const char*>(buffer_.data().data()), buffer_.size());
          eom = s.find("\r\n\r\n", scan_from_);
          continue;
        }
        if (ec != net::error::would_block && ec != net::error::try_again) return on_read(ec, 0);
      }
      stream_.async_read_some(buffer_.prepare(room),
                              [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                                if (ec) return self->on_read(ec, 0);
                                self->buffer_.commit(n);
                                self->read_header();
                              });
      return;
    }
    scan_from_ = 0;
    target_too_long_ = eom == std::string_view::npos && request_line_too_long(s);
    if (eom != std::string_view::npos && !te_with_length_) {
      if (auto rewritten = without_content_length(s)) {
        buffer_.consume(buffer_.size());
        auto n = net::buffer_copy(buffer_.prepare(rewritten->size()), net::buffer(*rewritten));
        buffer_.commit(n);
        te_with_length_ = true;
        linger_ = true;
      }
    }
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             beast::bind_front_handler(&session::on_header, shared_from_this()));
  }

  // The answer to a request that is refused on its header alone, or nothing.
  std::optional<response> refusal(const bhttp::request_header<>& h) {
    if (auto framing = check_transfer_coding(h)) {
      ctx_.keep_alive = false;  // the body cannot be framed
      return framing;
    }
    auto hosts = h.count(field::host);
    if (hosts > 1 || (hosts == 0 && h.version() >= 11)) {
      return error_response(
          {errc::bad_request, hosts ? "more than one Host header" : "the Host header is required"});
    }
    if (h.target().size() > opts().max_target_bytes) {
      return error_response(
          {errc::uri_too_long,
           "request target exceeds " + std::to_string(opts().max_target_bytes) + " bytes"});
    }
    if (shutting_down_ || srv_.stopping.load()) {
      auto res = error_response({errc::unavailable, "the server is shutting down"});
      ctx_.keep_alive = false;
      return res;
    }
    if (!ctx_.target_ok) return error_response({errc::bad_request, "invalid request target"});
    if (!ctx_.path_route) {
      return error_response({errc::not_found, "no route for " + std::string(h.target())});
    }
    if (ctx_.method == verb::options && !ctx_.route) return std::nullopt;  // answer_options
    if (!ctx_.route) {
      auto res = error_response(
          {errc::method_not_allowed,
           std::string(h.method_string()) + " is not allowed on " + std::string(h.target())});
      res.set(field::allow, allow());
      return res;
    }
    if (body_method(ctx_.method) && !parser_->chunked() && !parser_->content_length()) {
      return error_response({errc::length_required,
                             "a " + std::string(h.method_string()) +
                                 " request needs Content-Length or chunked Transfer-Encoding"});
    }
    return std::nullopt;
  }

  void on_header(beast::error_code ec, std::size_t) {
    if (ec) return on_read(ec, 0);
    const auto& h = parser_->get();
    begin_exchange(h);
    if (te_with_length_) ctx_.keep_alive = false;  // RFC 9112 6.3: close after the response
    if (auto res = refusal(h)) {
      // Refused before the body is read, so no 100 Continue either. With a body still on the
      // wire the connection cannot be reused: answer, then close (lingering).
      clear_deadline();
      ++served_;
      phase_ = phase::handling;
      if (!parser_->is_done()) {
        ctx_.keep_alive = false;
        linger_ = true;
      }
      return write_response(std::move(*res));
    }
    // Trailer fields would be merged into the header by the parser: keep the header as it was.
    if (parser_->chunked()) header_copy_.emplace(h);
    if (parser_->is_done()) return on_read({}, 0);
    if (h.version() == 11 && beast::iequals(h[field::expect], "100-continue")) {
      // Clients like curl wait for this before sending a large body.
      static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(stream_, net::buffer(continue_line.data(), continue_line.size()),
                       [self = shared_from_this()](beast::error_code ec, std::size_t) {
                         if (ec) return self->on_read(ec, 0);
                         self->read_body();
                       });
      return;
    }
    read_body();
  }

  void read_body() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&session::on_read, shared_from_this()));
  }

  // Whether the bytes that overflowed the buffer are the last chunk's line and trailer section
  // (chunk size all zeros) rather than another chunk's extensions.
  bool in_trailer() const {
    auto data = static_cast<const char*>(buffer_.data().data());
    std::string_view s(data, buffer_.size());
    if (s.substr(0, 2) == "\r\n") s.remove_prefix(2);  // the CRLF ending the previous chunk
    std::size_t i = 0;
    while (i < s.size() && s[i] == '0') ++i;
    return i > 0 && (i == s.size() || s[i] == ';' || s[i] == '\r' || s[i] == ' ' || s[i] == '\t');
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (phase_ == phase::closed) return;
    clear_deadline();
    if (!ec) {
      ++served_;
      auto req = parser_->release();
      if (header_copy_) {
        static_cast<bhttp::request_header<>&>(req) = std::move(*header_copy_);
        header_copy_.reset();
      }
      return handle_request(std::move(req));
    }
    if (timed_out_ && ec == net::error::operation_aborted) return on_timeout();
    const bool parse_error =
        &ec.category() == &bhttp::make_error_code(bhttp::error::end_of_stream).category() &&
        ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message;
    if (!parse_error) return on_socket_error(ec);

    // The request is unreadable: answer what went wrong and close, as the rest of the stream
    // cannot be framed.
    ++served_;
    // Whatever part of the header was parsed (method, target, complete fields) still routes the
    // error, so a CORS route's 413 carries CORS headers the browser needs to read it.
    begin_exchange(parser_->get().base());
    ctx_.keep_alive = false;
    linger_ = true;
    phase_ = phase::handling;
    const auto limit = std::to_string(opts().max_header_bytes);
    if (ec == bhttp::error::body_limit) {
      write_response(error_response(
          {errc::body_too_large,
           "request body exceeds " + std::to_string(opts().max_body_bytes) + " bytes"}));
    } else if (ec == bhttp::error::header_limit) {
      if (target_too_long_) {
        write_response(error_response(
            {errc::uri_too_long,
             "request target exceeds " + std::to_string(opts().max_target_bytes) + " bytes"}));
      } else {
        write_response(error_response(
            {errc::headers_too_large, "request headers exceed " + limit + " bytes"}));
      }
    } else if (chunk_ext_overflow_ || (ec == bhttp::error::buffer_overflow && !in_trailer())) {
      write_response(error_response(
          {errc::bad_request, "chunk extensions exceed " + limit + " bytes per request"}));
    } else if (ec == bhttp::error::buffer_overflow) {
      write_response(
          error_response({errc::headers_too_large, "trailer section exceeds " + limit + " bytes"}));
    } else {
      write_response(
          error_response({errc::bad_request, "malformed HTTP request: " + ec.message()}));
    }
  }

  // With the header past its limit: whether the request line alone is past the target limit.
  bool request_line_too_long(std::string_view s) const {
    auto eol = s.find("\r\n");
    auto line = s.substr(0, eol);
    auto sp1 = line.find(' ');
    if (sp1 == std::string_view::npos) return eol == std::string_view::npos;
    auto target = line.substr(sp1 + 1);
    if (eol != std::string_view::npos) target = target.substr(0, target.rfind(' '));
    return target.size() > opts().max_target_bytes;
  }

  // The read deadline passed. Idle: close quietly. A request had started: 408, then close.
  void on_timeout() {
    if (!answer_408_) {
      spdlog::debug("http: connection {} idle past its timeout", id_);
      return close();
    }
    srv_.read_timeouts.fetch_add(1, std::memory_order_relaxed);
    spdlog::debug("http: connection {} timed out reading a request", id_);
    ++served_;
    begin_exchange(parser_->get().base());
    ctx_.keep_alive = false;
    linger_ = true;
    phase_ = phase::handling;
    write_response(error_response(
        {errc::request_timeout, "the request did not arrive within " +
                                    std::to_string(opts().read_timeout.count()) + " ms"}));
  }

  void on_socket_error(beast::error_code ec) {
    if (timed_out_ && ec == net::error::operation_aborted) {
      spdlog::debug("http: connection {} idle past its timeout", id_);
    } else if (ec != bhttp::error::end_of_stream && ec != net::error::eof &&
               ec != net::error::operation_aborted) {
      spdlog::debug("http: connection {} error: {}", id_, ec.message());
    }
    close();
  }

  void close() {
    if (phase_ == phase::closed) return;
    phase_ = phase::closed;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.tcp().close();
    clear_deadline();
    timer_.cancel();
  }

  // Fills ctx_ from the request line and headers: routing, keep-alive, gzip, CORS. The vectors of
  // path segments and parameters are kept from the previous request on the connection.
  void begin_exchange(const bhttp::request_header<>& h) {
    params p = std::move(ctx_.p);
    p.values.clear();
    ctx_ = exchange{};
    ctx_.p = std::move(p);
    segs_.clear();
    ctx_.start = steady::now();
    ctx_.method = h.method();
    ctx_.version = h.version() == 10 ? 10 : 11;
    bhttp::token_list connection{h[field::connection]};
    ctx_.keep_alive =
        h.version() == 11 ? !connection.exists("close") : connection.exists("keep-alive");
    ctx_.head = h.method() == verb::head;
    ctx_.gzip_ok = accepts_gzip(h[field::accept_encoding]);

    auto target = h.target();
    auto url = boost::urls::parse_origin_form(std::string_view(target.data(), target.size()));
    if (!url) return;
    ctx_.target_ok = true;
    for (auto seg : url->segments()) segs_.push_back(std::move(seg));

    const auto& all = srv_.routes.routes();
    const router::route* get_route = nullptr;
    for (std::size_t i = 0; i < all.size(); ++i) {
      const auto& r = all[i];
      if (!match_route(r, segs_, nullptr)) continue;
      if (!ctx_.path_route) ctx_.path_route = &r;
      if (srv_.cors_enabled[i]) ctx_.cors_route = true;
      if (!ctx_.route && r.method == ctx_.method) ctx_.route = &r;
      if (!get_route && r.method == verb::get) get_route = &r;
    }
    // HEAD is answered by the GET handler unless a HEAD route exists.
    if (!ctx_.route && ctx_.head && get_route) ctx_.route = get_route;
    if (ctx_.route) match_route(*ctx_.route, segs_, &ctx_.p);

    auto origin = h[field::origin];
    if (ctx_.cors_route && !origin.empty()) {
      const auto& allowed = opts().cors_allowed_origins;
      bool ok = std::any_of(allowed.begin(), allowed.end(), [&](const std::string& a) {
        return a == "*" || std::string_view(a) == std::string_view(origin.data(), origin.size());
      });
      if (ok) ctx_.cors_origin = std::string(origin);
    }
  }

  // The Allow value for the request's path ("GET, HEAD, OPTIONS"): the methods of every route
  // that matches it, in route order. Only a 405 and OPTIONS need it, so it is made on demand.
  std::string allow() const {
    std::vector<verb> methods;
    for (const auto& r : srv_.routes.routes()) {
      if (!match_route(r, segs_, nullptr)) continue;
      if (std::find(methods.begin(), methods.end(), r.method) == methods.end()) {
        methods.push_back(r.method);
      }
    }
    std::string out;
    const bool has_head = std::find(methods.begin(), methods.end(), verb::head) != methods.end();
    for (verb m : methods) {
      if (!out.empty()) out += ", ";
      out += bhttp::to_string(m);
      if (m == verb::get && !has_head) out += ", HEAD";
    }
    if (std::find(methods.begin(), methods.end(), verb::options) == methods.end()) {
      out += ", OPTIONS";
    }
    return out;
  }

  // Routing was done on the header (refusal()); what is left needs the body.
  void handle_request(request&& req) {
    phase_ = phase::handling;
    if (ctx_.method == verb::options && !ctx_.route) return answer_options(req);

    if (req.count(field::content_encoding)) {
      auto decoded = decode_content(req[field::content_encoding], std::move(req.body()),
                                    opts().max_body_bytes);
      if (!decoded) {
        return write_response(error_response(decoded.error()));
      }
      req.body() = std::move(*decoded);
      req.erase(field::content_encoding);
      req.prepare_payload();
    }
    call_handler(std::move(req));
  }

  void answer_options(const request& req) {
    bool preflight = req.count(field::origin) && req.count(field::access_control_request_method);
    if (preflight && ctx_.cors_route) {
      if (ctx_.cors_origin.empty()) {
        return write_response(
            error_response({errc::origin_not_allowed,
                            "origin " + std::string(req[field::origin]) + " is not allowed"}));
      }
      response res{bhttp::status::no_content, ctx_.version};
      res.set(field::access_control_allow_methods, allow());
      res.set(field::access_control_allow_headers,
              "Content-Type, Content-Encoding, Authorization, X-API-Key");
      res.set(field::access_control_max_age, "600");
      return write_response(std::move(res));
    }
    response res{bhttp::status::no_content, ctx_.version};
    res.set(field::allow, allow());
    write_response(std::move(res));
  }

  void call_handler(request&& req) {
    ++seq_;
    auto st = std::make_shared<responder::state>(weak_from_this(), srv_.gate, seq_);
    pending_ = st;
    set_deadline(opts().handler_timeout, deadline_kind::handler);
    const auto& route = *ctx_.route;
    ctx_.p.peer = peer_;
    struct handler_scope {
      explicit handler_scope(session* s) : outer(std::exchange(in_handler, s)) {}
      ~handler_scope() { in_handler = outer; }
      session* outer;
    } scope(this);
    try {
      route.h(std::move(req), ctx_.p, responder(st));
    } catch (const std::exception& e) {
      spdlog::error("http: handler for route '{}' threw: {}", route.name, e.what());
      st->complete(error_response({errc::internal, "internal server error"}));
    } catch (...) {
      spdlog::error("http: handler for route '{}' threw a non-exception", route.name);
      st->complete(error_response({errc::internal, "internal server error"}));
    }
  }

  // Adds what the server owns (version, keep-alive, CORS, gzip, Content-Length) and writes.
  void write_response(response&& res) {
    pending_.reset();
    bool handler_close = bhttp::token_list{res[field::connection]}.exists("close");
    bool keep = ctx_.keep_alive && !handler_close && !shutting_down_ && !srv_.stopping.load() &&
                !linger_ && served_ < opts().max_requests_per_connection;
    res.version(ctx_.version);
    res.keep_alive(keep);

    if (!ctx_.cors_origin.empty()) {
      res.set(field::access_control_allow_origin, ctx_.cors_origin);
      res.set(field::access_control_expose_headers, "Retry-After, WWW-Authenticate");
      append_vary(res, "Origin");
    }

    unsigned status = res.result_int();
    if (status / 100 == 1 || status == 204 || status == 304) {
      res.body().clear();
      res.erase(field::content_length);
    } else {
      if (!res.count(field::content_encoding) && res.body().size() >= opts().gzip_min_bytes) {
        append_vary(res, "Accept-Encoding");
        if (ctx_.gzip_ok) {
          auto z = gzip(res.body());
          if (!z.empty()) {
            res.body() = std::move(z);
            res.set(field::content_encoding, "gzip");
          }
        }
      }
      res.prepare_payload();
    }

    if (opts().on_complete) {
      const auto* named = ctx_.route ? ctx_.route : ctx_.path_route;
      std::string_view name = named ? std::string_view(named->name) : std::string_view();
      try {
        opts().on_complete(name, ctx_.method, status,
                           std::chrono::duration<double>(steady::now() - ctx_.start));
      } catch (const std::exception& e) {
        spdlog::debug("http: on_complete threw: {}", e.what());
      }
    }

    close_after_write_ = !keep;
    phase_ = phase::writing;
    out_ = std::move(res);
    // A client that does not take its response within write_timeout is treated as gone, so a
    // reader that never reads holds the response's memory for a bounded time only.
    set_deadline(opts().write_timeout, deadline_kind::write);
    if (out_.chunked()) {
      // A handler's own Transfer-Encoding: Beast frames the body.
      serializer_.emplace(out_);
      auto done = beast::bind_front_handler(&session::on_write, shared_from_this());
      if (ctx_.head) return bhttp::async_write_header(stream_, *serializer_, std::move(done));
      return bhttp::async_write(stream_, *serializer_, std::move(done));
    }
    // The header as Beast's serializer writes it, into a string the connection keeps; a small
    // body follows in the same buffer, so a typical answer is one contiguous send.
    serialize_header(out_);
    std::string_view body = ctx_.head ? std::string_view() : std::string_view(out_.body());
    if (body.size() <= inline_body_bytes) {
      head_.append(body);
      body = {};
    }
    std::array<net::const_buffer, 2> wire{net::buffer(head_),
                                          net::buffer(body.data(), body.size())};
    const std::size_t total = head_.size() + body.size();
    std::size_t sent = 0;
    if (!stream_.is_tls()) {
      // The socket is non-blocking: a response that fits the send buffer (nearly all) is written
      // here and the connection moves on without a queued completion.
      beast::error_code ec;
      sent = stream_.socket().write_some(wire, ec);
      if (!ec && sent == total) return on_write({}, sent);
      if (ec && ec != net::error::would_block && ec != net::error::try_again) {
        return on_write(ec, 0);
      }
      if (ec) sent = 0;
    }
    beast::buffers_suffix<decltype(wire)> rest(wire);
    rest.consume(sent);
    net::async_write(stream_, rest,
                     beast::bind_front_handler(&session::on_write, shared_from_this()));
  }

  // Bodies up to this size are copied behind the header and sent with it as one buffer.
  static constexpr std::size_t inline_body_bytes = 512;

  // The status line and header fields of `res`, byte for byte what Beast's serializer writes
  // ("HTTP/1.1 200 OK\r\n", then each field as "Name: value\r\n", then "\r\n"), into head_.
  void serialize_header(const response& res) {
    head_.clear();
    const unsigned v = res.version();
    const unsigned code = res.result_int();
    char line[] = "HTTP/1.1 000 ";
    line[5] = static_cast<char>('0' + v / 10);
    line[7] = static_cast<char>('0' + v % 10);
    line[9] = static_cast<char>('0' + code / 100);
    line[10] = static_cast<char>('0' + (code / 10) % 10);
    line[11] = static_cast<char>('0' + code % 10);
    head_.append(line, sizeof line - 1);
    auto reason = res.reason();
    head_.append(reason.data(), reason.size());
    head_ += "\r\n";
    for (const auto& f : res) {
      auto name = f.name_string();
      auto value = f.value();
      head_.append(name.data(), name.size());
      head_ += ": ";
      head_.append(value.data(), value.size());
      head_ += "\r\n";
    }
    head_ += "\r\n";
  }

  void on_write(beast::error_code ec, std::size_t) {
    serializer_.reset();
    out_ = {};
    // An idle connection keeps at most a small header block's memory.
    if (head_.capacity() > 2 * inline_body_bytes) head_ = std::string();
    clear_deadline();
    if (ec) return on_socket_error(ec);
    if (!close_after_write_) return read_request();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (!linger_) return close();
    // After an error mid-request the client may still be sending; closing with unread data
    // would reset the connection and could destroy the error response before the client reads
    // it. Drain for a bounded time instead (what nginx calls lingering close).
    phase_ = phase::lingering;
    buffer_.clear();
    set_deadline(std::min<std::chrono::milliseconds>(opts().read_timeout, std::chrono::seconds(5)),
                 deadline_kind::linger);
    drain();
  }

  void drain() {
    auto room = std::min<std::size_t>(16 * 1024, buffer_.max_size());
    stream_.async_read_some(buffer_.prepare(room),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) return self->close();
                              self->drain();
                            });
  }

  static std::string peer_address(const tcp::socket& socket) {
    beast::error_code ec;
    auto addr = socket.remote_endpoint(ec).address();
    if (ec) return {};
    if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
      return net::ip::make_address_v4(net::ip::v4_mapped, addr.to_v6()).to_string();
    }
    return addr.to_string();
  }

  std::string peer_;  // before stream_: initialised from the socket before it is moved
  stream stream_;
  core& srv_;
  // The connection's one timer (see set_deadline) and the deadline it enforces.
  net::steady_timer timer_;
  steady::duration timer_step_;
  steady::time_point timer_due_;
  steady::time_point deadline_;
  deadline_kind deadline_kind_ = deadline_kind::none;
  bool timer_waiting_ = false;
  std::uint64_t id_;
  // At most max_header_bytes of unparsed input: a header, a chunk line with its extensions, or
  // a trailer section must fit (body bytes go to the body, bounded by max_body_bytes).
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::function<void(std::uint64_t, beast::string_view, beast::error_code&)> on_chunk_;
  std::optional<bhttp::request_header<>> header_copy_;
  std::size_t chunk_ext_bytes_ = 0;
  bool chunk_ext_overflow_ = false;
  exchange ctx_;
  // The request's percent-decoded path segments (its vector kept between requests).
  std::vector<std::string> segs_;
  response out_;
  // The header block of the response being written (its capacity kept between requests).
  std::string head_;
  // Only for a response with a Transfer-Encoding of the handler's own.
  std::optional<bhttp::response_serializer<bhttp::string_body>> serializer_;
  phase phase_ = phase::idle;
  std::uint64_t timer_gen_ = 0;
  // The responder of the request being handled, answered 503 at the handler deadline.
  std::weak_ptr<responder::state> pending_;
  bool timed_out_ = false;
  bool answer_408_ = false;  // the deadline that passed was a started request's
  std::uint64_t seq_ = 0;
  unsigned served_ = 0;
  bool shutting_down_ = false;
  bool close_after_write_ = false;
  bool linger_ = false;
  bool te_with_length_ = false;
  bool target_too_long_ = false;  // the header overflowed within the request line's target
  std::size_t scan_from_ = 0;     // where the search for the end of the header block resumes
  // Guarded by core::sessions_mu.
  core::idle_list::iterator idle_pos_;
  bool idle_listed_ = false;
};

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// responder

responder::state::~state() {
  if (done.exchange(true)) return;
  try {
    spdlog::error("http: a responder was dropped without answering; sending 500");
    post(error_response({errc::internal, "the handler did not produce a response"}));
  } catch (...) {
    // Destructors must not throw; the connection then times out on the client side.
  }
}

bool responder::state::complete(response&& res, bool quiet) {
  if (done.exchange(true)) {
    if (!quiet) spdlog::debug("http: responder called more than once; later call ignored");
    return false;
  }
  post(std::move(res));
  return true;
}

void responder::state::post(response&& res) {
  auto deliver = [](detail::session& s, std::uint64_t n, response&& r) {
    try {
      s.deliver(n, std::move(r));
    } catch (const std::exception& e) {
      spdlog::error("http: failed to send a response: {}", e.what());
    }
  };
  // Answered inside the session's own handler call (a synchronous acknowledgement, e.g. the
  // embedded log's): the strand is ours already, so no hand-off. The server runs, so no gate.
  if (auto* current = detail::in_handler) {
    if (auto s = session.lock(); s.get() == current) return deliver(*s, seq, std::move(res));
  }
  std::lock_guard lock(gate->mu);
  if (!gate->open) return;
  auto s = session.lock();
  if (!s) return;  // connection already gone
  net::post(s->executor(),
            [s, n = seq, r = std::move(res), deliver]() mutable { deliver(*s, n, std::move(r)); });
}

void responder::operator()(response&& res) const {
  if (state_) state_->complete(std::move(res));
}

// ---------------------------------------------------------------------------------------------
// server

detail::core::~core() {
  // Nothing could handle an exception here (std::system_error from a lock or a join): log it.
  try {
    stop(std::chrono::milliseconds(0));
  } catch (const std::exception& e) {
    spdlog::error("http: stopping the server failed: {}", e.what());
  }
  // Pending handlers own sessions, whose destructors use sessions_mu: tear the I/O objects down
  // while the rest of impl is still alive.
  accept_retry.reset();
  acceptor.reset();
  watched.clear();
  work.reset();
  ioc.reset();
}

namespace {
util::result<std::shared_ptr<net::ssl::context>> load_tls(const server_options::tls_files& f);
}  // namespace

void detail::core::start() {
  std::lock_guard lock(lifecycle_mu);
  if (started) return;
  if (opts.tls.enabled()) {
    auto ctx = load_tls(opts.tls);
    if (!ctx) throw std::invalid_argument(ctx.error().message);
    std::lock_guard l(tls_mu);
    tls_ctx = std::move(*ctx);
  }
  ioc = std::make_unique<net::io_context>();
  beast::error_code ec;
  tcp::endpoint ep;
  auto addr = net::ip::make_address(opts.host, ec);
  if (!ec) {
    ep = tcp::endpoint(addr, opts.port);
  } else {
    tcp::resolver resolver(*ioc);
    auto results = resolver.resolve(opts.host, std::to_string(opts.port), ec);
    if (ec || results.empty()) {
      throw std::system_error(std::error_code(ec), "http: cannot resolve " + opts.host);
    }
    ep = results.begin()->endpoint();
  }

  acceptor.emplace(net::make_strand(*ioc));
  auto fail = [&](const char* what) {
    throw std::system_error(std::error_code(ec), std::string("http: ") + what + " " + opts.host +
                                                     ":" + std::to_string(opts.port));
  };
  acceptor->open(ep.protocol(), ec);
  if (ec) fail("open");
  acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (ec) fail("reuse_address");
  acceptor->bind(ep, ec);
  if (ec) fail("bind");
  acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) fail("listen");
  bound_port = acceptor->local_endpoint().port();
  accept_retry.emplace(acceptor->get_executor());

  work.emplace(ioc->get_executor());
  unsigned n = opts.threads ? opts.threads : std::max(1u, std::thread::hardware_concurrency());
  io_threads = n;
  do_accept();
  for (unsigned i = 0; i < n; ++i) threads.emplace_back([this] { run_thread(); });
  started = true;
}

namespace {

// Reads what the descriptor holds (an eventfd's counter, a pipe's bytes), then runs `on_ready`.
// A read, not a readiness wait: Asio's reactor is edge-triggered, and a read tries the descriptor
// first, so an event that came while `on_ready` ran is never missed.
void watch_next(const std::shared_ptr<net::posix::stream_descriptor>& d,
                const std::shared_ptr<std::function<void()>>& on_ready) {
  auto buf = std::make_shared<std::array<char, 64>>();
  d->async_read_some(net::buffer(*buf), [d, on_ready, buf](beast::error_code ec, std::size_t) {
    if (ec == net::error::operation_aborted || !d->is_open()) return;
    if (ec) {
      spdlog::error("http: a watched descriptor failed: {}", ec.message());
      return;
    }
    try {
      (*on_ready)();
    } catch (const std::exception& e) {
      spdlog::error("http: a watched descriptor's handler threw: {}", e.what());
    }
    watch_next(d, on_ready);
  });
}

}  // namespace

void detail::core::watch(int fd, std::function<void()> on_ready) {
  std::lock_guard lock(lifecycle_mu);
  if (!started || stopped || stopping.load())
    throw std::logic_error("http: watch() needs a running server");
  const int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0)
    throw std::system_error(errno, std::generic_category(), "http: dup of a watched descriptor");
  auto d = std::make_shared<net::posix::stream_descriptor>(*ioc, own);
  d->non_blocking(true);
  watched.push_back(d);
  net::post(*ioc, [d, cb = std::make_shared<std::function<void()>>(std::move(on_ready))] {
    watch_next(d, cb);
  });
}

void detail::core::run_thread() {
  for (;;) {
    try {
      ioc->run();
      return;
    } catch (const std::exception& e) {
      // Handlers catch at their boundary; this is a last resort that keeps the thread serving.
      spdlog::error("http: exception escaped an I/O handler: {}", e.what());
    }
  }
}

void detail::core::do_accept() {
  // A connection's handlers run one at a time: on a strand, or, with one I/O thread, on the
  // io_context itself (an implicit strand), which spares every handler the strand's queue.
  net::any_io_executor ex = io_threads == 1 ? net::any_io_executor(ioc->get_executor())
                                            : net::any_io_executor(net::make_strand(*ioc));
  acceptor->async_accept(ex, beast::bind_front_handler(&detail::core::on_accept, this));
}

void detail::core::on_accept(beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
  if (ec) {
    // E.g. EMFILE: back off briefly instead of spinning on the same error.
    spdlog::debug("http: accept failed: {}", ec.message());
    accept_retry->expires_after(std::chrono::milliseconds(50));
    accept_retry->async_wait([this](beast::error_code e) {
      if (!e && acceptor->is_open()) do_accept();
    });
    return;
  }
  if (stopping.load()) {
    beast::error_code ignored;
    socket.close(ignored);
    return;
  }
  std::shared_ptr<detail::session> s;
  {
    std::unique_lock lock(sessions_mu);
    const auto cap = opts.max_connections;
    if (cap > 0 && sessions.size() >= cap) {
      lock.unlock();
      refuse(socket);
      return do_accept();
    }
    // Near the cap, the connection idle longest makes room, so a new client is served even
    // when idle keep-alive connections hold almost every slot.
    if (cap > 0 && sessions.size() >= cap - cap / 8) evict_oldest_idle_locked();
    socket.set_option(tcp::no_delay(true), ec);
    s = std::make_shared<detail::session>(std::move(socket), *this, current_tls());
    sessions.emplace(s->id(), s);
  }
  s->start();
  do_accept();
}

void detail::core::evict_oldest_idle_locked() {
  while (!idle.empty()) {
    auto weak = std::move(idle.front());
    idle.pop_front();
    if (auto s = weak.lock()) {
      s->unlisted_locked();
      s->evict();
      return;
    }
  }
}

namespace {

// A server context from PEM files: TLS 1.2 or later, the certificate chain, the private key
// (checked against the certificate), and with a client CA file, required client certificates.
util::result<std::shared_ptr<net::ssl::context>> load_tls(const server_options::tls_files& f) {
  auto ctx = std::make_shared<net::ssl::context>(net::ssl::context::tls_server);
  auto fail = [](const std::string& what, const std::string& file, const beast::error_code& ec) {
    return util::error(errc::bad_tls_files, what + " " + file + ": " + ec.message());
  };
  beast::error_code ec;
  ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                       net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                       net::ssl::context::no_tlsv1_1 | net::ssl::context::single_dh_use,
                   ec);
  if (ec) return util::error(errc::bad_tls_files, "TLS options: " + ec.message());
  if (ctx->use_certificate_chain_file(f.cert_file, ec); ec) {
    return fail("TLS certificate", f.cert_file, ec);
  }
  if (ctx->use_private_key_file(f.key_file, net::ssl::context::pem, ec); ec) {
    return fail("TLS key", f.key_file, ec);
  }
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return util::error(errc::bad_tls_files,
                       "TLS key " + f.key_file + " does not match certificate " + f.cert_file);
  }
  if (!f.client_ca_file.empty()) {
    if (ctx->load_verify_file(f.client_ca_file, ec); ec) {
      return fail("TLS client CA", f.client_ca_file, ec);
    }
    ctx->set_verify_mode(net::ssl::verify_peer | net::ssl::verify_fail_if_no_peer_cert, ec);
    if (ec) return util::error(errc::bad_tls_files, "TLS verify mode: " + ec.message());
  }
  return ctx;
}

}  // namespace

std::shared_ptr<net::ssl::context> detail::core::current_tls() {
  std::lock_guard lock(tls_mu);
  return tls_ctx;
}

void detail::core::refuse(tcp::socket& socket) {
  // Cheap on purpose: one non-blocking write of a fixed answer, then close; no session, no
  // parsing. A client that has not read it yet may see a reset instead.
  static const std::string answer = [] {
    auto res = error_response({errc::unavailable, "too many open connections, retry"});
    res.keep_alive(false);
    std::ostringstream out;
    out << res;
    return std::move(out).str();
  }();
  refused.fetch_add(1, std::memory_order_relaxed);
  beast::error_code ignored;
  socket.non_blocking(true, ignored);
  // On a TLS port plain text would only confuse the client's handshake: just close.
  if (!current_tls()) socket.write_some(net::buffer(answer.data(), answer.size()), ignored);
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

void detail::core::stop(std::chrono::milliseconds deadline) {
  std::lock_guard lock(lifecycle_mu);
  if (!started || stopped) {
    stopped = true;
    return;
  }
  stopped = true;
  const auto until = steady::now() + deadline;
  stopping.store(true);

  // 1. No new connections.
  auto closed = std::make_shared<std::promise<void>>();
  auto closed_future = closed->get_future();
  net::post(acceptor->get_executor(), [this, closed] {
    beast::error_code ignored;
    acceptor->close(ignored);
    accept_retry->cancel();
    closed->set_value();
  });
  // At least a moment even with a zero deadline, so the close runs on the I/O threads.
  closed_future.wait_until(std::max(until, steady::now() + std::chrono::seconds(1)));

  auto snapshot = [this] {
    std::vector<std::shared_ptr<detail::session>> live;
    std::lock_guard l(sessions_mu);
    for (auto& [id, weak] : sessions) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
    return live;
  };

  // 2. Requests in flight get until the deadline to be answered; requests that arrive meanwhile
  //    on open connections are answered 503 + Connection: close. Done when every connection
  //    left is idle.
  for (auto& s : snapshot()) s->begin_shutdown();
  {
    std::unique_lock l(sessions_mu);
    sessions_cv.wait_until(l, until, [this] { return sessions.size() <= idle.size(); });
  }

  // 3. Whatever is left is cut off; give the strands a moment to run the closes.
  for (auto& s : snapshot()) s->force_close();
  {
    std::unique_lock l(sessions_mu);
    sessions_cv.wait_for(l, std::chrono::milliseconds(500), [this] { return sessions.empty(); });
  }

  work.reset();
  ioc->stop();
  for (auto& t : threads) {
    if (t.joinable()) t.join();
  }
  threads.clear();
  std::lock_guard g(gate->mu);
  gate->open = false;
}

struct server::impl : detail::core {
  impl(server_options o, router r) : core(std::move(o), std::move(r)) {
    for (const auto& route : routes.routes_) {
      cors_enabled.push_back(std::find(routes.cors_patterns_.begin(), routes.cors_patterns_.end(),
                                       route.pattern) != routes.cors_patterns_.end());
    }
  }
};

server::server(server_options opts, router routes)
    : impl_(std::make_unique<impl>(std::move(opts), std::move(routes))) {}

server::~server() = default;

void server::start() { impl_->start(); }

std::uint16_t server::port() const { return impl_->bound_port; }

void server::stop(std::chrono::milliseconds deadline) { impl_->stop(deadline); }

void server::watch(int fd, std::function<void()> on_ready) {
  impl_->watch(fd, std::move(on_ready));
}

server_stats server::stats() const {
  server_stats st;
  {
    std::lock_guard lock(impl_->sessions_mu);
    st.open = impl_->sessions.size();
    st.idle = impl_->idle.size();
  }
  st.refused = impl_->refused.load(std::memory_order_relaxed);
  st.evicted = impl_->evicted.load(std::memory_order_relaxed);
  st.read_timeouts = impl_->read_timeouts.load(std::memory_order_relaxed);
  st.write_timeouts = impl_->write_timeouts.load(std::memory_order_relaxed);
  st.tls_handshake_failures = impl_->tls_handshake_failures.load(std::memory_order_relaxed);
  return st;
}

util::result<void> server::reload_tls() {
  if (!impl_->opts.tls.enabled() || !impl_->current_tls()) {
    return util::error(errc::bad_tls_files, "the server does not serve TLS");
  }
  auto ctx = load_tls(impl_->opts.tls);
  if (!ctx) return ctx.error();
  std::lock_guard lock(impl_->tls_mu);
  impl_->tls_ctx = std::move(*ctx);
  return {};
}

std::size_t raise_open_files_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  if (rl.rlim_cur == RLIM_INFINITY) return std::numeric_limits<std::size_t>::max() / 2;
  return static_cast<std::size_t>(rl.rlim_cur);
}

std::size_t default_max_connections(std::size_t open_files) {
  const std::size_t reserve = std::max<std::size_t>(64, open_files / 8);
  return open_files > reserve + 16 ? open_files - reserve : 16;
}

}  // namespace mca::http
