#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include <sched.h>

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

// `n` records of one series (so of one partition), their values 0, 1, ... n - 1.
std::vector<message> numbered(const std::string& key, int n) {
  std::vector<message> batch;
  batch.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) batch.push_back({key, std::to_string(i), "app", test::now_ms()});
  return batch;
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

// Fetching and applying records is work no request waits on: on a shared core it must not
// preempt the HTTP thread (docs/PERFORMANCE.md, "Kafka path CPU per metric"), so the consumer's
// librdkafka broker threads are batch threads.
TEST(kafka_consumer, runs_librdkafka_broker_threads_as_batch_threads) {
  test::mock_cluster cluster;
  cluster.create_topic("metrics", 1);
  auto producer = producer_for(cluster);
  produce(*producer, {{"series", "1", "app", test::now_ms()}});
  const auto before = test::threads_of_this_process();

  test::recording_handler handler;
  auto consumer = make_kafka_consumer(consumer_for(cluster, 0s)).value();
  consumer->start(handler);
  ASSERT_TRUE(eventually([&] { return handler.records().size() == 1; }));  // fetching by now

  const auto broker_threads = test::new_threads_named("rdk:broker", before);
  EXPECT_FALSE(broker_threads.empty());
  for (const pid_t id : broker_threads)
    EXPECT_EQ(::sched_getscheduler(id), SCHED_BATCH) << "thread " << id;
}

TEST(kafka_consumer, hands_over_what_one_poll_fetched_in_one_call) {
  // The handler applies a poll as one store batch (R4): records already fetched arrive together,
  // at most 512 at a time, in log order, each exactly once.
  test::mock_cluster cluster;
  cluster.create_topic("metrics", 1);
  auto producer = producer_for(cluster);
  produce(*producer, numbered("s", 2000));

  test::recording_handler handler;
  auto consumer = make_kafka_consumer(consumer_for(cluster, 0s)).value();
  consumer->start(handler);
  ASSERT_TRUE(eventually([&] { return handler.records().size() == 2000; }));
  consumer->stop();

  const auto polls = handler.polls();
  std::size_t sum = 0;
  for (auto n : polls) sum += n;
  EXPECT_EQ(sum, 2000u);
  EXPECT_GT(*std::max_element(polls.begin(), polls.end()), 1u);
  EXPECT_LE(*std::max_element(polls.begin(), polls.end()), 512u);
  const auto records = handler.records();
  for (std::size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].offset, static_cast<std::int64_t>(i));
    EXPECT_EQ(records[i].value, std::to_string(i));
  }
}

TEST(kafka_consumer, says_a_partition_is_rebuilt_only_once_read_to_where_it_ended) {
  // A restored counter must not be shown while its partition is replayed (it would be lower
  // than what the previous owner showed): every assigned partition is announced as rebuilding
  // before anything of it is restored or read, and as rebuilt only after its last record at
  // assignment was handed over (more than one poll here); an empty one at once.
  test::mock_cluster cluster;
  cluster.create_topic("metrics", 3);
  auto producer = producer_for(cluster);
  produce(*producer, numbered("s", 2000));  // one key: one partition

  test::recording_handler handler;
  auto consumer = make_kafka_consumer(consumer_for(cluster, 0s)).value();
  consumer->start(handler);
  ASSERT_TRUE(eventually([&] { return handler.records().size() == 2000; }));
  ASSERT_TRUE(eventually([&] { return consumer->health().status == "ok"; }));
  consumer->stop();

  const std::int32_t full = handler.records().front().partition;
  const auto events = handler.rebuild_events();
  ASSERT_GE(events.size(), 6u);
  std::set<std::int32_t> announced;
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_FALSE(events[i].rebuilt) << i;
    announced.insert(events[i].partition);
  }
  EXPECT_EQ(announced, (std::set<std::int32_t>{0, 1, 2}));
  std::map<std::int32_t, std::size_t> rebuilt;  // partition -> records by then
  for (std::size_t i = 3; i < events.size(); ++i) {
    ASSERT_TRUE(events[i].rebuilt) << i;
    EXPECT_FALSE(rebuilt.contains(events[i].partition)) << events[i].partition;
    rebuilt[events[i].partition] = events[i].records_by_then;
  }
  ASSERT_EQ(rebuilt.size(), 3u);
  for (const auto& [p, n] : rebuilt) EXPECT_EQ(n, p == full ? 2000u : 0u) << "partition " << p;
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
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // the simulated work, not a wait
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
  // More than one poll takes (512): the statistics are served between polls.
  std::vector<message> batch(1500, message{"s", "v", "app", test::now_ms()});
  produce(*producer, batch);
  slow_handler handler;
  auto options = consumer_for(cluster, 0s);
  options.statistics_interval = 100ms;
  auto consumer = make_kafka_consumer(options).value();
  consumer->start(handler);

  std::int64_t max_lag = 0;
  ASSERT_TRUE(eventually([&] {
    max_lag = std::max(max_lag, consumer->stats().lag);
    return handler.inner.records().size() == 1500;
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

// A handler with state to keep: each record's value is added to the state of its key; the
// snapshot hook returns the keys changed since the last call (value = total and next offset),
// the restore hook records what it was given and loads it.
class stateful_handler final : public transport::consumer_handler {
 public:
  struct restore_call {
    std::int32_t partition = 0;
    std::map<std::string, std::string> entries;
    std::int64_t floor = -1;
  };

  std::optional<rejection> on_record(const record& r) override {
    std::lock_guard lock(mu_);
    offsets_.push_back(r.offset);
    auto& st = state_[std::string(r.key)];
    if (r.offset < st.second) return std::nullopt;  // already in the restored state
    st.first += std::stoll(std::string(r.value));
    st.second = r.offset + 1;
    dirty_.insert(std::string(r.key));
    return std::nullopt;
  }
  void on_assigned(std::span<const std::int32_t>) override {}
  void on_revoked(std::span<const std::int32_t>) override {}
  restore_result on_restore(std::int32_t partition, std::span<const changelog_entry> entries,
                            std::int64_t floor) override {
    std::lock_guard lock(mu_);
    restore_call call{partition, {}, floor};
    for (const auto& e : entries) {
      call.entries[std::string(e.key)] = std::string(e.value);
      const auto sep = e.value.find('@');
      state_[std::string(e.key)] = {std::stoll(std::string(e.value.substr(0, sep))),
                                    std::stoll(std::string(e.value.substr(sep + 1)))};
    }
    restores_.push_back(std::move(call));
    return {replay_from};
  }
  std::vector<changelog_write> on_snapshot(std::int32_t) override {
    std::lock_guard lock(mu_);
    std::vector<changelog_write> out;
    for (const auto& k : dirty_)
      out.push_back({k, std::to_string(state_[k].first) + "@" + std::to_string(state_[k].second)});
    for (const auto& k : expired_) out.push_back({k, std::nullopt});
    dirty_.clear();
    expired_.clear();
    ++snapshots_;
    return out;
  }
  void on_snapshot_failed(std::int32_t) override {
    std::lock_guard lock(mu_);
    ++failures_;
    for (const auto& [k, _] : state_) dirty_.insert(k);
  }

  void expire(const std::string& key) {
    std::lock_guard lock(mu_);
    state_.erase(key);
    expired_.insert(key);
  }
  std::vector<restore_call> restores() const { return test::locked_copy(mu_, restores_); }
  std::vector<std::int64_t> offsets() const { return test::locked_copy(mu_, offsets_); }
  std::int64_t total(const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = state_.find(key);
    return it == state_.end() ? -1 : it->second.first;
  }
  int snapshots() const { return test::locked_copy(mu_, snapshots_); }
  int failures() const { return test::locked_copy(mu_, failures_); }

  std::int64_t replay_from = -1;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> state_;  // total, next offset
  std::set<std::string> dirty_, expired_;
  std::vector<restore_call> restores_;
  std::vector<std::int64_t> offsets_;
  int snapshots_ = 0;
  int failures_ = 0;
};

consumer_options with_changelog(consumer_options o) {
  o.changelog_topic = "metrics-aggregates";
  o.snapshot_interval = 100ms;
  return o;
}

// Reads the changelog partition with a plain consumer: (key, value or "<tombstone>") in order.
std::vector<std::pair<std::string, std::string>> read_changelog(test::mock_cluster& cluster,
                                                                std::int32_t partition) {
  char err[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", cluster.bootstrap_servers().c_str(), err,
                    sizeof err);
  rd_kafka_conf_set(conf, "group.id", "changelog-check", err, sizeof err);
  rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err);
  rd_kafka_t* c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  rd_kafka_poll_set_consumer(c);
  rd_kafka_topic_partition_list_t* l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, "metrics-aggregates", partition)->offset =
      RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(c, l);
  rd_kafka_topic_partition_list_destroy(l);
  std::vector<std::pair<std::string, std::string>> out;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(c, 100);
    if (!m) continue;
    const bool eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
    if (!m->err)
      out.emplace_back(
          std::string(static_cast<const char*>(m->key), m->key_len),
          m->payload ? std::string(static_cast<const char*>(m->payload), m->len) : "<tombstone>");
    rd_kafka_message_destroy(m);
    if (eof) break;
  }
  rd_kafka_consumer_close(c);
  rd_kafka_destroy(c);
  return out;
}

std::int64_t cut_of(const std::string& marker_value) {
  std::int64_t cut = 0;
  for (int i = 1; i < 9; ++i) cut = (cut << 8) | static_cast<unsigned char>(marker_value[i]);
  return cut;
}

const std::string kMarker("\0cut", 4);

// The topic and its changelog, `partitions` each, with `batch` produced to the topic.
void with_records(test::mock_cluster& cluster, int partitions, const std::vector<message>& batch) {
  cluster.create_topic("metrics", partitions);
  cluster.create_topic("metrics-aggregates", partitions);
  auto producer = producer_for(cluster);
  produce(*producer, batch);
}

// The topic and its changelog, one partition each, and `records` (key, value) on the topic two
// hours old: older than a TTL of 900 s, so a TTL rebuild alone would skip all of them.
void with_old_records(test::mock_cluster& cluster,
                      const std::vector<std::pair<std::string, std::string>>& records) {
  const std::int64_t old = test::now_ms() - 2 * 3600 * 1000;
  std::vector<message> batch;
  for (const auto& [key, value] : records) batch.push_back({key, value, "app", old});
  with_records(cluster, 1, batch);
}

TEST(kafka_consumer_changelog, snapshots_changed_state_then_a_marker_with_the_position) {
  test::mock_cluster cluster;
  with_records(cluster, 1,
               {{"a", "1", "app", test::now_ms()},
                {"b", "10", "app", test::now_ms()},
                {"a", "2", "app", test::now_ms()}});
  stateful_handler handler;
  auto consumer = make_kafka_consumer(with_changelog(consumer_for(cluster, 0s))).value();
  consumer->start(handler);
  ASSERT_TRUE(eventually([&] { return handler.offsets().size() == 3; }));
  // The periodic snapshots (not the one at revocation) bring the changelog to the position.
  std::vector<std::pair<std::string, std::string>> log;
  std::map<std::string, std::string> latest;
  ASSERT_TRUE(eventually(
      [&] {
        log = read_changelog(cluster, 0);
        latest.clear();
        for (const auto& [k, v] : log) latest[k] = v;
        return latest.contains(kMarker) && cut_of(latest[kMarker]) == 3;
      },
      60s));
  consumer->stop();

  EXPECT_EQ(latest["a"], "3@3");
  EXPECT_EQ(latest["b"], "10@2");
  EXPECT_EQ(cut_of(latest[kMarker]), 3);
  // Every state of a snapshot comes before its marker. A snapshot may run at assignment, before
  // any record is applied: its marker (cut 0) covers nothing, so the check starts at the first
  // marker that covers a record ("a" is at offset 0, "b" at 1).
  const auto first_marker = std::find_if(log.begin(), log.end(), [](const auto& e) {
    return e.first == kMarker && cut_of(e.second) > 0;
  });
  ASSERT_NE(first_marker, log.end());
  const auto before = [&](const char* key) {
    return std::any_of(log.begin(), first_marker, [&](auto& e) { return e.first == key; });
  };
  EXPECT_TRUE(before("a"));
  if (cut_of(first_marker->second) > 1) EXPECT_TRUE(before("b"));
  EXPECT_GT(consumer->stats().changelog_written, 2u);
  EXPECT_EQ(consumer->stats().changelog_failed, 0u);
}

TEST(kafka_consumer_changelog, restores_and_starts_at_the_cut_below_the_ttl_position) {
  test::mock_cluster cluster;
  with_old_records(cluster, {{"a", "1"}, {"a", "2"}, {"a", "4"}});
  // What an earlier owner wrote: "a" after offsets 0 and 1, a complete snapshot with cut 2.
  ASSERT_TRUE(cluster.produce_raw("metrics-aggregates", 0, "a", "3@2", test::now_ms()));
  const std::string cut2 = std::string("\x01", 1) + std::string(7, '\0') + "\x02";
  ASSERT_TRUE(cluster.produce_raw("metrics-aggregates", 0, kMarker, cut2, test::now_ms()));

  stateful_handler handler;
  auto consumer = make_kafka_consumer(with_changelog(consumer_for(cluster, 900s))).value();
  consumer->start(handler);
  ASSERT_TRUE(eventually([&] { return handler.total("a") == 7; }));
  ASSERT_EQ(handler.restores().size(), 1u);
  EXPECT_EQ(handler.restores()[0].floor, 2);
  EXPECT_EQ(handler.restores()[0].entries.at("a"), "3@2");
  EXPECT_EQ(handler.offsets(), (std::vector<std::int64_t>{2}));  // from the cut, not before
  ASSERT_TRUE(eventually([&] { return consumer->health().ok; }));
}

TEST(kafka_consumer_changelog, replays_from_the_beginning_without_a_marker) {
  test::mock_cluster cluster;
  with_old_records(cluster, {{"a", "1"}, {"a", "2"}, {"a", "4"}});
  // A state without a marker: an owner that died between the states and the marker.
  ASSERT_TRUE(cluster.produce_raw("metrics-aggregates", 0, "a", "3@2", test::now_ms()));

  stateful_handler handler;
  auto consumer = make_kafka_consumer(with_changelog(consumer_for(cluster, 900s))).value();
  consumer->start(handler);
  ASSERT_TRUE(eventually([&] { return handler.offsets().size() == 3; }));
  EXPECT_EQ(handler.restores().at(0).floor, 0);
  EXPECT_EQ(handler.total("a"), 7);  // 3 restored + 4; offsets 0 and 1 already in the state
}

TEST(kafka_consumer_changelog, starts_where_the_handler_asks_when_below_the_cut) {
  test::mock_cluster cluster;
  with_old_records(cluster, {{"a", "1"}, {"b", "2"}, {"a", "4"}});
  const std::string cut3 = std::string("\x01", 1) + std::string(7, '\0') + "\x03";
  ASSERT_TRUE(cluster.produce_raw("metrics-aggregates", 0, kMarker, cut3, test::now_ms()));

  stateful_handler handler;
  handler.replay_from = 1;
  auto consumer = make_kafka_consumer(with_changelog(consumer_for(cluster, 900s))).value();
  consumer->start(handler);
  ASSERT_TRUE(eventually([&] { return handler.offsets().size() == 2; }));
  EXPECT_EQ(handler.offsets(), (std::vector<std::int64_t>{1, 2}));
}

TEST(kafka_consumer_changelog, writes_a_tombstone_for_an_expired_key_and_restore_leaves_it_out) {
  test::mock_cluster cluster;
  with_records(cluster, 1, {{"a", "1", "app", test::now_ms()}, {"b", "2", "app", test::now_ms()}});
  stateful_handler handler;
  auto consumer = make_kafka_consumer(with_changelog(consumer_for(cluster, 0s))).value();
  consumer->start(handler);
  ASSERT_TRUE(eventually([&] {
    auto log = read_changelog(cluster, 0);
    return std::any_of(log.begin(), log.end(), [](auto& e) { return e.first == "b"; });
  }));
  handler.expire("b");
  ASSERT_TRUE(eventually([&] {
    auto log = read_changelog(cluster, 0);
    return std::any_of(log.begin(), log.end(),
                       [](auto& e) { return e.first == "b" && e.second == "<tombstone>"; });
  }));
  consumer->stop();

  stateful_handler next;
  auto again = make_kafka_consumer(with_changelog(consumer_for(cluster, 0s))).value();
  again->start(next);
  ASSERT_TRUE(eventually([&] { return !next.restores().empty(); }));
  const auto restores = next.restores();
  const auto& entries = restores[0].entries;
  EXPECT_TRUE(entries.contains("a"));
  EXPECT_FALSE(entries.contains("b"));
  EXPECT_FALSE(entries.contains(kMarker));
  again->stop();
}

TEST(kafka_consumer_changelog, hands_the_next_owner_an_exact_state_after_a_stop) {
  test::mock_cluster cluster;
  std::vector<message> batch;
  for (int i = 0; i < 50; ++i) batch.push_back({"k" + std::to_string(i % 7), "1", "app", 1'000});
  with_records(cluster, 2, batch);
  auto options = with_changelog(consumer_for(cluster, 900s));
  options.snapshot_interval = 3'600'000ms;  // only the snapshot at revocation
  options.final_snapshot_timeout = 30s;     // a loaded machine must not make it miss
  stateful_handler first;
  auto consumer = make_kafka_consumer(options).value();
  consumer->start(first);
  ASSERT_TRUE(eventually([&] { return first.offsets().size() == 50; }));
  consumer->stop();
  // The records are older than the TTL: only the changelog can bring the totals back.
  stateful_handler second;
  auto next = make_kafka_consumer(options).value();
  next->start(second);
  ASSERT_TRUE(eventually([&] { return second.restores().size() == 2; }));
  std::int64_t sum = 0;
  for (int i = 0; i < 7; ++i)
    sum += std::max<std::int64_t>(second.total("k" + std::to_string(i)), 0);
  EXPECT_EQ(sum, 50);
  EXPECT_TRUE(second.offsets().empty());
  next->stop();
}

TEST(kafka_consumer_changelog, a_failed_write_marks_the_partition_for_a_full_snapshot) {
  test::mock_cluster cluster;
  with_records(cluster, 1, {{"a", "1", "app", test::now_ms()}});
  // The changelog's next produce requests are refused for good (not retried).
  rd_kafka_mock_push_request_errors(
      cluster.get(), 0 /* Produce */, 3, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
  stateful_handler handler;
  auto consumer = make_kafka_consumer(with_changelog(consumer_for(cluster, 0s))).value();
  consumer->start(handler);
  ASSERT_TRUE(eventually([&] { return consumer->stats().changelog_failed > 0; }));
  // Written again in full once the broker takes it, then the marker.
  ASSERT_TRUE(eventually([&] {
    auto log = read_changelog(cluster, 0);
    return !log.empty() && log.back().first == kMarker;
  }));
  auto log = read_changelog(cluster, 0);
  std::map<std::string, std::string> latest;
  for (const auto& [k, v] : log) latest[k] = v;
  EXPECT_EQ(latest["a"], "1@1");
  EXPECT_EQ(cut_of(latest[kMarker]), 1);
  EXPECT_GE(handler.failures(), 1);
  consumer->stop();
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
