// The consume path hands the store each record's offset (exactly-once aggregates over a replay)
// and dead-letters aggregates the store cannot add: a negative or non-finite counter increment,
// a non-finite observation (validate() refuses them at the API; another producer may not).
#include <gtest/gtest.h>

#include <limits>

#include "pipeline/consume.h"
#include "support/support.h"

namespace mca::pipeline {
namespace {

class own_registry final : public registry::schema_registry {
 public:
  util::result<avro::schema_id> schema_id(avro::wire_schema w) override {
    return avro::schema_id{w == avro::wire_schema::v1 ? 7 : 6};
  }
  util::result<avro::schema> schema_by_id(avro::schema_id) override {
    return util::error(registry::errc::not_found, "unknown id");
  }
  util::health health() override { return {true, "ok", {}}; }
};

model::metric typed(model::metric_type t, double v) {
  model::metric m{"clicks", v, 1'640'995'200'000, {{"page", "/"}}, "p"};
  m.type = t;
  return m;
}

struct consume_aggregates : ::testing::Test {
  util::manual_clock clock;
  avro::schema v1 = avro::schema::load_metric_schema(test::schema_file()).value();
  avro::schema v2 = avro::schema::load_typed_metric_schema(test::schema_v2_file()).value();
  own_registry registry;
  store::series_store store{store::store_limits{}, clock};
  consume c{v1, v2, registry, store};

  std::optional<transport::rejection> deliver(const model::metric& m, std::int64_t offset) {
    std::string value;
    avro::frame(avro::schema_id{6}, m, value, avro::wire_schema::v2);
    transport::record r{"key", value, "app", 2, offset, clock.now_ms()};
    return c.on_record(r);
  }
};

TEST_F(consume_aggregates, a_replayed_record_is_not_counted_twice) {
  EXPECT_FALSE(deliver(typed(model::metric_type::counter, 2), 10));
  EXPECT_FALSE(deliver(typed(model::metric_type::counter, 3), 11));
  // The same records again (a rebalance replays from an older position): skipped.
  EXPECT_FALSE(deliver(typed(model::metric_type::counter, 2), 10));
  EXPECT_FALSE(deliver(typed(model::metric_type::counter, 3), 11));
  EXPECT_FALSE(deliver(typed(model::metric_type::counter, 1), 12));
  const auto s = store.app_series("app");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_DOUBLE_EQ(s[0].sum, 6);
  EXPECT_EQ(store.stats().replayed, 2u);
  const auto states = store.take_dirty(2);
  ASSERT_EQ(states.size(), 1u);
  EXPECT_EQ(states[0].next_offset, 13);
}

TEST_F(consume_aggregates, aggregates_the_store_cannot_add_are_rejected_as_invalid) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const auto& m :
       {typed(model::metric_type::counter, -1), typed(model::metric_type::counter, inf),
        typed(model::metric_type::counter, nan), typed(model::metric_type::histogram, inf),
        typed(model::metric_type::histogram, nan)}) {
    const auto rej = deliver(m, 1);
    ASSERT_TRUE(rej) << m.value;
    EXPECT_EQ(rej->reason, "invalid");
  }
  EXPECT_TRUE(store.app_series("app").empty());
  // A counter at zero, a negative observation and a non-finite gauge are fine.
  EXPECT_FALSE(deliver(typed(model::metric_type::counter, 0), 2));
  auto h = typed(model::metric_type::histogram, -5);
  h.name = "h";
  EXPECT_FALSE(deliver(h, 3));
  EXPECT_EQ(store.app_series("app").size(), 2u);
}

// One poll applied together (on_records: one store batch) ends exactly where the same records
// applied one by one end: rejections at their index, replayed offsets skipped, totals, stats.
TEST_F(consume_aggregates, a_poll_applied_as_one_batch_equals_its_records_applied_in_turn) {
  const auto framed = [](const model::metric& m) {
    std::string value;
    avro::frame(avro::schema_id{6}, m, value, avro::wire_schema::v2);
    return value;
  };
  auto gauge = typed(model::metric_type::gauge, 4);
  gauge.name = "temperature";
  auto hist = typed(model::metric_type::histogram, 0.3);
  hist.name = "latency";
  const std::vector<std::pair<std::string, std::int64_t>> poll = {
      {framed(typed(model::metric_type::counter, 2)), 10},
      {framed(typed(model::metric_type::counter, -1)), 11},  // invalid
      {"not a frame", 12},                                   // bad_magic
      {framed(gauge), 13},
      {framed(typed(model::metric_type::counter, 3)), 10},  // replayed: below next_offset 11
      {framed(hist), 14},
      {framed(typed(model::metric_type::counter, 5)), 15},
  };
  std::vector<transport::record> records;
  for (const auto& [value, offset] : poll)
    records.push_back({"key", value, "app", 2, offset, clock.now_ms()});

  std::vector<std::optional<transport::rejection>> rejected(records.size());
  c.on_records(records, rejected);

  store::series_store one_by_one{store::store_limits{}, clock};
  consume single{v1, v2, registry, one_by_one};
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto expected = single.on_record(records[i]);
    ASSERT_EQ(rejected[i].has_value(), expected.has_value()) << i;
    if (expected) EXPECT_EQ(rejected[i]->reason, expected->reason) << i;
  }
  ASSERT_TRUE(rejected[1] && rejected[2]);
  EXPECT_EQ(rejected[1]->reason, "invalid");
  EXPECT_EQ(rejected[2]->reason, "bad_magic");

  const auto got = store.app_series("app");
  const auto want = one_by_one.app_series("app");
  ASSERT_EQ(got.size(), 3u);
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].exposition_name, want[i].exposition_name);
    EXPECT_EQ(got[i].value, want[i].value);
    EXPECT_EQ(got[i].sum, want[i].sum);
    EXPECT_EQ(got[i].count, want[i].count);
    EXPECT_EQ(got[i].buckets, want[i].buckets);
  }
  EXPECT_EQ(store.stats().replayed, 1u);
  EXPECT_EQ(store.stats().replayed, one_by_one.stats().replayed);
  EXPECT_EQ(c.stats().consumed, 5u);
  EXPECT_EQ(c.stats().consumed, single.stats().consumed);
  EXPECT_EQ(c.stats().decode_errors, single.stats().decode_errors);
  const auto dirty = store.take_dirty(2);
  const auto dirty_single = one_by_one.take_dirty(2);
  ASSERT_EQ(dirty.size(), dirty_single.size());
  for (std::size_t i = 0; i < dirty.size(); ++i) EXPECT_EQ(dirty[i], dirty_single[i]) << i;
}

}  // namespace
}  // namespace mca::pipeline
