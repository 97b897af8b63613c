// The consume handler's changelog hooks against a real store: what a snapshot writes, what a
// restore loads, and that a replay after a restore counts nothing twice and loses nothing.
#include <gtest/gtest.h>

#include <map>

#include "pipeline/aggregate_codec.h"
#include "pipeline/consume.h"
#include "support/support.h"

namespace mca::pipeline {
namespace {

constexpr std::int64_t kTtlMs = 60'000;

model::metric clicks(std::string page, double increment) {
  model::metric m;
  m.name = "clicks";
  m.type = model::metric_type::counter;
  m.value = increment;
  m.timestamp_ms = 1'700'000'000'000;
  m.tags = {{"page", std::move(page)}};
  return m;
}

// One service's consume side: store + handler, on a shared clock.
struct side {
  explicit side(util::manual_clock& clock)
      : clock(clock),
        schema(avro::schema::load_metric_schema(test::schema_file()).value()),
        schema_v2(avro::schema::load_typed_metric_schema(test::schema_v2_file()).value()),
        registry(registry::make_embedded(schema, schema_v2)),
        store(limits(), clock),
        handler(schema, schema_v2, *registry, store, kTtlMs, clock) {}

  static store::store_limits limits() {
    store::store_limits l;
    l.ttl_ms = kTtlMs;
    return l;
  }

  // A clicks record on `page` at `offset` of `partition`, applied now.
  store::apply_result click(std::string page, double increment, std::int64_t offset,
                            std::int32_t partition = 0) {
    return store.apply("app", clicks(std::move(page), increment), partition, clock.now_ms(),
                       offset);
  }

  double total(const std::string& page) const {
    for (const auto& s : store.app_series("app"))
      for (const auto& [k, v] : s.tags)
        if (k == "page" && v == page) return s.value;
    return -1;
  }

  util::manual_clock& clock;
  avro::schema schema;
  avro::schema schema_v2;
  std::unique_ptr<registry::schema_registry> registry;
  store::series_store store;
  consume handler;
};

// The changelog as compaction leaves it: newest value per key, tombstones remove.
struct changelog {
  std::map<std::string, std::string> latest;
  void write(const std::vector<transport::changelog_write>& writes) {
    for (const auto& w : writes) {
      if (w.value)
        latest[w.key] = *w.value;
      else
        latest.erase(w.key);
    }
  }
  std::vector<transport::changelog_entry> entries() const {
    std::vector<transport::changelog_entry> out;
    for (const auto& [k, v] : latest) out.push_back({k, v});
    return out;
  }
};

// Each test starts with one service's consume side `a` and an empty changelog, on a shared clock.
class consume_restore : public ::testing::Test {
 protected:
  util::manual_clock clock;
  side a{clock};
  changelog log;
};

TEST_F(consume_restore, a_snapshot_writes_each_changed_aggregate_once_keyed_by_series) {
  a.click("/a", 2, 0);
  a.click("/a", 3, 1);
  a.click("/b", 1, 0, 1);  // another partition

  const auto writes = a.handler.on_snapshot(0);
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].key, model::series_key("app", clicks("/a", 0)));
  ASSERT_TRUE(writes[0].value);
  auto state = decode_state(*writes[0].value);
  ASSERT_TRUE(state) << state.error().message;
  EXPECT_EQ(state->sum, 5);
  EXPECT_EQ(state->next_offset, 2);
  EXPECT_EQ(state->partition, 0);
  EXPECT_TRUE(a.handler.on_snapshot(0).empty()) << "nothing changed since";
}

TEST_F(consume_restore, an_expired_aggregate_becomes_a_tombstone) {
  a.click("/a", 2, 0);
  (void)a.handler.on_snapshot(0);
  clock.advance(std::chrono::milliseconds(kTtlMs + 1));
  a.store.expire();
  const auto writes = a.handler.on_snapshot(0);
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].key, model::series_key("app", clicks("/a", 0)));
  EXPECT_FALSE(writes[0].value);
}

TEST_F(consume_restore, a_failed_write_makes_the_next_snapshot_write_everything_again) {
  a.click("/a", 2, 0);
  a.click("/b", 2, 1);
  ASSERT_EQ(a.handler.on_snapshot(0).size(), 2u);
  a.handler.on_snapshot_failed(0);
  EXPECT_EQ(a.handler.on_snapshot(0).size(), 2u);
}

TEST_F(consume_restore, a_replay_after_a_restore_counts_nothing_twice_and_loses_nothing) {
  // Offsets 0..3 applied and snapshotted at cut 4; offsets 4..5 applied after; then a crash.
  const std::vector<std::pair<std::string, double>> records = {{"/a", 1}, {"/b", 10}, {"/a", 2},
                                                               {"/a", 4}, {"/a", 8},  {"/c", 100}};
  for (std::int64_t o = 0; o < 4; ++o) a.click(records[o].first, records[o].second, o);
  log.write(a.handler.on_snapshot(0));
  const std::int64_t cut = 4;
  for (std::int64_t o = 4; o < 6; ++o) a.click(records[o].first, records[o].second, o);

  side b(clock);
  const auto entries = log.entries();
  const auto r = b.handler.on_restore(0, entries, cut);
  EXPECT_EQ(r.replay_from, 2) << "the lowest next offset of what was restored (/b)";
  EXPECT_EQ(b.handler.stats().restored_states, 2u);
  // The consumer replays from min(TTL position, cut, replay_from): here everything from 0.
  for (std::int64_t o = 0; o < 6; ++o) b.click(records[o].first, records[o].second, o);
  EXPECT_EQ(b.total("/a"), 15);
  EXPECT_EQ(b.total("/b"), 10);
  EXPECT_EQ(b.total("/c"), 100);
  EXPECT_GT(b.store.stats().replayed, 0u);
}

TEST_F(consume_restore, an_unreadable_state_falls_back_to_floor_zero_and_the_beginning) {
  a.click("/a", 1, 0);
  a.click("/b", 2, 1);
  log.write(a.handler.on_snapshot(0));
  auto& broken = log.latest[model::series_key("app", clicks("/b", 0))];
  broken[broken.size() / 2] = static_cast<char>(broken[broken.size() / 2] ^ 1);

  side b(clock);
  const auto entries = log.entries();
  const auto r = b.handler.on_restore(0, entries, /*floor=*/2);
  EXPECT_EQ(r.replay_from, 0);
  EXPECT_EQ(b.handler.stats().unreadable_states, 1u);
  b.click("/a", 1, 0);
  b.click("/b", 2, 1);
  EXPECT_EQ(b.total("/a"), 1) << "restored: offset 0 already included";
  EXPECT_EQ(b.total("/b"), 2) << "rebuilt from its records despite the floor of 2";
}

TEST_F(consume_restore, a_state_under_another_key_or_partition_is_unreadable) {
  a.click("/a", 1, 0);
  const auto writes = a.handler.on_snapshot(0);
  ASSERT_EQ(writes.size(), 1u);
  side b(clock);
  const std::string other_key = model::series_key("app", clicks("/z", 0));
  const std::vector<transport::changelog_entry> wrong_key = {{other_key, *writes[0].value}};
  EXPECT_EQ(b.handler.on_restore(0, wrong_key, 1).replay_from, 0);
  const std::vector<transport::changelog_entry> right = {{writes[0].key, *writes[0].value}};
  EXPECT_EQ(b.handler.on_restore(3, right, 1).replay_from, 0) << "partition 0's state in 3";
  EXPECT_EQ(b.handler.stats().unreadable_states, 2u);
}

TEST_F(consume_restore, states_past_the_ttl_ask_for_no_replay) {
  a.click("/old", 1, 0);
  log.write(a.handler.on_snapshot(0));
  clock.advance(std::chrono::milliseconds(kTtlMs + 1));
  a.click("/new", 1, 7);
  log.write(a.handler.on_snapshot(0));

  side b(clock);
  const auto entries = log.entries();
  EXPECT_EQ(b.handler.on_restore(0, entries, 8).replay_from, 8);
  EXPECT_EQ(b.total("/old"), -1);
  EXPECT_EQ(b.total("/new"), 1);
}

}  // namespace
}  // namespace mca::pipeline
