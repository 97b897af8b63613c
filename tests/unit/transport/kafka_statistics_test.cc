#include <gtest/gtest.h>

#include "transport/kafka/rdkafka_common.h"

namespace mca::transport::kafka {
namespace {

// Trimmed from a librdkafka 2.0 statistics document: one bootstrap entry (nodeid -1) and two
// brokers; a topic with two assigned partitions, one unassigned and the internal -1 entry.
constexpr std::string_view sample = R"({
  "name": "rdkafka#consumer-1", "type": "consumer", "msg_cnt": 7,
  "brokers": {
    "127.0.0.1:9092/bootstrap": {"nodeid": -1, "txerrs": 1, "rxerrs": 0, "rtt": {"avg": 0}},
    "127.0.0.1:9092/1": {"nodeid": 1, "txerrs": 2, "rxerrs": 1, "rtt": {"avg": 3000}},
    "127.0.0.1:9093/2": {"nodeid": 2, "txerrs": 0, "rxerrs": 4, "rtt": {"avg": 5000}}
  },
  "topics": {
    "metrics": {"partitions": {
      "0": {"desired": true, "consumer_lag": 10, "consumer_lag_stored": 4},
      "1": {"desired": true, "consumer_lag": 6, "consumer_lag_stored": -1},
      "2": {"desired": false, "consumer_lag": 100, "consumer_lag_stored": 100},
      "-1": {"desired": false, "consumer_lag": -1}
    }},
    "other": {"partitions": {"0": {"desired": true, "consumer_lag_stored": 1000}}}
  }
})";

TEST(kafka_statistics, averages_round_trip_over_brokers_that_carry_requests) {
  const auto s = parse_statistics(sample, "metrics").value();
  EXPECT_DOUBLE_EQ(s.broker_rtt_ms, 4.0);
}

TEST(kafka_statistics, sums_transmit_and_receive_errors_of_every_broker) {
  const auto s = parse_statistics(sample, "metrics").value();
  EXPECT_EQ(s.tx_errors, 3u);
  EXPECT_EQ(s.rx_errors, 5u);
}

TEST(kafka_statistics, reads_queue_depth) {
  EXPECT_EQ(parse_statistics(sample, "metrics").value().queue_depth, 7);
}

TEST(kafka_statistics, sums_lag_of_the_topics_assigned_partitions_preferring_the_stored_offset) {
  EXPECT_EQ(parse_statistics(sample, "metrics").value().consumer_lag, 4 + 6);
}

TEST(kafka_statistics, reports_unknown_lag_for_a_topic_it_does_not_read) {
  EXPECT_EQ(parse_statistics(sample, "absent").value().consumer_lag, -1);
}

TEST(kafka_statistics, rejects_malformed_json) {
  EXPECT_FALSE(parse_statistics("{\"msg_cnt\": ", "metrics"));
}

}  // namespace
}  // namespace mca::transport::kafka
