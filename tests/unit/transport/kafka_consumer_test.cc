#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <thread>

#include "transport/kafka/kafka_transport.h"
#include "unit/transport/kafka_mock_cluster.h"

namespace mca::transport::kafka {
namespace {

using namespace std::chrono_literals;
using test::eventually;

consumer_options consumer_for(test::mock_cluster& cluster, std::chrono::seconds ttl) {
  consumer_options o;
  o.properties = {{"bootstrap.servers", cluster.bootstrap_servers()}};
  o.topic = "metrics";
  o.group_id = "readers";
  o.ttl = ttl;
  o.health_interval = 200ms;
  return o;
}

// Sends a batch with the Kafka producer and waits for its delivery report.
void produce(transport::producer& p, std::vector<message> batch) {
  std::atomic<bool> done{false};
  std::atomic<bool> ok{false};
  p.send(std::move(batch), [&](util::result<void> r) {
    ok = r.has_value();
    done = true;
  });
  ASSERT_TRUE(eventually([&] { return done.load(); }));
  ASSERT_TRUE(ok.load());
}

std::unique_ptr<transport::producer> producer_for(test::mock_cluster& cluster) {
  producer_options o;
  o.properties = {{"bootstrap.servers", cluster.bootstrap_servers()}};
  o.topic = "metrics";
  return make_kafka_producer(o).value();
}

TEST(kafka_consumer, reports_its_assignment_and_delivers_records_in_order_per_partition) {
  test::mock_cluster cluster;
  cluster.create_topic("metrics", 3);
  auto producer = producer_for(cluster);
  std::vector<message> batch;
  for (int i = 0; i < 30; ++i)
    batch.push_back({"series-" + std::to_string(i % 5), std::to_string(i), "app", test::now_ms()});
  produce(*producer, batch);

  test::recording_handler handler;
  auto consumer = make_kafka_consumer(consumer_for(cluster, 0s)).value();
  consumer->start(handler);

  ASSERT_TRUE(eventually([&] { return handler.records().size() == 30; }));
  ASSERT_EQ(handler.assigned().size(), 1u);
  EXPECT_EQ(handler.assigned().front(), (std::vector<std::int32_t>{0, 1, 2}));
  EXPECT_EQ(consumer->stats().assigned, (std::vector<std::int32_t>{0, 1, 2}));
  EXPECT_EQ(consumer->stats().records, 30u);
  // One series always lands on one partition; within it, offsets and values only go up.
  std::map<std::string, int> last_value;
  std::map<std::int32_t, std::int64_t> last_offset;
  for (const auto& r : handler.records()) {
    const int v = std::stoi(r.value);
    if (last_value.contains(r.key)) {
      EXPECT_GT(v, last_value[r.key]) << r.key;
    }
    if (last_offset.contains(r.partition)) {
      EXPECT_EQ(r.offset, last_offset[r.partition] + 1);
    }
    last_value[r.key] = v;
    last_offset[r.partition] = r.offset;
  }
}

TEST(kafka_consumer, revokes_its_partitions_when_stopped) {
  test::mock_cluster cluster;
  cluster.create_topic("metrics", 2);
  test::recording_handler handler;
  auto consumer = make_kafka_consumer(consumer_for(cluster, 0s)).value();
  consumer->start(handler);
  ASSERT_TRUE(eventually([&] { return !handler.assigned().empty(); }));

  consumer->stop();

  ASSERT_EQ(handler.revoked().size(), 1u);
  EXPECT_EQ(handler.revoked().front(), (std::vector<std::int32_t>{0, 1}));
  EXPECT_TRUE(consumer->stats().assigned.empty());
}

std::vector<std::int32_t> merged(std::vector<std::int32_t> a, const std::vector<std::int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  std::sort(a.begin(), a.end());
  return a;
}

// A second member joins: the group splits the partitions between the two, each partition owned
// by exactly one member, and the first member is told what it lost.
void expect_partitions_split_between_two_members(const std::string& strategy) {
  test::mock_cluster cluster;
  cluster.create_topic("metrics", 4);
  auto options = consumer_for(cluster, 0s);
  options.properties.emplace_back("partition.assignment.strategy", strategy);
  // The mock coordinator waits a whole session timeout for members to rejoin.
  options.properties.emplace_back("session.timeout.ms", "3000");
  options.properties.emplace_back("heartbeat.interval.ms", "300");
  test::recording_handler first_handler, second_handler;
  auto first = make_kafka_consumer(options).value();
  first->start(first_handler);
  ASSERT_TRUE(eventually([&] { return first->stats().assigned.size() == 4; }));

  auto second = make_kafka_consumer(options).value();
  second->start(second_handler);

  ASSERT_TRUE(eventually([&] {
    const auto a = first->stats().assigned;
    const auto b = second->stats().assigned;
    return !a.empty() && !b.empty() && merged(a, b) == std::vector<std::int32_t>{0, 1, 2, 3};
  }));
  EXPECT_EQ(first_handler.revoked().front(), (std::vector<std::int32_t>{0, 1, 2, 3}));
  second->stop();
  first->stop();
}

TEST(kafka_consumer, splits_partitions_with_a_second_member_under_range) {
  expect_partitions_split_between_two_members("range");
}

TEST(kafka_consumer, splits_partitions_with_a_second_member_under_roundrobin) {
  expect_partitions_split_between_two_members("roundrobin");
}

TEST(kafka_consumer, refuses_the_cooperative_assignor) {
  test::mock_cluster cluster;
  auto options = consumer_for(cluster, 0s);
  options.properties.emplace_back("partition.assignment.strategy", "cooperative-sticky");

  auto consumer = make_kafka_consumer(options);

  ASSERT_FALSE(consumer);
  EXPECT_NE(consumer.error().message.find("cooperative-sticky"), std::string::npos);
}

TEST(kafka_consumer, gives_an_empty_app_id_to_records_without_the_header) {
  test::mock_cluster cluster;
  cluster.create_topic("metrics", 1);
  ASSERT_TRUE(cluster.produce_raw("metrics", 0, "k", "v", test::now_ms()));

  test::recording_handler handler;
  auto consumer = make_kafka_consumer(consumer_for(cluster, 0s)).value();
  consumer->start(handler);

  ASSERT_TRUE(eventually([&] { return !handler.records().empty(); }));
  EXPECT_EQ(handler.records().front().app_id, "");
  EXPECT_EQ(handler.records().front().value, "v");
}

TEST(kafka_consumer, skips_records_older_than_the_ttl) {
  test::mock_cluster cluster;
  cluster.create_topic("metrics", 1);
  auto producer = producer_for(cluster);
  const std::int64_t two_hours_ago = test::now_ms() - 2 * 3600 * 1000;
  produce(*producer, {{"s", "old-1", "app", two_hours_ago}, {"s", "old-2", "app", two_hours_ago}});

  test::recording_handler handler;
  auto consumer = make_kafka_consumer(consumer_for(cluster, 900s)).value();
  consumer->start(handler);
  ASSERT_TRUE(eventually([&] { return !handler.assigned().empty(); }));
  // The start position is settled asynchronously after the assignment: keep producing fresh
  // records until one arrives, then nothing older than the TTL may have come before it.
  int sent = 0;
  ASSERT_TRUE(eventually([&] {
    produce(*producer, {{"s", "new-" + std::to_string(sent++), "app", test::now_ms()}});
    return eventually([&] { return !handler.records().empty(); }, 200ms);
  }));
  for (const auto& r : handler.records()) EXPECT_EQ(r.value.rfind("new-", 0), 0u) << r.value;
}

TEST(kafka_consumer, reads_from_the_beginning_when_ttl_is_zero) {
  test::mock_cluster cluster;
  cluster.create_topic("metrics", 1);
  auto producer = producer_for(cluster);
  produce(*producer, {{"s", "ancient", "app", 1'000}});

  test::recording_handler handler;
  auto consumer = make_kafka_consumer(consumer_for(cluster, 0s)).value();
  consumer->start(handler);

  ASSERT_TRUE(eventually([&] { return !handler.records().empty(); }));
  EXPECT_EQ(handler.records().front().value, "ancient");
  EXPECT_EQ(handler.records().front().offset, 0);
}

// Forwards to a recording handler after a fixed cost per record: a consumer slower than the log.
class slow_handler final : public transport::consumer_handler {
 public:
  std::optional<rejection> on_record(const record& r) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the simulated work, not a wait
    return inner.on_record(r);
  }
  void on_assigned(std::span<const std::int32_t> p) override { inner.on_assigned(p); }
  void on_revoked(std::span<const std::int32_t> p) override { inner.on_revoked(p); }
  test::recording_handler inner;
};

TEST(kafka_consumer, reports_lag_while_behind_the_log_and_none_once_caught_up) {
  test::mock_cluster cluster;
  cluster.create_topic("metrics", 1);
  auto producer = producer_for(cluster);
  std::vector<message> batch(300, message{"s", "v", "app", test::now_ms()});
  produce(*producer, batch);
  slow_handler handler;
  auto options = consumer_for(cluster, 0s);
  options.statistics_interval = 100ms;
  auto consumer = make_kafka_consumer(options).value();
  consumer->start(handler);

  std::int64_t max_lag = 0;
  ASSERT_TRUE(eventually([&] {
    max_lag = std::max(max_lag, consumer->stats().lag);
    return handler.inner.records().size() == 300;
  }));
  EXPECT_GT(max_lag, 0);
  EXPECT_TRUE(eventually([&] { return consumer->stats().lag == 0; }));
}

TEST(kafka_consumer, is_healthy_only_once_assigned) {
  test::mock_cluster cluster;
  cluster.create_topic("metrics", 1);
  test::recording_handler handler;
  auto consumer = make_kafka_consumer(consumer_for(cluster, 0s)).value();
  ASSERT_TRUE(eventually([&] { return consumer->health().status != "connecting"; }));
  EXPECT_FALSE(consumer->health().ok);
  EXPECT_EQ(consumer->health().status, "joining");

  consumer->start(handler);

  ASSERT_TRUE(eventually([&] { return consumer->health().ok; }));
  const auto h = consumer->health();
  EXPECT_EQ(h.status, "ok");
  EXPECT_EQ(h.info.at("group"), "readers");
  EXPECT_EQ(h.info.at("assigned_partitions"), (boost::json::array{0}));
}

TEST(kafka_consumer, is_unreachable_when_no_broker_answers) {
  test::mock_cluster cluster;
  cluster.create_topic("metrics", 1);
  rd_kafka_mock_broker_set_down(cluster.get(), 1);
  auto options = consumer_for(cluster, 0s);
  options.health_timeout = 300ms;
  auto consumer = make_kafka_consumer(options).value();

  ASSERT_TRUE(eventually([&] { return consumer->health().status != "connecting"; }));
  EXPECT_FALSE(consumer->health().ok);
  EXPECT_EQ(consumer->health().status, "unreachable");
}

TEST(kafka_consumer, stop_without_start_is_clean) {
  test::mock_cluster cluster;
  auto consumer = make_kafka_consumer(consumer_for(cluster, 0s)).value();
  consumer->stop();
  consumer->stop();
  EXPECT_TRUE(consumer->stats().assigned.empty());
}

}  // namespace
}  // namespace mca::transport::kafka
