// Counters and histograms in the store: summing, bucketing, type conflicts, the caps counting
// exposed series, TTL, and the snapshot API the aggregate changelog builds on (offsets, dirty and
// expired sets, restore with a floor). Ends with a model-based randomised test against a plain
// map model of what each aggregate must hold.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "store/series_store.h"

namespace mca::store {
namespace {

using model::metric_type;

model::metric agg(std::string name, metric_type type, double value,
                  std::vector<model::tag> tags = {{"page", "/"}}, std::int64_t ts = 1'000) {
  model::metric m;
  m.name = std::move(name);
  m.type = type;
  m.value = value;
  m.timestamp_ms = ts;
  m.tags = std::move(tags);
  m.profile_id = "p1";
  return m;
}
model::metric counter(std::string name, double v, std::vector<model::tag> tags = {{"page", "/"}}) {
  return agg(std::move(name), metric_type::counter, v, std::move(tags));
}
model::metric histogram(std::string name, double v,
                        std::vector<model::tag> tags = {{"page", "/"}}) {
  return agg(std::move(name), metric_type::histogram, v, std::move(tags));
}
model::metric gauge(std::string name, double v, std::vector<model::tag> tags = {{"page", "/"}}) {
  return agg(std::move(name), metric_type::gauge, v, std::move(tags));
}

store_limits limits_with(std::vector<std::pair<std::string, std::vector<double>>> layouts,
                         std::size_t max_series = 1000, std::size_t per_app = 1000,
                         std::int64_t ttl = 60'000) {
  store_limits l;
  l.max_series = max_series;
  l.max_series_per_app = per_app;
  l.ttl_ms = ttl;
  l.buckets = model::bucket_layouts(std::move(layouts), {1, 2, 5});
  return l;
}

struct aggregates : ::testing::Test {
  util::manual_clock clock;
  std::unique_ptr<series_store> store =
      std::make_unique<series_store>(limits_with({{"lat", {10, 20, 50}}}), clock);
  std::int64_t now() const { return clock.now_ms(); }

  series only(std::string_view app = "a") {
    auto all = store->app_series(app);
    EXPECT_EQ(all.size(), 1u);
    return all.empty() ? series{} : all.front();
  }
  std::vector<series_view> walk_copy(std::vector<std::vector<std::uint64_t>>& buckets) {
    std::vector<series_view> out;
    store->for_each_sorted([&](const series_view& v) {
      out.push_back(v);
      buckets.emplace_back(v.buckets.begin(), v.buckets.end());
    });
    return out;
  }
};

TEST_F(aggregates, a_counter_sums_increments_across_clients) {
  for (int i = 0; i < 10; ++i) {
    auto m = counter("clicks", 1.5);
    m.profile_id = "client-" + std::to_string(i);
    store->apply("a", m, 0, now());
  }
  const series s = only();
  EXPECT_EQ(s.type, metric_type::counter);
  EXPECT_DOUBLE_EQ(s.sum, 15);
  EXPECT_DOUBLE_EQ(s.value, 15);
  EXPECT_EQ(s.count, 10u);
  EXPECT_TRUE(s.bounds.empty());
  EXPECT_TRUE(s.buckets.empty());
}

TEST_F(aggregates, a_histogram_counts_each_observation_in_its_le_bucket) {
  // Bounds 10, 20, 50: le semantics (a value equal to a bound is in that bucket), +Inf last.
  for (double v : {0.0, 10.0, 10.5, 20.0, 49.0, 50.0, 51.0, 1e9, -3.0})
    store->apply("a", histogram("lat", v), 0, now());
  const series s = only();
  EXPECT_EQ(s.type, metric_type::histogram);
  EXPECT_EQ(s.bounds, (std::vector<double>{10, 20, 50}));
  EXPECT_EQ(s.buckets, (std::vector<std::uint64_t>{3, 2, 2, 2}));
  EXPECT_EQ(s.count, 9u);
  EXPECT_DOUBLE_EQ(s.sum, 0 + 10 + 10.5 + 20 + 49 + 50 + 51 + 1e9 - 3);
}

TEST_F(aggregates, a_histogram_without_a_named_layout_takes_the_default) {
  store->apply("a", histogram("other", 3), 0, now());
  EXPECT_EQ(only().bounds, (std::vector<double>{1, 2, 5}));
}

TEST_F(aggregates, web_vitals_layouts_are_built_in) {
  store = std::make_unique<series_store>(store_limits{}, clock);
  store->apply("a", histogram("web_vitals_lcp", 2500), 0, now());
  const series s = only();
  EXPECT_TRUE(std::count(s.bounds.begin(), s.bounds.end(), 2500.0));
  EXPECT_TRUE(std::count(s.bounds.begin(), s.bounds.end(), 4000.0));
}

TEST_F(aggregates, the_walk_shows_type_and_buckets) {
  store->apply("a", histogram("lat", 15), 0, now());
  store->apply("a", counter("clicks", 2), 0, now());
  store->apply("a", gauge("temp", 7), 0, now());
  std::vector<std::vector<std::uint64_t>> buckets;
  const auto views = walk_copy(buckets);
  ASSERT_EQ(views.size(), 3u);
  EXPECT_EQ(views[0].exposition_name, "client_metric_clicks");
  EXPECT_EQ(views[0].type, metric_type::counter);
  EXPECT_DOUBLE_EQ(views[0].value, 2);
  EXPECT_EQ(views[1].type, metric_type::histogram);
  EXPECT_EQ(buckets[1], (std::vector<std::uint64_t>{0, 1, 0, 0}));
  EXPECT_EQ(views[1].count, 1u);
  EXPECT_EQ(views[2].type, metric_type::gauge);
  EXPECT_TRUE(buckets[2].empty());
}

TEST_F(aggregates, another_type_for_a_held_series_or_family_is_dropped_and_counted) {
  EXPECT_EQ(store->apply("a", counter("x", 1), 0, now()), apply_result::inserted);
  EXPECT_EQ(store->apply("a", gauge("x", 1), 0, now()), apply_result::type_conflict);
  // Another series (tags) and another app: the family is one, and instance-wide.
  EXPECT_EQ(store->apply("a", histogram("x", 1, {}), 0, now()), apply_result::type_conflict);
  EXPECT_EQ(store->apply("b", gauge("x", 1, {}), 0, now()), apply_result::type_conflict);
  // A spelling that sanitises alike is the same family.
  EXPECT_EQ(store->apply("b", gauge("x", 1, {}), 0, now()), apply_result::type_conflict);
  EXPECT_EQ(store->stats().type_conflicts, 4u);
  EXPECT_DOUBLE_EQ(only().sum, 1);
}

TEST_F(aggregates, families_whose_exposed_names_meet_conflict) {
  // counter x exposes client_metric_x_total: gauge x_total and histogram x_total meet it.
  store->apply("a", counter("x", 1), 0, now());
  EXPECT_EQ(store->apply("a", gauge("x_total", 1), 0, now()), apply_result::type_conflict);
  EXPECT_EQ(store->apply("a", histogram("x_total", 1), 0, now()), apply_result::type_conflict);
  // histogram h exposes h, h_bucket, h_sum, h_count.
  store->apply("a", histogram("h", 1), 0, now());
  for (const char* n : {"h_bucket", "h_sum", "h_count"})
    EXPECT_EQ(store->apply("a", gauge(n, 1), 0, now()), apply_result::type_conflict) << n;
  // The other way round: held gauges g_total and k_sum.
  store->apply("a", gauge("g_total", 1), 0, now());
  store->apply("a", gauge("k_sum", 1), 0, now());
  EXPECT_EQ(store->apply("a", counter("g", 1), 0, now()), apply_result::type_conflict);
  EXPECT_EQ(store->apply("a", histogram("k", 1), 0, now()), apply_result::type_conflict);
  // No meeting: counter h_sum exposes h_sum_total; gauge y beside counter x.
  EXPECT_EQ(store->apply("a", counter("h_sum", 1), 0, now()), apply_result::inserted);
  EXPECT_EQ(store->apply("a", gauge("y", 1), 0, now()), apply_result::inserted);
  EXPECT_EQ(store->stats().type_conflicts, 7u);
}

TEST_F(aggregates, a_family_freed_by_expiry_takes_a_new_type) {
  store->apply("a", counter("x", 1), 0, now());
  clock.advance(std::chrono::milliseconds(60'001));
  EXPECT_EQ(store->expire(), 1u);
  EXPECT_EQ(store->apply("a", gauge("x", 5), 0, now()), apply_result::inserted);
}

TEST_F(aggregates, caps_count_buckets_plus_three_for_a_histogram) {
  // Layout "lat" has 3 bounds: 6 exposed series. Per-app cap 10: one histogram (6) and four
  // counters fit; the fifth counter does not.
  store = std::make_unique<series_store>(limits_with({{"lat", {10, 20, 50}}}, 1000, 10), clock);
  EXPECT_EQ(store->apply("a", histogram("lat", 1), 0, now()), apply_result::inserted);
  EXPECT_EQ(store->stats().exposed, 6u);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(store->apply("a", counter("c", 1, {{"i", std::to_string(i)}}), 0, now()),
              apply_result::inserted);
  EXPECT_EQ(store->stats().exposed, 10u);
  EXPECT_EQ(store->apply("a", counter("c", 1, {{"i", "x"}}), 0, now()), apply_result::dropped_app);
  // A second histogram needs 6: refused; updates of held series always apply.
  EXPECT_EQ(store->apply("a", histogram("lat", 1, {}), 0, now()), apply_result::dropped_app);
  EXPECT_EQ(store->apply("a", histogram("lat", 1), 0, now()), apply_result::updated);
  // Global cap 8: a histogram of 6 fits beside one gauge and one counter; then nothing new.
  store = std::make_unique<series_store>(limits_with({{"lat", {10, 20, 50}}}, 8, 100), clock);
  EXPECT_EQ(store->apply("a", gauge("g", 1), 0, now()), apply_result::inserted);
  EXPECT_EQ(store->apply("b", histogram("lat", 1), 0, now()), apply_result::inserted);
  EXPECT_EQ(store->apply("c", counter("c", 1), 0, now()), apply_result::inserted);
  EXPECT_EQ(store->apply("c", counter("c", 1, {}), 0, now()), apply_result::dropped_global);
  EXPECT_EQ(store->stats().exposed, 8u);
  // Removal gives the budget back.
  EXPECT_EQ(store->drop_partition(0), 3u);
  EXPECT_EQ(store->stats().exposed, 0u);
  EXPECT_EQ(store->apply("c", histogram("lat", 1), 0, now()), apply_result::inserted);
}

TEST_F(aggregates, an_expired_counter_starts_again_from_zero) {
  store->apply("a", counter("x", 5), 0, now());
  clock.advance(std::chrono::milliseconds(60'001));
  // Not swept yet: hidden from readers, and the next record starts it again.
  EXPECT_TRUE(store->app_series("a").empty());
  EXPECT_EQ(store->apply("a", counter("x", 2), 0, now()), apply_result::inserted);
  EXPECT_DOUBLE_EQ(only().sum, 2);
  clock.advance(std::chrono::milliseconds(60'001));
  EXPECT_EQ(store->expire(), 1u);
  EXPECT_EQ(store->apply("a", counter("x", 3), 0, now()), apply_result::inserted);
  EXPECT_DOUBLE_EQ(only().sum, 3);
}

// --- the snapshot API ----------------------------------------------------------------------

TEST_F(aggregates, offsets_make_a_replay_exactly_once) {
  EXPECT_EQ(store->apply("a", counter("x", 1), 3, now(), 10), apply_result::inserted);
  EXPECT_EQ(store->apply("a", counter("x", 1), 3, now(), 11), apply_result::updated);
  // A replay of 10 and 11 is skipped and counted; 12 applies.
  EXPECT_EQ(store->apply("a", counter("x", 1), 3, now(), 10), apply_result::replayed);
  EXPECT_EQ(store->apply("a", counter("x", 1), 3, now(), 11), apply_result::replayed);
  EXPECT_EQ(store->apply("a", counter("x", 1), 3, now(), 12), apply_result::updated);
  // No offset: always applied.
  EXPECT_EQ(store->apply("a", counter("x", 1), 3, now()), apply_result::updated);
  EXPECT_DOUBLE_EQ(only().sum, 4);
  EXPECT_EQ(store->stats().replayed, 2u);
  // Gauges ignore offsets.
  EXPECT_EQ(store->apply("a", gauge("g", 1), 3, now(), 5), apply_result::inserted);
  EXPECT_EQ(store->apply("a", gauge("g", 2), 3, now(), 1), apply_result::updated);
  // A batch carries offsets too.
  const auto m = counter("x", 1);
  const sample batch[] = {{"a", &m, 3, now(), 12}, {"a", &m, 3, now(), 13}};
  apply_result results[2];
  store->apply_batch(batch, results);
  EXPECT_EQ(results[0], apply_result::replayed);
  EXPECT_EQ(results[1], apply_result::updated);
}

TEST_F(aggregates, take_dirty_returns_changed_aggregates_once_with_next_offset) {
  const std::int64_t ingest = now() - 5'000;
  store->apply("a", counter("x", 2), 1, ingest, 7);
  store->apply("a", histogram("lat", 15, {{"k", "v"}, {"b", "c"}}), 1, ingest, 8);
  store->apply("a", gauge("g", 1), 1, now(), 9);
  store->apply("a", counter("y", 1), 2, now(), 3);
  auto d = store->take_dirty(1);
  ASSERT_EQ(d.size(), 2u);
  std::sort(d.begin(), d.end(),
            [](const auto& a, const auto& b) { return a.metric.name < b.metric.name; });
  const aggregate_state& h = d[0];
  EXPECT_EQ(h.app_id, "a");
  EXPECT_EQ(h.metric.name, "lat");
  EXPECT_EQ(h.metric.type, metric_type::histogram);
  EXPECT_EQ(h.metric.tags, (std::vector<model::tag>{{"k", "v"}, {"b", "c"}}));  // as received
  EXPECT_EQ(h.metric.profile_id, "p1");
  EXPECT_EQ(h.metric.timestamp_ms, 1'000);
  EXPECT_EQ(h.partition, 1);
  EXPECT_EQ(h.ingest_ms, ingest);
  EXPECT_EQ(h.bounds, (std::vector<double>{10, 20, 50}));
  EXPECT_EQ(h.buckets, (std::vector<std::uint64_t>{0, 1, 0, 0}));
  EXPECT_EQ(h.count, 1u);
  EXPECT_DOUBLE_EQ(h.sum, 15);
  EXPECT_EQ(h.next_offset, 9);
  EXPECT_EQ(d[1].metric.name, "x");
  EXPECT_DOUBLE_EQ(d[1].sum, 2);
  EXPECT_EQ(d[1].count, 1u);
  EXPECT_EQ(d[1].next_offset, 8);
  EXPECT_TRUE(d[1].bounds.empty());
  EXPECT_TRUE(d[1].buckets.empty());
  // Cleared; a change marks again, once however many records.
  EXPECT_TRUE(store->take_dirty(1).empty());
  EXPECT_EQ(store->apply("a", counter("x", 1), 1, now(), 10), apply_result::updated);
  EXPECT_EQ(store->apply("a", counter("x", 1), 1, now(), 11), apply_result::updated);
  d = store->take_dirty(1);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_DOUBLE_EQ(d[0].sum, 4);
  EXPECT_EQ(d[0].next_offset, 12);
  // The changelog key is model::series_key.
  EXPECT_EQ(model::series_key(d[0].app_id, d[0].metric), model::series_key("a", counter("x", 1)));
  EXPECT_EQ(store->take_dirty(2).size(), 1u);
}

TEST_F(aggregates, mark_all_dirty_marks_every_aggregate_of_the_partition) {
  store->apply("a", counter("x", 1), 1, now(), 1);
  store->apply("a", counter("y", 1), 1, now(), 2);
  store->apply("a", counter("z", 1), 2, now(), 1);
  store->apply("a", gauge("g", 1), 1, now(), 3);
  EXPECT_EQ(store->take_dirty(1).size(), 2u);
  store->mark_all_dirty(1);
  EXPECT_EQ(store->take_dirty(1).size(), 2u);
  EXPECT_TRUE(store->take_dirty(1).empty());
  EXPECT_EQ(store->take_dirty(2).size(), 1u);
}

TEST_F(aggregates, take_expired_returns_keys_of_swept_aggregates) {
  store->apply("a", counter("x", 1, {{"b", "2"}, {"a", "1"}}), 1, now(), 1);
  store->apply("a", histogram("lat", 1), 1, now(), 2);
  store->apply("a", gauge("g", 1), 1, now(), 3);
  store->apply("a", counter("keep", 1), 2, now(), 3);
  clock.advance(std::chrono::milliseconds(30'000));
  store->apply("a", counter("keep", 1), 2, now(), 4);
  clock.advance(std::chrono::milliseconds(30'001));
  EXPECT_EQ(store->expire(), 3u);
  auto keys = store->take_expired(1);
  std::sort(keys.begin(), keys.end());
  std::vector<std::string> want = {
      model::series_key("a", counter("x", 1, {{"b", "2"}, {"a", "1"}})),
      model::series_key("a", histogram("lat", 1))};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(keys, want);
  EXPECT_TRUE(store->take_expired(1).empty());
  EXPECT_TRUE(store->take_expired(2).empty());
  // Expired while dirty: not offered by take_dirty any more.
  EXPECT_TRUE(store->take_dirty(1).empty());
}

TEST_F(aggregates, restore_loads_states_and_applies_only_records_from_the_floor) {
  const aggregate_state c{.app_id = "a",
                          .metric = counter("x", 0),
                          .partition = 4,
                          .ingest_ms = now(),
                          .sum = 100,
                          .count = 7,
                          .bounds = {},
                          .buckets = {},
                          .next_offset = 50};
  const aggregate_state h{.app_id = "a",
                          .metric = histogram("lat", 0),
                          .partition = 4,
                          .ingest_ms = now(),
                          .sum = 30,
                          .count = 3,
                          .bounds = {1, 100},  // not the configured layout: a series keeps its own
                          .buckets = {1, 1, 1},
                          .next_offset = 40};
  aggregate_state old = c;  // past the TTL: skipped
  old.metric.name = "old";
  old.ingest_ms = now() - 60'001;
  aggregate_state bad = h;  // buckets not bounds + 1: skipped
  bad.metric.name = "bad";
  bad.buckets = {1};
  const std::vector<aggregate_state> states = {c, h, old, bad};
  store->restore(4, states, 60);
  // Restored states are not dirty.
  EXPECT_TRUE(store->take_dirty(4).empty());
  auto all = store->app_series("a");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].original_name, "lat");
  EXPECT_EQ(all[0].bounds, (std::vector<double>{1, 100}));
  EXPECT_EQ(all[0].buckets, (std::vector<std::uint64_t>{1, 1, 1}));
  EXPECT_DOUBLE_EQ(all[1].sum, 100);
  // Held series: their next_offset decides. x is at 50: 49 skipped, 50 applied.
  EXPECT_EQ(store->apply("a", counter("x", 1), 4, now(), 49), apply_result::replayed);
  EXPECT_EQ(store->apply("a", counter("x", 1), 4, now(), 50), apply_result::updated);
  // lat is at 40: 45 applies (it is not in the state).
  EXPECT_EQ(store->apply("a", histogram("lat", 500), 4, now(), 45), apply_result::updated);
  // A series the store does not hold: below the floor it is in no state because it expired or
  // was counted in one that did: skipped; from the floor on, applied.
  EXPECT_EQ(store->apply("a", counter("new", 1), 4, now(), 59), apply_result::replayed);
  EXPECT_EQ(store->apply("a", counter("new", 1), 4, now(), 60), apply_result::inserted);
  // Other partitions have floor 0.
  EXPECT_EQ(store->apply("a", counter("p5", 1), 5, now(), 0), apply_result::inserted);
  auto d = store->take_dirty(4);
  EXPECT_EQ(d.size(), 3u);
  EXPECT_EQ(store->stats().replayed, 2u);
  // drop_partition drops the aggregates and the floor.
  EXPECT_EQ(store->drop_partition(4), 3u);
  EXPECT_EQ(store->apply("a", counter("new", 1), 4, now(), 1), apply_result::inserted);
}

TEST_F(aggregates, restore_keeps_a_held_series_that_is_further_along) {
  store->apply("a", counter("x", 1), 0, now(), 9);
  aggregate_state st{.app_id = "a",
                     .metric = counter("x", 0),
                     .ingest_ms = now(),
                     .sum = 50,
                     .count = 3,
                     .bounds = {},
                     .buckets = {},
                     .next_offset = 5};  // behind the held series (next 10)
  store->restore(0, std::span(&st, 1), 0);
  EXPECT_DOUBLE_EQ(only().sum, 1);
  st.next_offset = 10;
  store->restore(0, std::span(&st, 1), 0);
  EXPECT_DOUBLE_EQ(only().sum, 50);
}

TEST_F(aggregates, restore_respects_the_caps_and_type_conflicts) {
  store = std::make_unique<series_store>(limits_with({}, 1000, 5), clock);
  store->apply("a", gauge("g", 1), 0, now());
  const aggregate_state h{.app_id = "a",
                          .metric = histogram("lat", 0),
                          .ingest_ms = now(),
                          .bounds = {1},
                          .buckets = {0, 0}};
  aggregate_state conflicting = h;
  conflicting.metric.name = "g";
  const std::vector<aggregate_state> states = {h, conflicting};
  store->restore(0, states, 0);
  // 1 + (1 + 3) = 5 fits; the histogram named like the gauge conflicts.
  EXPECT_EQ(store->stats().exposed, 5u);
  EXPECT_EQ(store->stats().type_conflicts, 1u);
}

TEST_F(aggregates, a_restored_state_round_trips_through_take_dirty) {
  store->apply("a", histogram("lat", 12, {{"z", "1"}, {"a", "2"}}), 2, now(), 3);
  store->apply("a", counter("c", 2.5), 2, now(), 4);
  const auto states = store->take_dirty(2);
  series_store other(limits_with({}), clock);
  other.restore(2, states, 5);
  other.mark_all_dirty(2);
  auto again = other.take_dirty(2);
  auto sorted = states;
  const auto by_name = [](const auto& a, const auto& b) { return a.metric.name < b.metric.name; };
  std::sort(sorted.begin(), sorted.end(), by_name);
  std::sort(again.begin(), again.end(), by_name);
  EXPECT_EQ(again, sorted);
}

// --- model-based ---------------------------------------------------------------------------

// Random counters, histograms and gauges (a few names and tag sets, several apps and partitions),
// with replays, expiry, partition drops, snapshots and restores into a second store, checked
// after every step against a map keyed by series_key.
struct model_state {
  metric_type type = metric_type::gauge;
  double sum = 0;
  std::uint64_t count = 0;
  std::vector<std::uint64_t> buckets;
  std::int64_t next_offset = 0;
  std::int64_t ingest_ms = 0;
  std::int32_t partition = 0;
};

TEST(aggregates_model, random_operations_match_a_plain_model) {
  const std::vector<double> lat = {10, 20, 50};
  const std::vector<double> fallback = {1, 2, 5};
  const std::int64_t ttl = 10'000;
  for (std::uint32_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    const auto num = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
    util::manual_clock clock;
    auto store =
        std::make_unique<series_store>(limits_with({{"lat", lat}}, 1000, 1000, ttl), clock);
    std::map<std::string, model_state> want;
    std::map<std::int32_t, std::int64_t> next_offset;  // per partition: offsets increase
    const std::vector<std::string> apps = {"a", "b"};
    const std::vector<std::pair<std::string, metric_type>> names = {
        {"lat", metric_type::histogram},
        {"other_h", metric_type::histogram},
        {"clicks", metric_type::counter},
        {"temp", metric_type::gauge}};
    const auto expired = [&](const model_state& s) { return s.ingest_ms < clock.now_ms() - ttl; };
    for (int step = 0; step < 400; ++step) {
      SCOPED_TRACE("step " + std::to_string(step));
      const int op = num(100);
      if (op < 70) {
        const auto& [name, type] = names[num(static_cast<int>(names.size()))];
        const std::string app = apps[num(2)];
        model::metric m = agg(name, type, num(120) - 10, {{"t", std::to_string(num(3))}});
        const std::string key = model::series_key(app, m);
        const std::int32_t partition = static_cast<std::int32_t>(std::hash<std::string>{}(key) %
                                                                 3);  // one series, one partition
        // Mostly the next offset; sometimes a replay of an older one.
        std::int64_t& next = next_offset[partition];
        const bool replay = next > 0 && num(5) == 0;
        const std::int64_t offset = replay ? num(static_cast<int>(next)) : next++;
        const apply_result r = store->apply(app, m, partition, clock.now_ms(), offset);
        auto it = want.find(key);
        if (it != want.end() && expired(it->second)) {
          if (!replay || type == metric_type::gauge) want.erase(it);
          it = want.end();
        }
        if (type == metric_type::gauge) {
          ASSERT_TRUE(r == apply_result::inserted || r == apply_result::updated);
          auto& s = want[key];
          s.type = type;
          s.ingest_ms = clock.now_ms();
          s.partition = partition;
          continue;
        }
        const bool held = it != want.end();
        if (held ? offset < it->second.next_offset : replay) {
          // Offsets below the series' next offset, or (not held) below the floor, which is 0
          // here unless a restore set it: a replayed offset of a series not held may be new.
          if (held || offset < 0) {
            ASSERT_EQ(r, apply_result::replayed);
            continue;
          }
        }
        if (r == apply_result::replayed) {
          ASSERT_FALSE(held);
          continue;
        }
        ASSERT_TRUE(r == apply_result::inserted || r == apply_result::updated) << int(r);
        auto& s = want[key];
        if (!held) s = model_state{type, 0, 0, {}, 0, 0, partition};
        const auto& bounds = name == "lat" ? lat : fallback;
        if (type == metric_type::histogram && s.buckets.empty()) s.buckets.assign(4, 0);
        s.sum += m.value;
        ++s.count;
        if (type == metric_type::histogram)
          ++s.buckets[std::lower_bound(bounds.begin(), bounds.end(), m.value) - bounds.begin()];
        s.next_offset = offset + 1;
        s.ingest_ms = clock.now_ms();
      } else if (op < 78) {
        clock.advance(std::chrono::milliseconds(num(4'000)));
      } else if (op < 84) {
        store->expire();
        std::erase_if(want, [&](const auto& kv) { return expired(kv.second); });
      } else if (op < 88) {
        const auto p = static_cast<std::int32_t>(num(3));
        store->drop_partition(p);
        std::erase_if(want, [&](const auto& kv) { return kv.second.partition == p; });
      } else {
        // Snapshot every partition into a fresh store (the way a new owner restores) and
        // continue with it; the floor is each partition's next offset.
        auto next_store =
            std::make_unique<series_store>(limits_with({{"lat", lat}}, 1000, 1000, ttl), clock);
        for (std::int32_t p = 0; p < 3; ++p) {
          store->mark_all_dirty(p);
          const auto states = store->take_dirty(p);
          next_store->restore(p, states, next_offset[p]);
        }
        store = std::move(next_store);
        // Gauges are not in the changelog.
        std::erase_if(want, [&](const auto& kv) {
          return kv.second.type == metric_type::gauge || expired(kv.second);
        });
      }
      // Compare every live aggregate (the walk hides expired series).
      std::map<std::string, model_state> got;
      store->for_each_sorted([&](const series_view& v) {
        model::metric m;
        m.name = std::string(v.original_name);
        for (const auto& [k, val] : v.labels) m.tags.emplace_back(k, val);
        model_state s;
        s.type = v.type;
        s.sum = v.type == metric_type::gauge ? 0 : v.sum;
        s.count = v.count;
        s.buckets.assign(v.buckets.begin(), v.buckets.end());
        got[model::series_key(v.app_id, m)] = s;
      });
      std::size_t live = 0;
      for (const auto& [key, s] : want) {
        if (expired(s)) continue;
        ++live;
        auto it = got.find(key);
        ASSERT_NE(it, got.end());
        ASSERT_EQ(it->second.type, s.type);
        if (s.type == metric_type::gauge) continue;
        ASSERT_DOUBLE_EQ(it->second.sum, s.sum);
        ASSERT_EQ(it->second.count, s.count);
        ASSERT_EQ(it->second.buckets, s.buckets);
      }
      ASSERT_EQ(got.size(), live);
    }
  }
}

}  // namespace
}  // namespace mca::store
