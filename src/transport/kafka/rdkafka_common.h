// Internal to transport/kafka: RAII owners for librdkafka objects, configuration building, the
// log/error callbacks shared by producer and consumer, statistics parsing and the broker
// metadata probe behind health().
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "util/health.h"
#include "util/result.h"

namespace mca::transport::kafka {

struct handle_deleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct conf_deleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
struct partition_list_deleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
struct message_deleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
struct topic_deleter {
  void operator()(rd_kafka_topic_t* t) const { rd_kafka_topic_destroy(t); }
};
struct metadata_deleter {
  void operator()(const rd_kafka_metadata_t* m) const { rd_kafka_metadata_destroy(m); }
};
struct queue_deleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
using handle_ptr = std::unique_ptr<rd_kafka_t, handle_deleter>;
using conf_ptr = std::unique_ptr<rd_kafka_conf_t, conf_deleter>;
using partition_list_ptr = std::unique_ptr<rd_kafka_topic_partition_list_t, partition_list_deleter>;
using message_ptr = std::unique_ptr<rd_kafka_message_t, message_deleter>;
using topic_ptr = std::unique_ptr<rd_kafka_topic_t, topic_deleter>;
using metadata_ptr = std::unique_ptr<const rd_kafka_metadata_t, metadata_deleter>;
using queue_ptr = std::unique_ptr<rd_kafka_queue_t, queue_deleter>;

// A configuration with `properties` set in order. The error names the property; librdkafka's
// explanation is included only for properties that cannot hold a secret.
util::result<conf_ptr> make_conf(
    const std::vector<std::pair<std::string, std::string>>& properties);

// Sets one property; same error rules as make_conf.
util::result<void> set_property(rd_kafka_conf_t* conf, const std::string& name,
                                const std::string& value);

// Routes librdkafka's log lines to spdlog's default logger, syslog levels mapped to spdlog
// levels. They arrive on librdkafka's threads; spdlog's loggers are thread-safe.
void install_logging(rd_kafka_conf_t* conf);

// What a handle calls back, each with `opaque`; null members are left unset.
// Makes the calling thread a SCHED_BATCH thread: the same CPU share as any other (the nice
// value is kept), but its wake-ups do not preempt the thread running. For work nobody waits on:
// the consumer's thread and its clients' librdkafka threads (handle_callbacks::batch_threads), so
// that on a shared core fetching and applying records yields to requests being answered
// (docs/PERFORMANCE.md, "Kafka path CPU per metric"). Not for the ingest producer: a request
// waits on its broker thread, and on a core shared with other work a batch thread can wait for a
// whole time slice before it runs (the producer makes its broker threads batch threads only
// while it enqueues a batch: kafka_producer.cc, defer_broker_wakeups).
void run_as_batch_thread();

struct handle_callbacks {
  void* opaque = nullptr;
  void (*delivery)(rd_kafka_t*, const rd_kafka_message_t*, void*) = nullptr;
  void (*rebalance)(rd_kafka_t*, rd_kafka_resp_err_t, rd_kafka_topic_partition_list_t*,
                    void*) = nullptr;
  void (*error)(rd_kafka_t*, int, const char*, void*) = nullptr;
  int (*statistics)(rd_kafka_t*, char*, std::size_t, void*) = nullptr;
  bool batch_threads = false;  // librdkafka's broker threads run as batch threads
  // Called on each of librdkafka's broker threads as it starts (true) and as it exits (false).
  void (*broker_thread)(void*, bool started) = nullptr;
};

// A client of `type` configured with `properties` (make_conf's error rules), its log lines on
// spdlog (install_logging) and `callbacks` set. `what` names it in an error ("Kafka producer").
util::result<handle_ptr> make_handle(
    rd_kafka_type_t type, const std::vector<std::pair<std::string, std::string>>& properties,
    const handle_callbacks& callbacks, std::string_view what);

// A topic handle of `rk` for `name`; the error names the topic.
util::result<topic_ptr> make_topic(rd_kafka_t* rk, const std::string& name);

// The last error librdkafka reported through error_cb, for health(). Thread-safe.
class last_error {
 public:
  void set(std::string e);
  std::string get() const;

 private:
  mutable std::mutex mu_;
  std::string error_;
};

// What the periodic statistics JSON tells us. Times in milliseconds.
struct client_statistics {
  std::int64_t queue_depth = 0;    // msg_cnt: messages in the producer queues
  double broker_rtt_ms = 0;        // mean of the brokers' average round-trip (brokers with data)
  std::uint64_t tx_errors = 0;     // sum of the brokers' txerrs
  std::uint64_t rx_errors = 0;     // sum of the brokers' rxerrs
  std::int64_t consumer_lag = -1;  // sum over the topic's assigned partitions; -1 = unknown
};

// Parses librdkafka's statistics JSON (statistics.interval.ms); `topic` selects the partitions
// whose consumer_lag is summed. Fails on malformed JSON.
util::result<client_statistics> parse_statistics(std::string_view json, std::string_view topic);

// Broker metadata for `topic` within `timeout`: ok with {brokers, partitions} when the broker
// answers and the topic exists; "unreachable" when no broker answers; "degraded" when the topic
// is missing. `info` gets kind, topic, brokers, partitions, last_error.
util::health probe_metadata(rd_kafka_t* rk, rd_kafka_topic_t* topic,
                            std::chrono::milliseconds timeout);

// Runs `probe` on its own thread every `interval` (first at once) and keeps the last result, so
// that health() answers at once and never waits on the network. Thread-safe.
class health_monitor {
 public:
  health_monitor(std::function<util::health()> probe, std::chrono::milliseconds interval);
  ~health_monitor();
  health_monitor(const health_monitor&) = delete;
  health_monitor& operator=(const health_monitor&) = delete;

  // The last result; {ok:false, status:"connecting"} before the first probe has finished.
  util::health current() const;

 private:
  void run();

  std::function<util::health()> probe_;
  std::chrono::milliseconds interval_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  util::health current_;
  std::thread thread_;
};

// Milliseconds as librdkafka's int timeouts want them (clamped to int range).
int to_timeout_ms(std::chrono::milliseconds d);

}  // namespace mca::transport::kafka
