// HTTP load generator for the ingest benchmarks: N keep-alive connections sending pre-built
// requests (everything is serialised before the clock starts, so the generator only moves
// bytes), closed loop for throughput or open loop at a fixed rate for latency.
//
//   loadgen --port P [--target mca|pushgateway] [--connections 8] [--batch 100]
//           [--series 10000] [--series-per-app 10000] [--duration 10 | --requests N]
//           [--rate R] [--warmup 1] [--threads 1] [--header "Name: value"]...
//
// Open loop (--rate): request k is due at start + k/R. A request that finds no idle connection
// waits, and its latency still counts from when it was due, so a stalled server shows up in the
// percentiles instead of silently slowing the generator (no coordinated omission).
//
// Prints one JSON object on stdout: requests, status counts, requests/s, metrics/s (metrics in
// 2xx answers), latency p50/p99/p99.9/max in microseconds, and the generator's own CPU time
// (getrusage), so a result can say how much of the machine the generator took.
#include <sys/resource.h>

#include <algorithm>
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

#include "latency_histogram.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

enum class target { mca, pushgateway };

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
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "loadgen: %s\nusage: loadgen --port P [--host H] [--target mca|pushgateway] "
               "[--connections N] [--batch B] [--series S] [--series-per-app S] [--duration SEC | "
               "--requests N] [--rate R] [--warmup SEC] [--threads T] [--max-bodies N] "
               "[--app-prefix P] [--timeout SEC] [--header 'Name: value']...\n",
               why);
  std::exit(2);
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
      else
        usage("--target is mca or pushgateway");
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

// Request r carries series [r*batch, (r+1)*batch) modulo `series`. For our service the app is
// series / series_per_app, so a run can hold more series than one app's cap. For the Pushgateway
// each connection pushes into its own group (job/bench/instance/c<i>), the usual way one pusher
// per process uses it; the request is built per connection for that.
std::vector<std::string> build_requests(const options& o, unsigned connection) {
  const std::uint64_t needed = (o.series + o.batch - 1) / o.batch;
  const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(needed, o.max_bodies));
  std::vector<std::string> out;
  out.reserve(n);
  for (std::size_t r = 0; r < n; ++r) {
    std::string body;
    std::uint64_t first = (r * o.batch) % o.series;
    std::string path;
    if (o.kind == target::mca) {
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
    out.push_back(std::move(req));
  }
  return out;
}

// --- the generator --------------------------------------------------------------------------

struct totals {
  std::uint64_t requests = 0;  // answered within the measured window
  std::uint64_t metrics_ok = 0;
  std::uint64_t io_errors = 0;
  std::map<unsigned, std::uint64_t> statuses;
  mca::bench::latency_histogram latency;
};

class worker;

class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(worker& w, asio::io_context& io, std::vector<std::string> requests)
      : worker_(w), socket_(io), reconnect_(io), requests_(std::move(requests)) {}

  void start(const tcp::endpoint& ep);
  void send(steady::time_point due);  // only when idle
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
  bool idle_ = false;
  bool connected_ = false;
};

class worker {
 public:
  worker(const options& o, unsigned index, unsigned connections, double rate,
         std::uint64_t requests)
      : o_(o), rate_(rate), quota_(requests), dispatch_(io_), hard_stop_(io_) {
    for (unsigned c = 0; c < connections; ++c) {
      auto reqs = build_requests(o, index * 1000 + c);
      bodies_ = reqs.size();
      conns_.push_back(std::make_shared<connection>(*this, io_, std::move(reqs)));
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

  void answered(steady::time_point due, unsigned status, std::size_t metrics) {
    const auto now = steady::now();
    --in_flight_;
    if (due >= measure_from_ && now <= stop_ + std::chrono::seconds(30)) {
      ++t_.requests;
      ++t_.statuses[status];
      if (status / 100 == 2) t_.metrics_ok += metrics;
      t_.latency.record(static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(now - due).count()));
      last_answer_ = now;
    }
  }

  void io_error() { ++t_.io_errors; }
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
  idle_ = true;
  worker_.ready(*this);
}

void connection::send(steady::time_point due) {
  idle_ = false;
  due_ = due;
  worker_.sent();
  const std::string& req = requests_[worker_.take_request()];
  asio::async_write(
      socket_, asio::buffer(req),
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
  worker_.answered(due_, res.result_int(), worker_.batch());
  const bool keep = res.keep_alive();
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
  const bool was_busy = !idle_ && connected_;
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

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse_args(argc, argv);
  const tcp::endpoint ep(asio::ip::make_address(o.host), o.port);

  std::vector<std::unique_ptr<worker>> workers;
  for (unsigned t = 0; t < o.threads; ++t) {
    const unsigned conns = o.connections / o.threads + (t < o.connections % o.threads ? 1 : 0);
    const std::uint64_t quota =
        o.requests ? o.requests / o.threads + (t < o.requests % o.threads ? 1 : 0) : 0;
    workers.push_back(std::make_unique<worker>(o, t, conns, o.rate / o.threads, quota));
  }

  // With a fixed count nothing is warm-up: every request counts.
  const double warmup = o.requests ? 0 : o.warmup_s;
  const auto start = steady::now();
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
      cpu_at_measure = cpu_seconds();
      cpu_sampled = true;
    });
  } else {
    cpu_at_measure = cpu_seconds();
    cpu_sampled = true;
  }

  std::vector<std::thread> threads;
  for (auto& w : workers)
    threads.emplace_back([&, wp = w.get()] { wp->run(ep, start, measure_from, stop); });
  for (auto& t : threads) t.join();
  if (cpu_sampler.joinable()) cpu_sampler.join();
  const double cpu = cpu_seconds() - (cpu_sampled ? cpu_at_measure : 0);

  totals all;
  steady::time_point last = measure_from;
  for (auto& w : workers) {
    const totals& t = w->results();
    all.requests += t.requests;
    all.metrics_ok += t.metrics_ok;
    all.io_errors += t.io_errors;
    for (auto [k, v] : t.statuses) all.statuses[k] += v;
    all.latency.merge(t.latency);
    last = std::max(last, w->last_answer());
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
  std::printf(
      "{\"target\":\"%s\",\"connections\":%u,\"batch\":%u,\"series\":%llu,\"rate\":%.1f,"
      "\"elapsed_s\":%.3f,\"requests\":%llu,\"io_errors\":%llu,\"statuses\":{%s},"
      "\"requests_per_s\":%.1f,\"metrics_per_s\":%.1f,\"latency_us\":{\"p50\":%.1f,"
      "\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f},\"cpu_s\":%.3f,\"cpu_share\":%.3f}\n",
      o.kind == target::mca ? "mca" : "pushgateway", o.connections, o.batch,
      static_cast<unsigned long long>(o.series), o.rate, elapsed,
      static_cast<unsigned long long>(all.requests), static_cast<unsigned long long>(all.io_errors),
      statuses.c_str(), static_cast<double>(all.requests) / secs,
      static_cast<double>(all.metrics_ok) / secs, us(all.latency.quantile(0.5)),
      us(all.latency.quantile(0.99)), us(all.latency.quantile(0.999)), us(all.latency.max()), cpu,
      cpu / secs);
  return all.requests > 0 ? 0 : 1;
}
