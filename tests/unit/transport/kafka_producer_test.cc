#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <thread>

#include <poll.h>
#include <sched.h>
#include <unistd.h>

#include "transport/kafka/kafka_transport.h"
#include "unit/transport/kafka_mock_cluster.h"

namespace mca::transport::kafka {
namespace {

using namespace std::chrono_literals;
using test::eventually;

// Records every completion of one send().
struct completion_probe {
  std::atomic<int> calls{0};
  std::mutex mu;
  std::optional<util::result<void>> outcome;

  delivery_callback callback() {
    return [this](util::result<void> r) {
      std::lock_guard lock(mu);
      outcome = std::move(r);
      calls.fetch_add(1);
    };
  }
  bool done() { return calls.load() > 0; }
  std::error_code error() {
    std::lock_guard lock(mu);
    return outcome && !*outcome ? outcome->error().code : std::error_code{};
  }
  bool succeeded() {
    std::lock_guard lock(mu);
    return outcome && outcome->has_value();
  }
};

std::vector<message> make_batch(std::size_t n, const std::string& app = "app-1") {
  std::vector<message> batch;
  for (std::size_t i = 0; i < n; ++i)
    batch.push_back({"key-" + std::to_string(i), "value-" + std::to_string(i), app,
                     1'700'000'000'000 + static_cast<std::int64_t>(i)});
  return batch;
}

producer_options options_for(test::mock_cluster& cluster, const std::string& topic = "metrics") {
  producer_options o;
  o.properties = {{"bootstrap.servers", cluster.bootstrap_servers()}};
  o.topic = topic;
  o.health_interval = 200ms;
  return o;
}

// A mock cluster with the topic "metrics" of one partition, and a completion probe.
struct kafka_producer_on_one_partition : ::testing::Test {
  kafka_producer_on_one_partition() { cluster.create_topic("metrics", 1); }
  test::mock_cluster cluster;
  completion_probe probe;
};

TEST(kafka_producer, completes_a_delivered_batch_once_with_success) {
  test::mock_cluster cluster;
  cluster.create_topic("metrics", 3);
  completion_probe probe;
  auto producer = make_kafka_producer(options_for(cluster)).value();

  producer->send(make_batch(10), probe.callback());

  ASSERT_TRUE(eventually([&] { return probe.done(); }));
  EXPECT_TRUE(probe.succeeded());
  EXPECT_EQ(producer->flush(5s), 0u);
  EXPECT_EQ(probe.calls.load(), 1);
  EXPECT_EQ(producer->stats().sent, 10u);
  EXPECT_EQ(producer->stats().failed, 0u);
}

TEST(kafka_producer, completes_an_empty_batch_at_once_with_success) {
  test::mock_cluster cluster;
  completion_probe probe;
  auto producer = make_kafka_producer(options_for(cluster)).value();

  producer->send({}, probe.callback());

  ASSERT_TRUE(eventually([&] { return probe.done(); }));
  EXPECT_TRUE(probe.succeeded());
  EXPECT_EQ(probe.calls.load(), 1);
}

TEST_F(kafka_producer_on_one_partition, records_carry_key_value_app_id_header_and_timestamp) {
  auto producer = make_kafka_producer(options_for(cluster)).value();
  producer->send({{"series-a", "framed-avro", "my-app", 1'640'995'200'000}}, probe.callback());
  ASSERT_TRUE(eventually([&] { return probe.done(); }));
  ASSERT_TRUE(probe.succeeded());

  consumer_options co;
  co.properties = {{"bootstrap.servers", cluster.bootstrap_servers()}};
  co.topic = "metrics";
  co.group_id = "readers";
  co.ttl = 0s;
  test::recording_handler handler;
  auto consumer = make_kafka_consumer(co).value();
  consumer->start(handler);
  ASSERT_TRUE(eventually([&] { return !handler.records().empty(); }));
  consumer->stop();

  const auto r = handler.records().front();
  EXPECT_EQ(r.key, "series-a");
  EXPECT_EQ(r.value, "framed-avro");
  EXPECT_EQ(r.app_id, "my-app");
  EXPECT_EQ(r.timestamp_ms, 1'640'995'200'000);
}

TEST(kafka_producer, fails_a_batch_that_overflows_the_queue_with_queue_full_once) {
  test::mock_cluster cluster;
  cluster.create_topic("metrics", 1);
  auto options = options_for(cluster);
  options.queue_max_messages = 2;
  options.linger = 1000ms;  // keep the first two queued while the third is refused
  completion_probe probe;
  auto producer = make_kafka_producer(options).value();

  producer->send(make_batch(5), probe.callback());

  ASSERT_TRUE(eventually([&] { return probe.done(); }));
  EXPECT_EQ(probe.error(), make_error_code(errc::queue_full));
  EXPECT_EQ(producer->stats().queue_full, 1u);
  // The two messages that were queued are still delivered, and the batch is not reported again.
  EXPECT_EQ(producer->flush(5s), 0u);
  EXPECT_EQ(producer->stats().sent, 2u);
  EXPECT_EQ(probe.calls.load(), 1);
}

TEST(kafka_producer, fails_a_batch_with_timed_out_when_the_broker_is_down) {
  test::mock_cluster cluster;
  cluster.create_topic("metrics", 1);
  auto options = options_for(cluster);
  options.delivery_timeout = 500ms;
  completion_probe probe;
  auto producer = make_kafka_producer(options).value();
  rd_kafka_mock_broker_set_down(cluster.get(), 1);

  const auto started = std::chrono::steady_clock::now();
  producer->send(make_batch(3), probe.callback());

  ASSERT_TRUE(eventually([&] { return probe.done(); }, 5s));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
  EXPECT_EQ(probe.error(), make_error_code(errc::timed_out));
  EXPECT_EQ(producer->stats().failed, 3u);
  EXPECT_EQ(probe.calls.load(), 1);
}

TEST_F(kafka_producer_on_one_partition,
       fails_a_batch_with_delivery_failed_when_the_broker_rejects_it) {
  auto producer = make_kafka_producer(options_for(cluster)).value();
  // A permanent, non-retriable error on every produce request.
  constexpr std::int16_t produce_api = 0;  // Kafka protocol ApiKey of Produce
  rd_kafka_mock_push_request_errors(
      cluster.get(), produce_api, 5, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);

  producer->send(make_batch(1), probe.callback());

  ASSERT_TRUE(eventually([&] { return probe.done(); }, 5s));
  EXPECT_EQ(probe.error(), make_error_code(errc::delivery_failed));
  EXPECT_EQ(probe.calls.load(), 1);
}

TEST_F(kafka_producer_on_one_partition, flush_reports_what_is_still_undelivered) {
  auto producer = make_kafka_producer(options_for(cluster)).value();
  rd_kafka_mock_broker_set_down(cluster.get(), 1);

  producer->send(make_batch(4), probe.callback());

  EXPECT_GE(producer->flush(200ms), 4u);
  EXPECT_FALSE(probe.done());
}

TEST_F(kafka_producer_on_one_partition, destruction_fails_outstanding_batches_with_unavailable) {
  {
    auto producer = make_kafka_producer(options_for(cluster)).value();
    rd_kafka_mock_broker_set_down(cluster.get(), 1);
    producer->send(make_batch(2), probe.callback());
  }
  ASSERT_TRUE(probe.done());
  EXPECT_EQ(probe.error(), make_error_code(errc::unavailable));
  EXPECT_EQ(probe.calls.load(), 1);
}

TEST(kafka_producer, health_is_ok_with_broker_count_and_topic_partitions) {
  test::mock_cluster cluster;
  cluster.create_topic("metrics", 3);
  auto producer = make_kafka_producer(options_for(cluster)).value();

  ASSERT_TRUE(eventually([&] { return producer->health().ok; }));
  const auto h = producer->health();
  EXPECT_EQ(h.status, "ok");
  EXPECT_EQ(h.info.at("kind"), "kafka");
  EXPECT_EQ(h.info.at("topic"), "metrics");
  EXPECT_EQ(h.info.at("brokers"), 1);
  EXPECT_EQ(h.info.at("partitions"), 3);
}

TEST(kafka_producer, health_is_unreachable_when_no_broker_answers) {
  test::mock_cluster cluster;
  cluster.create_topic("metrics", 1);
  rd_kafka_mock_broker_set_down(cluster.get(), 1);
  auto options = options_for(cluster);
  options.health_timeout = 300ms;
  auto producer = make_kafka_producer(options).value();

  ASSERT_TRUE(eventually([&] { return producer->health().status != "connecting"; }));
  const auto h = producer->health();
  EXPECT_FALSE(h.ok);
  EXPECT_EQ(h.status, "unreachable");
}

TEST(kafka_producer, stats_report_queue_capacity_and_broker_round_trip) {
  test::mock_cluster cluster;
  cluster.create_topic("metrics", 1);
  rd_kafka_mock_broker_set_rtt(cluster.get(), 1, 20);
  auto options = options_for(cluster);
  options.statistics_interval = 100ms;
  options.queue_max_messages = 1234;
  completion_probe probe;
  auto producer = make_kafka_producer(options).value();
  producer->send(make_batch(1), probe.callback());
  ASSERT_TRUE(eventually([&] { return probe.done(); }));

  EXPECT_EQ(producer->stats().queue_capacity, 1234);
  ASSERT_TRUE(eventually([&] { return producer->stats().broker_rtt_ms >= 10; }));
}

// What an event loop does with completion_fd(): wait until it is readable, read it, serve.
// Returns false when it did not turn readable within the deadline.
bool serve_when_readable(producer& p, int fd) {
  pollfd pfd{fd, POLLIN, 0};
  if (::poll(&pfd, 1, 20'000) <= 0) return false;
  std::uint64_t count = 0;
  (void)!::read(fd, &count, sizeof count);
  p.serve_completions();
  return true;
}

TEST(kafka_producer, a_watched_descriptor_signals_delivery_reports_and_serving_completes_them) {
  test::mock_cluster cluster;
  cluster.create_topic("metrics", 3);
  auto producer = make_kafka_producer(options_for(cluster)).value();
  const int fd = producer->completion_fd();
  ASSERT_GE(fd, 0);

  // Several sends one after another, as an HTTP thread would: each is completed by serving
  // after the descriptor turned readable (or, rarely, by the producer's 100 ms safety net).
  for (int i = 0; i < 5; ++i) {
    completion_probe probe;
    producer->send(make_batch(3), probe.callback());
    while (!probe.done()) ASSERT_TRUE(serve_when_readable(*producer, fd)) << "send " << i;
    EXPECT_TRUE(probe.succeeded());
    EXPECT_EQ(probe.calls.load(), 1);
  }
  EXPECT_EQ(producer->flush(5s), 0u);
  EXPECT_EQ(producer->stats().sent, 15u);
}

TEST(kafka_producer, a_watched_descriptor_signals_a_batch_refused_in_send) {
  test::mock_cluster cluster;
  cluster.create_topic("metrics", 1);
  auto options = options_for(cluster);
  options.queue_max_messages = 2;
  options.linger = 1000ms;
  auto producer = make_kafka_producer(options).value();
  const int fd = producer->completion_fd();
  ASSERT_GE(fd, 0);
  completion_probe probe;

  producer->send(make_batch(5), probe.callback());

  EXPECT_FALSE(probe.done());  // never inside send()
  while (!probe.done()) ASSERT_TRUE(serve_when_readable(*producer, fd));
  EXPECT_EQ(probe.error(), make_error_code(errc::queue_full));
  EXPECT_EQ(producer->flush(5s), 0u);
  EXPECT_EQ(probe.calls.load(), 1);
}

TEST(kafka_producer, takes_a_fractional_linger) {
  test::mock_cluster cluster;
  cluster.create_topic("metrics", 1);
  auto options = options_for(cluster);
  options.linger = std::chrono::duration<double, std::milli>(0.5);
  completion_probe probe;
  auto producer = make_kafka_producer(options).value();
  producer->send(make_batch(2), probe.callback());
  ASSERT_TRUE(eventually([&] { return probe.done(); }));
  EXPECT_TRUE(probe.succeeded());
}

// The ingest producer keeps librdkafka's broker threads at the default policy: a request waits
// on them, and a batch thread on a core shared with other work can wait a whole time slice
// before it runs (the consumer's run as batch threads: kafka_consumer_test.cc). send() makes
// them batch threads only while it enqueues a batch of several records, and puts them back.
TEST(kafka_producer, keeps_librdkafka_broker_threads_at_the_default_policy) {
  test::mock_cluster cluster;
  cluster.create_topic("metrics", 1);
  const auto before = test::threads_of_this_process();
  completion_probe probe;
  auto producer = make_kafka_producer(options_for(cluster)).value();
  producer->send(make_batch(2), probe.callback());
  ASSERT_TRUE(eventually([&] { return probe.done(); }));  // connected to the broker by now
  ASSERT_TRUE(probe.succeeded());

  const auto broker_threads = test::new_threads_named("rdk:broker", before);
  EXPECT_FALSE(broker_threads.empty());
  for (const pid_t id : broker_threads) EXPECT_EQ(::sched_getscheduler(id), SCHED_OTHER);
}

// Senders on several threads at once: whichever leaves last puts the broker threads back.
TEST(kafka_producer, concurrent_senders_leave_the_broker_threads_at_the_default_policy) {
  test::mock_cluster cluster;
  cluster.create_topic("metrics", 1);
  const auto before = test::threads_of_this_process();
  auto producer = make_kafka_producer(options_for(cluster)).value();
  constexpr int kThreads = 4, kSends = 50;
  std::vector<std::unique_ptr<completion_probe>> probes;
  for (int i = 0; i < kThreads * kSends; ++i)
    probes.push_back(std::make_unique<completion_probe>());
  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; ++t)
    senders.emplace_back([&, t] {
      for (int i = 0; i < kSends; ++i)
        producer->send(make_batch(5), probes[t * kSends + i]->callback());
    });
  for (auto& t : senders) t.join();
  ASSERT_TRUE(eventually([&] {
    return std::all_of(probes.begin(), probes.end(), [](const auto& p) { return p->done(); });
  }));
  for (const auto& p : probes) EXPECT_TRUE(p->succeeded());

  const auto broker_threads = test::new_threads_named("rdk:broker", before);
  EXPECT_FALSE(broker_threads.empty());
  for (const pid_t id : broker_threads) EXPECT_EQ(::sched_getscheduler(id), SCHED_OTHER);
}

TEST(kafka_producer, refuses_an_unknown_property_naming_it) {
  test::mock_cluster cluster;
  auto options = options_for(cluster);
  options.properties.emplace_back("no.such.property", "1");

  auto producer = make_kafka_producer(options);

  ASSERT_FALSE(producer);
  EXPECT_NE(producer.error().message.find("no.such.property"), std::string::npos);
}

}  // namespace
}  // namespace mca::transport::kafka
