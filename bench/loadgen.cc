// HTTP load generator for the ingest benchmarks: N keep-alive connections sending pre-built
// requests (everything is serialised before the clock starts, so the generator only moves
// bytes), closed loop for throughput or open loop at a fixed rate for latency.
//
//   loadgen --port P [--target mca|pushgateway|statsd] [--connections 8] [--batch 100]
//           [--series 10000] [--series-per-app 10000] [--duration 10 | --requests N]
//           [--rate R] [--warmup 1] [--threads 1] [--header "Name: value"]...
//           [--workload gauge|aggregate] [--buckets 1000,2500,...]
//
// --workload aggregate (R8): instead of gauges, a fixed sequence of observations: item k is, four
// times in five, one observation of the histogram `web_vitals_lcp` (an integer LCP in ms,
// 100-10099) and, once in five, an increment (1-3) of the counter `bench_clicks`, each tagged
// page=/p<i> with i < --series (so --series histogram series and --series counter series). The
// same sequence goes to our service as JSON items with "type" (one app, <app-prefix>-0) and to
// statsd_exporter (--target statsd) as DogStatsD lines over TCP, --batch lines per write. A
// refused request (503/429) is sent again 2 ms later, as a client would retry it, so every
// observation eventually arrives; a statsd write is flow-controlled by TCP, and the run ends when
// the exporter has read every line (it closes the connection after our FIN). With --requests the
// result adds what was delivered: observations, their sum, the counter total and, with
// --buckets, the expected cumulative count of every bucket bound (and +Inf), so a scrape can be
// checked against it exactly.
//
// Open loop (--rate): request k is due at start + k/R. A request that finds no idle connection
// waits, and its latency still counts from when it was due, so a stalled server shows up in the
// percentiles instead of silently slowing the generator (no coordinated omission).
//
// Prints one JSON object on stdout: requests, status counts, requests/s, metrics/s (metrics in
// 2xx answers), latency p50/p99/p99.9/max in microseconds, and the generator's own CPU time
// (getrusage), so a result can say how much of the machine the generator took.
#include <algorithm>
#include <array>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cli.h"
#include "latency_histogram.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

enum class target { mca, pushgateway, statsd };
enum class workload { gauge, aggregate };

struct options {
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  target kind = target::mca;
  unsigned connections = 8;
  unsigned batch = 100;
  std::uint64_t series = 10'000;
  std::uint64_t series_per_app = 10'000;
  double duration_s = 10;
  std::uint64_t requests = 0;  // > 0: fixed count instead of duration
  double rate = 0;             // > 0: open loop, requests per second
  double warmup_s = 1;
  unsigned threads = 1;
  std::size_t max_bodies = 10'000;
  std::string app_prefix = "bench";
  double timeout_s = 120;     // hard stop: a server that stops answering cannot hang a run
  std::string extra_headers;  // "Name: value\r\n"... (e.g. an API key)
  workload load = workload::gauge;
  std::vector<double> bounds;  // --buckets: histogram upper bounds, for the expected counts
};

[[noreturn]] void usage(const char* why) {
  mca::bench::usage_exit(
      "loadgen",
      "--port P [--host H] [--target mca|pushgateway|statsd] [--connections N] [--batch B] "
      "[--series S] [--series-per-app S] [--duration SEC | --requests N] [--rate R] "
      "[--warmup SEC] [--threads T] [--max-bodies N] [--app-prefix P] [--timeout SEC] "
      "[--header 'Name: value']... [--workload gauge|aggregate] [--buckets B1,B2,...]",
      why);
}

options parse_args(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage("missing value");
      return argv[++i];
    };
    if (a == "--host")
      o.host = value();
    else if (a == "--port")
      o.port = static_cast<unsigned short>(std::stoul(value()));
    else if (a == "--target") {
      const std::string t = value();
      if (t == "mca")
        o.kind = target::mca;
      else if (t == "pushgateway")
        o.kind = target::pushgateway;
      else if (t == "statsd")
        o.kind = target::statsd;
      else
        usage("--target is mca, pushgateway or statsd");
    } else if (a == "--workload") {
      const std::string w = value();
      if (w == "gauge")
        o.load = workload::gauge;
      else if (w == "aggregate")
        o.load = workload::aggregate;
      else
        usage("--workload is gauge or aggregate");
    } else if (a == "--buckets") {
      const std::string list = value();
      std::size_t from = 0;
      while (from <= list.size()) {
        const std::size_t comma = std::min(list.find(',', from), list.size());
        const double b = std::stod(list.substr(from, comma - from));
        if (!o.bounds.empty() && !(b > o.bounds.back())) usage("--buckets must increase");
        o.bounds.push_back(b);
        from = comma + 1;
      }
    } else if (a == "--connections")
      o.connections = static_cast<unsigned>(std::stoul(value()));
    else if (a == "--batch")
      o.batch = static_cast<unsigned>(std::stoul(value()));
    else if (a == "--series")
      o.series = std::stoull(value());
    else if (a == "--series-per-app")
      o.series_per_app = std::stoull(value());
    else if (a == "--duration")
      o.duration_s = std::stod(value());
    else if (a == "--requests")
      o.requests = std::stoull(value());
    else if (a == "--rate")
      o.rate = std::stod(value());
    else if (a == "--warmup")
      o.warmup_s = std::stod(value());
    else if (a == "--threads")
      o.threads = static_cast<unsigned>(std::stoul(value()));
    else if (a == "--max-bodies")
      o.max_bodies = std::stoull(value());
    else if (a == "--app-prefix")
      o.app_prefix = value();
    else if (a == "--timeout")
      o.timeout_s = std::stod(value());
    else if (a == "--header")
      o.extra_headers += value() + "\r\n";
    else
      usage("unknown argument");
  }
  if (o.port == 0) usage("--port is required");
  if (o.connections == 0 || o.batch == 0 || o.series == 0 || o.threads == 0 ||
      o.series_per_app == 0)
    usage("counts must be positive");
  if (o.kind == target::statsd) {
    if (o.load != workload::aggregate) usage("--target statsd needs --workload aggregate");
    if (o.requests == 0) usage("--target statsd needs --requests");
    if (o.rate > 0) usage("--target statsd is closed loop only");
    o.threads = 1;
  }
  if (o.kind == target::pushgateway && o.load == workload::aggregate)
    usage("--workload aggregate is for mca and statsd");
  o.threads = std::min(o.threads, o.connections);
  return o;
}

// --- pre-built requests ---------------------------------------------------------------------

// Ten metric names; the series index goes into a tag, so series s of every request is the same
// series (an update) and distinct indexes are distinct series.
void append_mca_metric(std::string& out, std::uint64_t s, double v) {
  out += R"({"name":"bench_metric_)";
  out += std::to_string(s % 10);
  out += R"(","value":)";
  out += std::to_string(v);
  out += R"(,"tags":{"host":"host-)";
  out += std::to_string(s % 97);
  out += R"(","series":"s)";
  out += std::to_string(s);
  out += R"("},"profileId":"bench-profile"})";
}

void append_text_metric(std::string& out, std::uint64_t s, double v) {
  out += "bench_metric_";
  out += std::to_string(s % 10);
  out += "{host=\"host-";
  out += std::to_string(s % 97);
  out += "\",series=\"s";
  out += std::to_string(s);
  out += "\"} ";
  out += std::to_string(v);
  out += '\n';
}

// What one pre-built aggregate request delivers: added to the totals when it is accepted whole
// (or written, for statsd).
struct delivery {
  std::uint64_t items = 0;
  std::uint64_t observations = 0;
  double observation_sum = 0;  // integers: exact in a double far beyond any run here
  std::uint64_t increments = 0;
  double counter_total = 0;
  std::vector<std::uint64_t> buckets;  // per bound (upper bound inclusive) and +Inf, not cumulative

  void add(const delivery& d) {
    items += d.items;
    observations += d.observations;
    observation_sum += d.observation_sum;
    increments += d.increments;
    counter_total += d.counter_total;
    if (buckets.size() < d.buckets.size()) buckets.resize(d.buckets.size());
    for (std::size_t i = 0; i < d.buckets.size(); ++i) buckets[i] += d.buckets[i];
  }
};

// Item k of the aggregate workload (see the header comment).
struct aggregate_item {
  bool counter;
  std::uint64_t page;
  std::uint64_t value;
};

aggregate_item aggregate_at(std::uint64_t k, std::uint64_t pages) {
  const std::uint64_t i = k / 5, r = k % 5;
  if (r == 4) return {true, i % pages, 1 + i % 3};
  return {false, (4 * i + r) % pages, 100 + (k * 7919) % 10000};
}

void append_aggregate(std::string& out, target kind, const aggregate_item& it) {
  const char* name = it.counter ? "bench_clicks" : "web_vitals_lcp";
  if (kind == target::statsd) {
    out += name;
    out += ':';
    out += std::to_string(it.value);
    out += it.counter ? "|c|#page:/p" : "|h|#page:/p";
    out += std::to_string(it.page);
    out += '\n';
    return;
  }
  out += R"({"name":")";
  out += name;
  out += it.counter ? R"(","type":"counter","value":)" : R"(","type":"histogram","value":)";
  out += std::to_string(it.value);
  out += R"(,"tags":{"page":"/p)";
  out += std::to_string(it.page);
  out += R"("},"profileId":"bench-profile"})";
}

void count_aggregate(delivery& d, const aggregate_item& it, const std::vector<double>& bounds) {
  ++d.items;
  const auto v = static_cast<double>(it.value);
  if (it.counter) {
    ++d.increments;
    d.counter_total += v;
    return;
  }
  ++d.observations;
  d.observation_sum += v;
  if (d.buckets.empty()) d.buckets.assign(bounds.size() + 1, 0);
  const auto at = std::lower_bound(bounds.begin(), bounds.end(), v);  // first bound >= v
  ++d.buckets[static_cast<std::size_t>(at - bounds.begin())];
}

struct prebuilt {
  std::vector<std::string> requests;
  std::vector<delivery> deliveries;  // aggregate workload: what each request delivers
};

// Gauges: request r carries series [r*batch, (r+1)*batch) modulo `series`. For our service the
// app is series / series_per_app, so a run can hold more series than one app's cap. For the
// Pushgateway each connection pushes into its own group (job/bench/instance/c<i>), the usual way
// one pusher per process uses it; the request is built per connection for that.
// Aggregates: request r carries items [r*batch, (r+1)*batch) of the sequence, enough requests
// for every counter series (5 * series items) to appear once.
prebuilt build_requests(const options& o, unsigned connection) {
  const bool agg = o.load == workload::aggregate;
  const std::uint64_t needed =
      agg ? (5 * o.series + o.batch - 1) / o.batch : (o.series + o.batch - 1) / o.batch;
  const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(needed, o.max_bodies));
  prebuilt out;
  out.requests.reserve(n);
  for (std::size_t r = 0; r < n; ++r) {
    std::string body;
    std::uint64_t first = agg ? r * o.batch : (r * o.batch) % o.series;
    std::string path;
    if (agg) {
      delivery d;
      if (o.kind == target::mca) body = R"({"metrics":[)";
      for (unsigned i = 0; i < o.batch; ++i) {
        const aggregate_item it = aggregate_at(first + i, o.series);
        if (o.kind == target::mca && i) body += ',';
        append_aggregate(body, o.kind, it);
        count_aggregate(d, it, o.bounds);
      }
      out.deliveries.push_back(std::move(d));
      if (o.kind == target::statsd) {
        out.requests.push_back(std::move(body));
        continue;
      }
      body += "]}";
      path = "/api/v2/app/" + o.app_prefix + "-0/metrics";
    } else if (o.kind == target::mca) {
      path = "/api/v2/app/" + o.app_prefix + "-" + std::to_string(first / o.series_per_app) +
             "/metrics";
      body = R"({"metrics":[)";
      for (unsigned i = 0; i < o.batch; ++i) {
        if (i) body += ',';
        append_mca_metric(body, (first + i) % o.series, 0.5 + static_cast<double>(r + i));
      }
      body += "]}";
    } else {
      path = "/metrics/job/bench/instance/c" + std::to_string(connection);
      for (unsigned i = 0; i < o.batch; ++i)
        append_text_metric(body, (first + i) % o.series, 0.5 + static_cast<double>(r + i));
    }
    std::string req = "POST " + path + " HTTP/1.1\r\nHost: " + o.host + ":" +
                      std::to_string(o.port) + "\r\nContent-Type: " +
                      (o.kind == target::mca ? "application/json" : "text/plain; version=0.0.4") +
                      "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
                      o.extra_headers + "\r\n";
    req += body;
    out.requests.push_back(std::move(req));
  }
  return out;
}

// The "accepted" count of an ingest answer's JSON body; -1 when there is none.
long long accepted_in(std::string_view body) {
  const std::string_view key = R"("accepted":)";
  const std::size_t at = body.find(key);
  if (at == std::string_view::npos) return -1;
  long long n = 0;
  std::size_t i = at + key.size();
  while (i < body.size() && body[i] == ' ') ++i;
  if (i >= body.size() || body[i] < '0' || body[i] > '9') return -1;
  for (; i < body.size() && body[i] >= '0' && body[i] <= '9'; ++i) n = n * 10 + (body[i] - '0');
  return n;
}

// --- the generator --------------------------------------------------------------------------

struct totals {
  std::uint64_t requests = 0;  // answered within the measured window
  std::uint64_t metrics_ok = 0;
  std::uint64_t io_errors = 0;
  std::map<unsigned, std::uint64_t> statuses;
  mca::bench::latency_histogram latency;
  // Aggregate workload: what the accepted requests delivered, requests sent again after a 503 or
  // 429, and items a 2xx answer did not accept.
  delivery delivered;
  std::uint64_t retries = 0;
  std::uint64_t rejected_items = 0;
};

class worker;

class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(worker& w, asio::io_context& io, std::vector<std::string> requests)
      : worker_(w), socket_(io), reconnect_(io), requests_(std::move(requests)) {}

  void start(const tcp::endpoint& ep);
  void send(steady::time_point due);  // only when idle
  void write_current();
  bool idle() const { return idle_; }
  void close() {
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    reconnect_.cancel();
  }

 private:
  void on_connect(beast::error_code ec);
  void on_write(beast::error_code ec);
  void on_read(beast::error_code ec);
  void fail();

  worker& worker_;
  tcp::socket socket_;
  asio::steady_timer reconnect_;
  tcp::endpoint endpoint_;
  std::vector<std::string> requests_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> parser_;
  steady::time_point due_;
  std::size_t current_ = 0;     // the index of the request in flight
  bool retry_pending_ = false;  // refused: send current_ again once (re)connected
  bool idle_ = false;
  bool connected_ = false;
};

class worker {
 public:
  worker(const options& o, unsigned index, unsigned connections, double rate,
         std::uint64_t requests)
      : o_(o), rate_(rate), quota_(requests), dispatch_(io_), hard_stop_(io_) {
    for (unsigned c = 0; c < connections; ++c) {
      auto pre = build_requests(o, index * 1000 + c);
      bodies_ = pre.requests.size();
      deliveries_ = std::move(pre.deliveries);  // the same for every connection
      conns_.push_back(std::make_shared<connection>(*this, io_, std::move(pre.requests)));
    }
    // Workers start at different requests so they do not send the same series at once.
    next_request_ = bodies_ * index / std::max(o.threads, 1u);
  }

  // The next request to send, shared by the worker's connections: a fixed count of requests
  // covers the pre-built ones in order (each series once before any repeats).
  std::size_t take_request() {
    const std::size_t r = next_request_;
    next_request_ = (next_request_ + 1) % bodies_;
    return r;
  }

  void run(const tcp::endpoint& ep, steady::time_point start, steady::time_point measure_from,
           steady::time_point stop) {
    start_ = start;
    measure_from_ = measure_from;
    stop_ = stop;
    for (auto& c : conns_) c->start(ep);
    if (rate_ > 0) schedule_dispatch();
    hard_stop_.expires_at(quota_ > 0 ? start + std::chrono::duration_cast<steady::duration>(
                                                   std::chrono::duration<double>(o_.timeout_s))
                                     : stop + std::chrono::seconds(15));
    hard_stop_.async_wait([this](beast::error_code ec) {
      if (ec) return;
      std::fprintf(stderr, "loadgen: answers still missing at the hard stop; giving up\n");
      in_flight_ = 0;
      maybe_stop();
    });
    io_.run();
  }

  // A connection is ready for its next request (just connected or just answered).
  void ready(connection& c) {
    if (finished()) {
      maybe_stop();
      return;
    }
    if (rate_ > 0) {
      if (!due_.empty()) {
        const auto due = due_.front();
        due_.pop_front();
        c.send(due);
      }
      return;  // stays idle until the dispatcher has a due request
    }
    ++issued_;
    c.send(steady::now());
  }

  // A fixed count of requests counts every answer; a timed run those within 30 s of its end.
  void answered(steady::time_point due, unsigned status, std::size_t metrics,
                std::size_t request = 0, std::string_view body = {}) {
    const auto now = steady::now();
    --in_flight_;
    if (due >= measure_from_ && (quota_ > 0 || now <= stop_ + std::chrono::seconds(30))) {
      ++t_.requests;
      ++t_.statuses[status];
      if (status / 100 == 2 && o_.load == workload::aggregate) {
        const long long accepted = accepted_in(body);
        if (accepted == static_cast<long long>(metrics)) {
          t_.metrics_ok += metrics;
          t_.delivered.add(deliveries_[request]);
        } else {
          // Which items were refused is in the answer's details; the run is then not exact.
          t_.rejected_items += metrics - static_cast<std::size_t>(std::max(0LL, accepted));
          t_.metrics_ok += static_cast<std::size_t>(std::max(0LL, accepted));
        }
      } else if (status / 100 == 2) {
        t_.metrics_ok += metrics;
      }
      t_.latency.record(static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(now - due).count()));
      last_answer_ = now;
    }
  }

  void io_error() { ++t_.io_errors; }
  void retried() { ++t_.retries; }
  bool retries_refused() const { return o_.load == workload::aggregate; }
  void sent() { ++in_flight_; }
  bool stopping() const { return stopping_; }
  const totals& results() const { return t_; }
  steady::time_point last_answer() const { return last_answer_; }
  unsigned batch() const { return o_.batch; }

  void maybe_stop() {
    if (in_flight_ > 0 || stopping_) return;
    stopping_ = true;
    dispatch_.cancel();
    hard_stop_.cancel();
    for (auto& c : conns_) c->close();
  }

  bool finished() const {
    if (quota_ > 0) return issued_ >= quota_;
    return steady::now() >= stop_;
  }

 private:
  void schedule_dispatch() {
    dispatch_.expires_after(std::chrono::microseconds(200));
    dispatch_.async_wait([this](beast::error_code ec) {
      if (ec || stopping_) return;
      const auto now = steady::now();
      const double elapsed = std::chrono::duration<double>(now - start_).count();
      auto due_count = static_cast<std::uint64_t>(elapsed * rate_);
      if (quota_ > 0) due_count = std::min(due_count, quota_);
      const bool over = quota_ > 0 ? issued_ >= quota_ : now >= stop_;
      while (!over && issued_ < due_count) {
        due_.push_back(start_ + std::chrono::nanoseconds(static_cast<std::int64_t>(
                                    static_cast<double>(issued_) * 1e9 / rate_)));
        ++issued_;
      }
      for (auto& c : conns_) {
        if (due_.empty()) break;
        if (c->idle()) {
          const auto due = due_.front();
          due_.pop_front();
          c->send(due);
        }
      }
      if (over && due_.empty()) {
        maybe_stop();
        if (stopping_) return;
      }
      schedule_dispatch();
    });
  }

  const options& o_;
  asio::io_context io_;
  double rate_;
  std::uint64_t quota_;
  std::uint64_t issued_ = 0;
  std::int64_t in_flight_ = 0;
  asio::steady_timer dispatch_;
  asio::steady_timer hard_stop_;
  std::size_t bodies_ = 1;
  std::vector<delivery> deliveries_;
  std::size_t next_request_ = 0;
  std::deque<steady::time_point> due_;
  std::vector<std::shared_ptr<connection>> conns_;
  steady::time_point start_, measure_from_, stop_, last_answer_;
  bool stopping_ = false;
  totals t_;
};

void connection::start(const tcp::endpoint& ep) {
  endpoint_ = ep;
  socket_.async_connect(
      ep, [self = shared_from_this()](beast::error_code ec) { self->on_connect(ec); });
}

void connection::on_connect(beast::error_code ec) {
  if (ec) return fail();
  socket_.set_option(tcp::no_delay(true));
  connected_ = true;
  if (retry_pending_) {
    retry_pending_ = false;
    return write_current();
  }
  idle_ = true;
  worker_.ready(*this);
}

void connection::send(steady::time_point due) {
  idle_ = false;
  due_ = due;
  worker_.sent();
  current_ = worker_.take_request();
  write_current();
}

void connection::write_current() {
  asio::async_write(
      socket_, asio::buffer(requests_[current_]),
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
}

void connection::on_write(beast::error_code ec) {
  if (ec) return fail();
  parser_.emplace();
  parser_->body_limit(16 * 1024 * 1024);
  http::async_read(
      socket_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
}

void connection::on_read(beast::error_code ec) {
  if (ec) return fail();
  auto& res = parser_->get();
  const unsigned status = res.result_int();
  const bool keep = res.keep_alive();
  if ((status == 503 || status == 429) && worker_.retries_refused() && !worker_.stopping()) {
    // Refused (back-pressure): the same request again shortly, as a client retries it.
    worker_.retried();
    if (!keep) {
      beast::error_code ignored;
      socket_.close(ignored);
      connected_ = false;
      buffer_.clear();
    }
    reconnect_.expires_after(std::chrono::milliseconds(2));
    reconnect_.async_wait([self = shared_from_this(), keep](beast::error_code ec) {
      if (ec) return;
      if (keep) return self->write_current();
      self->retry_pending_ = true;
      self->start(self->endpoint_);
    });
    return;
  }
  worker_.answered(due_, status, worker_.batch(), current_, res.body());
  if (!keep) {
    // The server closed the connection: reconnect and go on.
    beast::error_code ignored;
    socket_.close(ignored);
    connected_ = false;
    buffer_.clear();
    start(endpoint_);
    return;
  }
  idle_ = true;
  worker_.ready(*this);
}

void connection::fail() {
  const bool was_busy = !idle_ && (connected_ || retry_pending_);
  retry_pending_ = false;
  idle_ = false;
  connected_ = false;
  if (worker_.stopping()) return;
  worker_.io_error();
  if (was_busy) worker_.answered(steady::time_point::min(), 0, 0);  // frees its in-flight slot
  if (worker_.finished()) return worker_.maybe_stop();
  beast::error_code ignored;
  socket_.close(ignored);
  buffer_.clear();
  reconnect_.expires_after(std::chrono::milliseconds(10));
  reconnect_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) self->start(self->endpoint_);
  });
}

// --- statsd over TCP --------------------------------------------------------------------------

// Writes --requests pre-built chunks of statsd lines over N connections as fast as TCP takes them
// (statsd has no answers: the exporter's reading is the only flow control), then half-closes
// each connection and waits for the exporter to close it, which it does once it has read every
// line up to our FIN. A connection that fails is an error: what it had written may be lost.
class statsd_sender {
 public:
  explicit statsd_sender(const options& o) : o_(o), hard_stop_(io_) {
    auto pre = build_requests(o, 0);
    chunks_ = std::move(pre.requests);
    deliveries_ = std::move(pre.deliveries);
    for (unsigned c = 0; c < o.connections; ++c) conns_.push_back(std::make_unique<conn>(io_));
  }

  void run(const tcp::endpoint& ep) {
    hard_stop_.expires_after(
        std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(o_.timeout_s)));
    hard_stop_.async_wait([this](beast::error_code ec) {
      if (ec) return;
      std::fprintf(stderr, "loadgen: the exporter has not read everything at the hard stop\n");
      ++t_.io_errors;
      for (auto& c : conns_) c->socket.close(ec);
    });
    open_ = conns_.size();
    for (auto& c : conns_)
      c->socket.async_connect(ep, [this, c = c.get()](beast::error_code ec) {
        if (ec) return failed(*c);
        c->socket.set_option(tcp::no_delay(true));
        next(*c);
      });
    io_.run();
  }

  const totals& results() const { return t_; }
  steady::time_point last_close() const { return last_close_; }

 private:
  struct conn {
    explicit conn(asio::io_context& io) : socket(io) {}
    tcp::socket socket;
    std::array<char, 256> sink{};
  };

  void next(conn& c) {
    if (issued_ >= o_.requests) {
      beast::error_code ec;
      c.socket.shutdown(tcp::socket::shutdown_send, ec);
      return drain(c);
    }
    const std::size_t r = next_chunk_;
    next_chunk_ = (next_chunk_ + 1) % chunks_.size();
    ++issued_;
    asio::async_write(c.socket, asio::buffer(chunks_[r]),
                      [this, &c, r](beast::error_code ec, std::size_t) {
                        if (ec) return failed(c);
                        ++t_.requests;
                        t_.metrics_ok += o_.batch;
                        t_.delivered.add(deliveries_[r]);
                        next(c);
                      });
  }

  // Until the exporter closes its side (it has read our FIN, so every line before it).
  void drain(conn& c) {
    c.socket.async_read_some(asio::buffer(c.sink), [this, &c](beast::error_code ec, std::size_t) {
      if (!ec) return drain(c);
      if (ec != asio::error::eof) ++t_.io_errors;
      closed(c);
    });
  }

  void failed(conn& c) {
    ++t_.io_errors;
    closed(c);
  }

  void closed(conn& c) {
    beast::error_code ignored;
    c.socket.close(ignored);
    last_close_ = steady::now();
    if (--open_ == 0) hard_stop_.cancel();
  }

  const options& o_;
  asio::io_context io_;
  asio::steady_timer hard_stop_;
  std::vector<std::string> chunks_;
  std::vector<delivery> deliveries_;
  std::vector<std::unique_ptr<conn>> conns_;
  std::size_t next_chunk_ = 0;
  std::uint64_t issued_ = 0;
  std::size_t open_ = 0;
  steady::time_point last_close_;
  totals t_;
};

}  // namespace

int main(int argc, char** argv) {
  const options o = parse_args(argc, argv);
  const tcp::endpoint ep(asio::ip::make_address(o.host), o.port);

  std::vector<std::unique_ptr<worker>> workers;
  std::unique_ptr<statsd_sender> statsd;
  if (o.kind == target::statsd) statsd = std::make_unique<statsd_sender>(o);
  for (unsigned t = 0; t < (statsd ? 0 : o.threads); ++t) {
    const unsigned conns = o.connections / o.threads + (t < o.connections % o.threads ? 1 : 0);
    const std::uint64_t quota =
        o.requests ? o.requests / o.threads + (t < o.requests % o.threads ? 1 : 0) : 0;
    workers.push_back(std::make_unique<worker>(o, t, conns, o.rate / o.threads, quota));
  }

  // With a fixed count nothing is warm-up: every request counts.
  const double warmup = o.requests ? 0 : o.warmup_s;
  const auto start = steady::now();
  const auto start_unix =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const auto measure_from =
      start + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(warmup));
  const auto stop = measure_from + std::chrono::duration_cast<steady::duration>(
                                       std::chrono::duration<double>(o.duration_s));
  double cpu_at_measure = 0;
  bool cpu_sampled = false;
  std::thread cpu_sampler;
  if (warmup > 0) {
    // The generator's CPU is counted over the measured window only.
    cpu_sampler = std::thread([&] {
      std::this_thread::sleep_until(measure_from);
      cpu_at_measure = mca::bench::cpu_seconds();
      cpu_sampled = true;
    });
  } else {
    cpu_at_measure = mca::bench::cpu_seconds();
    cpu_sampled = true;
  }

  std::vector<std::thread> threads;
  if (statsd) threads.emplace_back([&] { statsd->run(ep); });
  for (auto& w : workers)
    threads.emplace_back([&, wp = w.get()] { wp->run(ep, start, measure_from, stop); });
  for (auto& t : threads) t.join();
  if (cpu_sampler.joinable()) cpu_sampler.join();
  const double cpu = mca::bench::cpu_seconds() - (cpu_sampled ? cpu_at_measure : 0);

  totals all;
  steady::time_point last = measure_from;
  auto merge = [&](const totals& t) {
    all.requests += t.requests;
    all.metrics_ok += t.metrics_ok;
    all.io_errors += t.io_errors;
    for (auto [k, v] : t.statuses) all.statuses[k] += v;
    all.latency.merge(t.latency);
    all.delivered.add(t.delivered);
    all.retries += t.retries;
    all.rejected_items += t.rejected_items;
  };
  for (auto& w : workers) {
    merge(w->results());
    last = std::max(last, w->last_answer());
  }
  if (statsd) {
    merge(statsd->results());
    last = std::max(last, statsd->last_close());
  }
  // Fixed duration: the window is the duration (answers to requests issued in it may come a
  // little later). Fixed count: from start to the last answer.
  const double elapsed =
      o.requests ? std::chrono::duration<double>(last - start).count() : o.duration_s;
  const double secs = std::max(elapsed, 1e-9);
  auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };

  std::string statuses;
  for (auto [k, v] : all.statuses) {
    if (!statuses.empty()) statuses += ',';
    statuses += "\"" + std::to_string(k) + "\":" + std::to_string(v);
  }
  std::string aggregate;  // the aggregate workload's delivery, for the scrape check
  if (o.load == workload::aggregate) {
    const delivery& d = all.delivered;
    char head[512];
    std::snprintf(
        head, sizeof head,
        ",\"workload\":\"aggregate\",\"start_unix_s\":%.6f,\"requested_items\":%llu,\"items\":%llu,"
        "\"observations\":%llu,\"observation_sum\":%.17g,\"increments\":%llu,"
        "\"counter_total\":%.17g,\"retries\":%llu,\"rejected_items\":%llu",
        start_unix, static_cast<unsigned long long>(o.requests * o.batch),
        static_cast<unsigned long long>(d.items), static_cast<unsigned long long>(d.observations),
        d.observation_sum, static_cast<unsigned long long>(d.increments), d.counter_total,
        static_cast<unsigned long long>(all.retries),
        static_cast<unsigned long long>(all.rejected_items));
    aggregate = head;
    if (!o.bounds.empty()) {
      // Cumulative, as an exposition's `le` buckets are: {"<bound>": count, ..., "+Inf": count}.
      aggregate += ",\"buckets\":{";
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i <= o.bounds.size(); ++i) {
        cumulative += i < d.buckets.size() ? d.buckets[i] : 0;
        char b[96];
        if (i < o.bounds.size())
          std::snprintf(b, sizeof b, "%s\"%.17g\":%llu", i ? "," : "", o.bounds[i],
                        static_cast<unsigned long long>(cumulative));
        else
          std::snprintf(b, sizeof b, ",\"+Inf\":%llu", static_cast<unsigned long long>(cumulative));
        aggregate += b;
      }
      aggregate += "}";
    }
  }
  const char* kind = o.kind == target::mca      ? "mca"
                     : o.kind == target::statsd ? "statsd"
                                                : "pushgateway";
  std::printf(
      "{\"target\":\"%s\",\"connections\":%u,\"batch\":%u,\"series\":%llu,\"rate\":%.1f,"
      "\"elapsed_s\":%.3f,\"requests\":%llu,\"io_errors\":%llu,\"statuses\":{%s},"
      "\"requests_per_s\":%.1f,\"metrics_per_s\":%.1f,\"latency_us\":{\"p50\":%.1f,"
      "\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f},\"cpu_s\":%.3f,\"cpu_share\":%.3f%s}\n",
      kind, o.connections, o.batch, static_cast<unsigned long long>(o.series), o.rate, elapsed,
      static_cast<unsigned long long>(all.requests), static_cast<unsigned long long>(all.io_errors),
      statuses.c_str(), static_cast<double>(all.requests) / secs,
      static_cast<double>(all.metrics_ok) / secs, us(all.latency.quantile(0.5)),
      us(all.latency.quantile(0.99)), us(all.latency.quantile(0.999)), us(all.latency.max()), cpu,
      cpu / secs, aggregate.c_str());
  return all.requests > 0 ? 0 : 1;
}
