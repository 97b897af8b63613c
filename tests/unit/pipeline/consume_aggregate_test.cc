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

}  // namespace
}  // namespace mca::pipeline
