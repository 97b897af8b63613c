// The Kafka baselines (R1, R3, R4, R7) and our consume path measured the same way.
//
//   kafka_baseline produce --brokers B --topic T [--batch 100] [--inflight 8] [--series 10000]
//                          [--duration 10 | --batches N] [--rate R [--open-cap]] [--warmup 1]
//       A raw librdkafka producer with the service's settings (idempotent, acks=all, lz4,
//       linger.ms 5, the same queue limits) sending the records the service would write for the
//       generator's requests: key = series key, header app_id, value = Confluent-framed Avro
//       (schema id 1). Like the service it produces in batches and a batch is done when every
//       record's delivery report says so. Closed loop: `inflight` batches outstanding; open loop
//       (--rate, batches/s): latency counts from when a batch was due; with --open-cap at most
//       `inflight` batches are outstanding and a due batch waits for one to finish, as loadgen's
//       requests wait for one of its connections (without it every due batch is produced at once).
//
//   kafka_baseline latency --brokers B --topic T [--series 10000] [--duration 10] [--warmup 1]
//       R7's baseline: a latency-tuned raw producer. The same settings and records as `produce`
//       but linger.ms 0, one record at a time: each record is produced only after the delivery
//       report of the one before it has been served (rd_kafka_poll), and its latency counts from
//       the produce call to that report. Reports p50/p99/p99.9/max from a histogram.
//
//   kafka_baseline consume --brokers B --topic T --expect N [--impl raw|mca] [--timeout 60]
//       raw: a plain librdkafka consumer in a fresh group reading from the beginning.
//       mca: the service's consume path (transport::kafka consumer + pipeline::consume + store),
//       same topic, fresh group, from the beginning. Both report records/s from the first record
//       to the N-th.
//
// Prints one JSON object on stdout.
#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "avro/metric_codec.h"
#include "cli.h"
#include "latency_histogram.h"
#include "model/metric.h"
#include "pipeline/consume.h"
#include "registry/registry.h"
#include "store/series_store.h"
#include "transport/kafka/kafka_transport.h"
#include "util/clock.h"

namespace {

using steady = std::chrono::steady_clock;

struct options {
  std::string mode;
  std::string brokers;
  std::string topic;
  unsigned batch = 100;
  unsigned inflight = 8;
  std::size_t series = 10'000;
  std::size_t series_per_app = 10'000;
  double duration_s = 10;
  std::uint64_t batches = 0;
  double rate = 0;
  bool open_cap = false;  // open loop: at most `inflight` batches outstanding, the rest wait
  double warmup_s = 1;
  std::uint64_t expect = 0;
  std::string impl = "raw";
  double timeout_s = 60;
  std::string compression = "lz4";  // the service's KAFKA_COMPRESSION
  std::string linger_ms = "5";      // the service's KAFKA_LINGER_MS
};

[[noreturn]] void usage(const char* why) {
  mca::bench::usage_exit(
      "kafka_baseline",
      "produce|latency|consume --brokers B --topic T [--batch B] [--inflight C] [--series S] "
      "[--duration SEC | --batches N] [--rate R [--open-cap]] [--warmup SEC] [--expect N] [--impl "
      "raw|mca] "
      "[--timeout SEC] [--compression C] [--linger MS]",
      why);
}

options parse_args(int argc, char** argv) {
  if (argc < 2) usage("missing mode");
  options o;
  o.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--open-cap") {  // the one flag without a value
      o.open_cap = true;
      continue;
    }
    if (i + 1 >= argc) usage("missing value");
    const std::string v = argv[++i];
    if (a == "--brokers")
      o.brokers = v;
    else if (a == "--topic")
      o.topic = v;
    else if (a == "--batch")
      o.batch = static_cast<unsigned>(std::stoul(v));
    else if (a == "--inflight")
      o.inflight = static_cast<unsigned>(std::stoul(v));
    else if (a == "--series")
      o.series = std::stoull(v);
    else if (a == "--series-per-app")
      o.series_per_app = std::stoull(v);
    else if (a == "--duration")
      o.duration_s = std::stod(v);
    else if (a == "--batches")
      o.batches = std::stoull(v);
    else if (a == "--rate")
      o.rate = std::stod(v);
    else if (a == "--warmup")
      o.warmup_s = std::stod(v);
    else if (a == "--expect")
      o.expect = std::stoull(v);
    else if (a == "--impl")
      o.impl = v;
    else if (a == "--timeout")
      o.timeout_s = std::stod(v);
    else if (a == "--compression")
      o.compression = v;
    else if (a == "--linger")
      o.linger_ms = v;
    else
      usage("unknown argument");
  }
  if (o.brokers.empty() || o.topic.empty()) usage("--brokers and --topic are required");
  if (o.mode != "produce" && o.mode != "latency" && o.mode != "consume")
    usage("mode is produce, latency or consume");
  if (o.batch == 0 || o.inflight == 0 || o.series == 0 || o.series_per_app == 0)
    usage("counts must be positive");
  return o;
}

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "kafka_baseline: %s\n", why.c_str());
  std::exit(1);
}

void set(rd_kafka_conf_t* conf, const char* name, const std::string& value) {
  std::array<char, 512> err{};
  if (rd_kafka_conf_set(conf, name, value.c_str(), err.data(), err.size()) != RD_KAFKA_CONF_OK)
    die(std::string(name) + ": " + err.data());
}

// --- produce --------------------------------------------------------------------------------

// What the service writes for series s of the generator's requests (bench/loadgen.cc names the
// series the same way).
struct prepared {
  std::string key, value, app_id;
};

std::vector<prepared> prepare_records(const options& o) {
  std::vector<prepared> out;
  const std::size_t n = std::min<std::size_t>(o.series, 100'000);
  out.reserve(n);
  for (std::size_t s = 0; s < n; ++s) {
    mca::model::metric m;
    m.name = "bench_metric_" + std::to_string(s % 10);
    m.value = 0.5 + static_cast<double>(s);
    m.timestamp_ms = 1'700'000'000'000;
    // Appended rather than operator+ on a literal: GCC 12 warns falsely (-Wrestrict) on that.
    std::string host = "host-", series = "s";
    host += std::to_string(s % 97);
    series += std::to_string(s);
    m.tags = {{"host", std::move(host)}, {"series", std::move(series)}};
    m.profile_id = "bench-profile";
    mca::model::normalise(m);
    prepared p;
    p.app_id = "bench-" + std::to_string(s / o.series_per_app);
    p.key = mca::model::series_key(p.app_id, m);
    mca::avro::frame(mca::avro::schema_id{1}, m, p.value);
    out.push_back(std::move(p));
  }
  return out;
}

// Hands one record to librdkafka (copied), with `opaque` for its delivery report; when the
// queue is full, serves delivery reports and tries again.
void produce_one(rd_kafka_t* rk, const std::string& topic, const prepared& p, void* opaque) {
  for (;;) {
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(p.key.data(), p.key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(p.value.data()), p.value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADER("app_id", p.app_id.data(), static_cast<ssize_t>(p.app_id.size())),
        RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) die(rd_kafka_err2str(err));
    rd_kafka_poll(rk, 1);  // back-pressure: serve delivery reports, then retry
  }
}

// A producer with the service's settings (src/transport/kafka/kafka_producer.cc; scripts/bench
// passes the service's KAFKA_COMPRESSION, and KAFKA_LINGER_MS to `produce`), connected and
// knowing the topic's leaders before any clock starts (the service has done so long before its
// first request too). `on_delivery` gets `opaque` as its opaque.
rd_kafka_t* make_producer(const options& o, const std::string& linger_ms, void* opaque,
                          void (*on_delivery)(rd_kafka_t*, const rd_kafka_message_t*, void*)) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", o.brokers);
  set(conf, "client.id", "bench-raw-producer");
  set(conf, "linger.ms", linger_ms);
  set(conf, "compression.type", o.compression);
  set(conf, "message.timeout.ms", "10000");
  set(conf, "queue.buffering.max.messages", "100000");
  set(conf, "queue.buffering.max.kbytes", "65536");
  set(conf, "enable.idempotence", "true");
  set(conf, "acks", "all");
  rd_kafka_conf_set_opaque(conf, opaque);
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  std::array<char, 512> err{};
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err.data(), err.size());
  if (!rk) die(err.data());

  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_topic_t* t = rd_kafka_topic_new(rk, o.topic.c_str(), nullptr);
  if (rd_kafka_metadata(rk, 0, t, &md, 10'000) != RD_KAFKA_RESP_ERR_NO_ERROR)
    die("no metadata for " + o.topic);
  rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(t);
  return rk;
}

steady::time_point after(steady::time_point t, double seconds) {
  return t + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(seconds));
}

struct batch_state {
  steady::time_point due;
  unsigned remaining = 0;
  bool failed = false;
};

struct producer_run {
  const options* o = nullptr;
  rd_kafka_t* rk = nullptr;
  std::vector<prepared> records;
  std::size_t next_record = 0;
  std::uint64_t issued = 0, completed = 0, failed = 0, measured = 0, records_ok = 0;
  steady::time_point measure_from, stop;
  bool closed_loop = true;
  mca::bench::latency_histogram latency;

  bool done_issuing() const {
    if (o->batches) return issued >= o->batches;
    return steady::now() >= stop;
  }

  void issue(steady::time_point due) {
    auto* b = new batch_state{due, o->batch, false};
    ++issued;
    for (unsigned i = 0; i < o->batch; ++i) {
      const prepared& p = records[next_record];
      next_record = (next_record + 1) % records.size();
      produce_one(rk, o->topic, p, b);
    }
  }

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<producer_run*>(opaque);
    auto* b = static_cast<batch_state*>(m->_private);
    if (m->err) b->failed = true;
    if (--b->remaining > 0) return;
    const auto now = steady::now();
    ++self->completed;
    if (b->failed) ++self->failed;
    if (b->due >= self->measure_from && (self->o->batches || b->due < self->stop)) {
      ++self->measured;
      if (!b->failed) self->records_ok += self->o->batch;
      self->latency.record(static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(now - b->due).count()));
    }
    delete b;
    if (self->closed_loop && !self->done_issuing()) self->issue(steady::now());
  }
};

int run_produce(const options& o) {
  producer_run run;
  run.o = &o;
  run.records = prepare_records(o);
  run.closed_loop = o.rate <= 0;

  run.rk = make_producer(o, o.linger_ms, &run, &producer_run::on_delivery);

  const double warmup = o.batches ? 0 : o.warmup_s;
  const auto start = steady::now();
  run.measure_from = after(start, warmup);
  run.stop = after(run.measure_from, o.duration_s);
  double cpu0 = mca::bench::cpu_seconds();
  bool cpu_marked = warmup == 0;

  if (run.closed_loop) {
    for (unsigned i = 0; i < o.inflight && !run.done_issuing(); ++i) run.issue(steady::now());
  }
  while (run.completed < run.issued || !run.done_issuing()) {
    if (!cpu_marked && steady::now() >= run.measure_from) {
      cpu0 = mca::bench::cpu_seconds();
      cpu_marked = true;
    }
    if (!run.closed_loop) {
      const double elapsed = std::chrono::duration<double>(steady::now() - start).count();
      auto due = static_cast<std::uint64_t>(elapsed * o.rate);
      if (o.batches) due = std::min(due, o.batches);
      // With --open-cap a due batch waits while `inflight` are outstanding, as loadgen's requests
      // wait for one of its connections; its latency still counts from when it was due.
      while (!run.done_issuing() && run.issued < due &&
             (!o.open_cap || run.issued - run.completed < o.inflight)) {
        run.issue(start + std::chrono::nanoseconds(static_cast<std::int64_t>(
                              static_cast<double>(run.issued) * 1e9 / o.rate)));
      }
    }
    rd_kafka_poll(run.rk, run.closed_loop ? 10 : 0);
    if (!run.closed_loop) std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  const auto end = steady::now();
  const double cpu = mca::bench::cpu_seconds() - cpu0;
  rd_kafka_flush(run.rk, 10'000);
  rd_kafka_destroy(run.rk);

  const double elapsed =
      o.batches ? std::chrono::duration<double>(end - start).count() : o.duration_s;
  auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  std::printf(
      "{\"mode\":\"produce\",\"batch\":%u,\"inflight\":%u,\"rate\":%.1f,\"elapsed_s\":%.3f,"
      "\"batches\":%llu,\"failed_batches\":%llu,\"records_per_s\":%.1f,\"batches_per_s\":%.1f,"
      "\"latency_us\":{\"p50\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f},\"cpu_s\":%.3f,"
      "\"cpu_share\":%.3f}\n",
      o.batch, o.inflight, o.rate, elapsed, static_cast<unsigned long long>(run.measured),
      static_cast<unsigned long long>(run.failed), static_cast<double>(run.records_ok) / elapsed,
      static_cast<double>(run.measured) / elapsed, us(run.latency.quantile(0.5)),
      us(run.latency.quantile(0.99)), us(run.latency.quantile(0.999)), us(run.latency.max()), cpu,
      cpu / elapsed);
  return run.failed == 0 && run.measured > 0 ? 0 : 1;
}

// --- latency (R7's baseline) -------------------------------------------------------------------

// One record in flight: the delivery report of the record just produced.
struct one_record {
  bool delivered = false;
  bool failed = false;

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<one_record*>(opaque);
    self->delivered = true;
    self->failed = m->err != RD_KAFKA_RESP_ERR_NO_ERROR;
  }
};

int run_latency(const options& o) {
  const std::vector<prepared> records = prepare_records(o);
  one_record slot;
  // Latency-tuned: nothing waits for a batch to fill.
  rd_kafka_t* rk = make_producer(o, "0", &slot, &one_record::on_delivery);

  const auto start = steady::now();
  const auto measure_from = after(start, o.warmup_s);
  const auto stop = after(measure_from, o.duration_s);
  mca::bench::latency_histogram latency;
  std::uint64_t measured = 0, failed = 0;
  std::size_t next = 0;
  double cpu0 = mca::bench::cpu_seconds();
  bool cpu_marked = o.warmup_s <= 0;
  for (;;) {
    const auto sent = steady::now();
    if (sent >= stop) break;
    if (!cpu_marked && sent >= measure_from) {
      cpu0 = mca::bench::cpu_seconds();
      cpu_marked = true;
    }
    slot = {};
    produce_one(rk, o.topic, records[next], nullptr);
    next = (next + 1) % records.size();
    while (!slot.delivered) rd_kafka_poll(rk, 1000);  // returns as soon as the report is served
    const auto done = steady::now();
    if (sent >= measure_from) {
      ++measured;
      if (slot.failed) ++failed;
      latency.record(static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(done - sent).count()));
    }
  }
  const double cpu = mca::bench::cpu_seconds() - cpu0;
  rd_kafka_flush(rk, 10'000);
  rd_kafka_destroy(rk);

  const double elapsed = o.duration_s;
  auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  std::printf(
      "{\"mode\":\"latency\",\"inflight\":1,\"linger_ms\":0,\"elapsed_s\":%.3f,"
      "\"records\":%llu,\"failed_records\":%llu,\"records_per_s\":%.1f,"
      "\"latency_us\":{\"p50\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f},\"cpu_s\":%.3f,"
      "\"cpu_share\":%.3f}\n",
      elapsed, static_cast<unsigned long long>(measured), static_cast<unsigned long long>(failed),
      static_cast<double>(measured - failed) / elapsed, us(latency.quantile(0.5)),
      us(latency.quantile(0.99)), us(latency.quantile(0.999)), us(latency.max()), cpu,
      cpu / elapsed);
  return failed == 0 && measured > 0 ? 0 : 1;
}

// --- consume --------------------------------------------------------------------------------

std::string fresh_group(std::string_view impl) {
  return "bench-" + std::string(impl) + "-" +
         std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
}

// `in_window` records arrived between the first observation and the last (the records already
// there at the first observation only start the clock).
void print_consume(const options& o, std::uint64_t n, std::uint64_t in_window,
                   double first_to_last_s, double cpu, std::uint64_t errors, std::size_t series) {
  std::printf(
      "{\"mode\":\"consume\",\"impl\":\"%s\",\"records\":%llu,\"elapsed_s\":%.3f,"
      "\"records_per_s\":%.1f,\"errors\":%llu,\"series\":%zu,\"cpu_s\":%.3f}\n",
      o.impl.c_str(), static_cast<unsigned long long>(n), first_to_last_s,
      first_to_last_s > 0 ? static_cast<double>(in_window) / first_to_last_s : 0.0,
      static_cast<unsigned long long>(errors), series, cpu);
}

int run_consume_raw(const options& o) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", o.brokers);
  set(conf, "group.id", fresh_group("raw"));
  set(conf, "auto.offset.reset", "earliest");
  set(conf, "enable.auto.commit", "false");
  std::array<char, 512> err{};
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err.data(), err.size());
  if (!rk) die(err.data());
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, o.topic.c_str(), RD_KAFKA_PARTITION_UA);
  if (rd_kafka_subscribe(rk, topics)) die("subscribe failed");
  rd_kafka_topic_partition_list_destroy(topics);

  const auto deadline = steady::now() + std::chrono::duration_cast<steady::duration>(
                                            std::chrono::duration<double>(o.timeout_s));
  std::uint64_t n = 0, errors = 0, bytes = 0;
  steady::time_point first{}, last{};
  const double cpu0 = mca::bench::cpu_seconds();
  while (n < o.expect && steady::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (!m) continue;
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) ++errors;
    } else {
      if (n == 0) first = steady::now();
      bytes += m->len + m->key_len;  // touch what a real reader would
      ++n;
      last = steady::now();
    }
    rd_kafka_message_destroy(m);
  }
  const double cpu = mca::bench::cpu_seconds() - cpu0;
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  print_consume(o, n, n > 0 ? n - 1 : 0, std::chrono::duration<double>(last - first).count(), cpu,
                errors, 0);
  return n >= o.expect ? 0 : 1;
}

int run_consume_mca(const options& o) {
  auto schema = mca::avro::schema::load_metric_schema(MCA_SCHEMA_FILE);
  if (!schema) die("schema: " + schema.error().message);
  auto schema_v2 = mca::avro::schema::load_typed_metric_schema(MCA_SCHEMA_V2_FILE);
  if (!schema_v2) die("schema: " + schema_v2.error().message);
  auto registry = mca::registry::make_embedded(*schema, *schema_v2);
  mca::store::series_store store(
      {.max_series = 10'000'000, .max_series_per_app = 10'000'000, .ttl_ms = 0},
      mca::util::real_clock());
  mca::pipeline::consume handler(*schema, *schema_v2, *registry, store);
  mca::transport::kafka::consumer_options co;
  co.properties = {{"bootstrap.servers", o.brokers}};
  co.topic = o.topic;
  co.group_id = fresh_group("mca");
  co.ttl = std::chrono::seconds(0);  // from the beginning, like the raw consumer
  auto consumer = mca::transport::kafka::make_kafka_consumer(co);
  if (!consumer) die("consumer: " + consumer.error().message);
  const double cpu0 = mca::bench::cpu_seconds();
  (*consumer)->start(handler);
  const auto deadline = steady::now() + std::chrono::duration_cast<steady::duration>(
                                            std::chrono::duration<double>(o.timeout_s));
  steady::time_point first{}, last{};
  std::uint64_t n = 0, at_first = 0;
  while (steady::now() < deadline) {
    const std::uint64_t now_n = handler.stats().consumed;
    if (now_n > 0 && n == 0) {
      first = steady::now();
      at_first = now_n;
    }
    if (now_n != n) last = steady::now();
    n = now_n;
    if (n >= o.expect) break;
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  const double cpu = mca::bench::cpu_seconds() - cpu0;
  const std::size_t held = store.stats().series;  // before stop(): revocation drops them
  (*consumer)->stop();
  const auto s = handler.stats();
  print_consume(o, n, n - at_first, std::chrono::duration<double>(last - first).count(), cpu,
                s.decode_errors_total(), held);
  return n >= o.expect ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse_args(argc, argv);
  spdlog::set_level(spdlog::level::warn);  // the transport's assignment lines are not results
  if (o.mode == "produce") return run_produce(o);
  if (o.mode == "latency") return run_latency(o);
  if (o.expect == 0) usage("consume needs --expect N");
  if (o.impl == "raw") return run_consume_raw(o);
  if (o.impl == "mca") return run_consume_mca(o);
  usage("--impl is raw or mca");
}
