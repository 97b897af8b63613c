#include "store/series_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "series_copy.h"

namespace mca::store {
namespace {

using test::copy_of;

using namespace std::chrono_literals;

constexpr std::int64_t old_client_ts = 1'640'995'200'000;  // 2022-01-01, as clients often send

model::metric sample(std::string name, double value, std::int64_t ts,
                     std::vector<model::tag> tags = {{"host", "server1"}}) {
  return model::metric{std::move(name), value, ts, std::move(tags), "profile123"};
}

struct store_fixture : ::testing::Test {
  util::manual_clock clock;
  store_limits limits{.max_series = 100, .max_series_per_app = 10, .ttl_ms = 60'000};
  std::unique_ptr<series_store> store = std::make_unique<series_store>(limits, clock);

  void reset(store_limits l) {
    limits = l;
    store = std::make_unique<series_store>(limits, clock);
  }
  std::int64_t now() const { return clock.now_ms(); }
  std::vector<series> all() const {
    std::vector<series> out;
    store->for_each_sorted([&](const series_view& s) { out.push_back(copy_of(s)); });
    return out;
  }
};

TEST_F(store_fixture, inserts_a_new_series_with_sanitised_sorted_labels) {
  auto m = sample("cpu.usage", 75.5, old_client_ts, {{"host", "server1"}, {"env-name", "prod"}});
  EXPECT_EQ(store->apply("my-app", m, 2, now()), apply_result::inserted);
  const auto got = store->app_series("my-app");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].app_id, "my-app");
  EXPECT_EQ(got[0].exposition_name, "client_metric_cpu_usage");
  EXPECT_EQ(got[0].original_name, "cpu.usage");
  EXPECT_EQ(got[0].labels, (std::vector<model::tag>{{"env_name", "prod"}, {"host", "server1"}}));
  EXPECT_EQ(got[0].tags, m.tags);
  EXPECT_EQ(got[0].value, 75.5);
  EXPECT_EQ(got[0].timestamp_ms, old_client_ts);
  EXPECT_EQ(got[0].ingest_ms, now());
  EXPECT_EQ(got[0].profile_id, "profile123");
  EXPECT_EQ(got[0].partition, 2);
  EXPECT_EQ(store->stats().series, 1u);
}

TEST_F(store_fixture, replaces_sample_when_newer_arrives) {
  store->apply("a", sample("m", 1, 1000), 0, now());
  EXPECT_EQ(store->apply("a", sample("m", 2, 2000), 0, now()), apply_result::updated);
  const auto got = store->app_series("a");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].value, 2);
  EXPECT_EQ(got[0].timestamp_ms, 2000);
}

TEST_F(store_fixture, keeps_newest_sample_when_older_arrives_late) {
  store->apply("a", sample("m", 2, 2000), 0, now());
  EXPECT_EQ(store->apply("a", sample("m", 1, 1000), 0, now()), apply_result::stale);
  const auto got = store->app_series("a");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].value, 2);
  EXPECT_EQ(store->stats().stale, 1u);
}

TEST_F(store_fixture, later_record_wins_on_equal_timestamps) {
  store->apply("a", sample("m", 1, 1000), 0, now());
  EXPECT_EQ(store->apply("a", sample("m", 7, 1000), 0, now()), apply_result::updated);
  EXPECT_EQ(store->app_series("a").at(0).value, 7);
}

TEST_F(store_fixture, tag_order_does_not_make_a_new_series) {
  store->apply("a", sample("m", 1, 1000, {{"x", "1"}, {"y", "2"}}), 0, now());
  EXPECT_EQ(store->apply("a", sample("m", 2, 2000, {{"y", "2"}, {"x", "1"}}), 0, now()),
            apply_result::updated);
  EXPECT_EQ(store->stats().series, 1u);
}

TEST_F(store_fixture, update_refreshes_original_name_tags_profile_and_partition) {
  store->apply("a", sample("m.x", 1, 1000), 0, now());
  auto m = sample("m-x", 2, 2000);
  m.profile_id = "p2";
  store->apply("a", m, 5, now());
  const auto got = store->app_series("a").at(0);
  EXPECT_EQ(got.original_name, "m-x");
  EXPECT_EQ(got.profile_id, "p2");
  EXPECT_EQ(got.partition, 5);
}

TEST_F(store_fixture, old_client_timestamps_stay_visible_while_the_record_is_fresh) {
  store->apply("a", sample("m", 1, old_client_ts), 0, now());
  clock.advance(60s);
  EXPECT_EQ(store->expire(), 0u);
  EXPECT_EQ(store->app_series("a").size(), 1u);
}

TEST_F(store_fixture, series_expires_one_ms_after_ttl) {
  store->apply("a", sample("m", 1, old_client_ts), 0, now());
  clock.advance(60'000ms);
  EXPECT_EQ(all().size(), 1u);  // exactly ttl old: still live
  clock.advance(1ms);
  EXPECT_TRUE(all().empty());  // hidden from readers before the sweep
  EXPECT_TRUE(store->app_series("a").empty());
  EXPECT_EQ(store->stats().series, 1u);
  EXPECT_EQ(store->expire(), 1u);
  EXPECT_EQ(store->stats().series, 0u);
  EXPECT_EQ(store->stats().expired, 1u);
}

TEST_F(store_fixture, update_restarts_the_ttl) {
  store->apply("a", sample("m", 1, 1000), 0, now());
  clock.advance(50s);
  store->apply("a", sample("m", 2, 2000), 0, now());
  clock.advance(50s);
  EXPECT_EQ(store->expire(), 0u);
  EXPECT_EQ(store->app_series("a").size(), 1u);
}

TEST_F(store_fixture, ttl_runs_from_the_record_timestamp_not_apply_time) {
  store->apply("a", sample("m", 1, 1000), 0, now() - 61'000);
  EXPECT_TRUE(store->app_series("a").empty());
  EXPECT_EQ(store->expire(), 1u);
}

TEST_F(store_fixture, expired_unswept_series_is_replaced_even_by_an_older_timestamp) {
  store->apply("a", sample("m", 1, 5000), 0, now());
  clock.advance(61s);
  EXPECT_EQ(store->apply("a", sample("m", 2, 1000), 0, now()), apply_result::inserted);
  const auto got = store->app_series("a");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].value, 2);
  EXPECT_EQ(store->stats().series, 1u);
}

TEST_F(store_fixture, ttl_zero_never_expires) {
  reset({.max_series = 10, .max_series_per_app = 10, .ttl_ms = 0});
  store->apply("a", sample("m", 1, 1000), 0, now());
  clock.advance(std::chrono::hours(24 * 365 * 10));
  EXPECT_EQ(store->expire(), 0u);
  EXPECT_EQ(all().size(), 1u);
}

TEST_F(store_fixture, accepts_new_series_up_to_the_per_app_cap_and_drops_the_next) {
  reset({.max_series = 100, .max_series_per_app = 3, .ttl_ms = 0});
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(store->apply("a", sample("m" + std::to_string(i), 1, 1), 0, 1),
              apply_result::inserted);
  }
  EXPECT_EQ(store->apply("a", sample("m3", 1, 1), 0, 1), apply_result::dropped_app);
  EXPECT_EQ(store->stats().dropped_app, 1u);
  EXPECT_EQ(store->stats().series, 3u);
  // Another app has its own budget.
  EXPECT_EQ(store->apply("b", sample("m3", 1, 1), 0, 1), apply_result::inserted);
}

TEST_F(store_fixture, updates_an_existing_series_at_the_per_app_cap) {
  reset({.max_series = 100, .max_series_per_app = 1, .ttl_ms = 0});
  store->apply("a", sample("m", 1, 1), 0, 1);
  EXPECT_EQ(store->apply("a", sample("m", 2, 2), 0, 1), apply_result::updated);
  EXPECT_EQ(store->app_series("a").at(0).value, 2);
}

TEST_F(store_fixture, accepts_new_series_up_to_the_global_cap_and_drops_the_next) {
  reset({.max_series = 2, .max_series_per_app = 10, .ttl_ms = 0});
  EXPECT_EQ(store->apply("a", sample("m", 1, 1), 0, 1), apply_result::inserted);
  EXPECT_EQ(store->apply("b", sample("m", 1, 1), 0, 1), apply_result::inserted);
  EXPECT_EQ(store->apply("c", sample("m", 1, 1), 0, 1), apply_result::dropped_global);
  EXPECT_EQ(store->apply("a", sample("m", 5, 2), 0, 1), apply_result::updated);
  const auto st = store->stats();
  EXPECT_EQ(st.series, 2u);
  EXPECT_EQ(st.dropped_global, 1u);
  EXPECT_EQ(st.dropped_app, 0u);
}

TEST_F(store_fixture, removal_frees_cap_room) {
  reset({.max_series = 1, .max_series_per_app = 1, .ttl_ms = 0});
  store->apply("a", sample("m", 1, 1), 7, 1);
  EXPECT_EQ(store->apply("a", sample("n", 1, 1), 0, 1), apply_result::dropped_global);
  EXPECT_EQ(store->drop_partition(7), 1u);
  EXPECT_EQ(store->apply("a", sample("n", 1, 1), 0, 1), apply_result::inserted);
}

TEST_F(store_fixture, drop_partition_removes_only_series_last_written_from_it) {
  store->apply("a", sample("m1", 1, 1), 1, now());
  store->apply("a", sample("m2", 1, 1), 2, now());
  store->apply("a", sample("m3", 1, 1), 1, now());
  store->apply("a", sample("m3", 1, 2), 2, now());  // moved to partition 2 by its last write
  EXPECT_EQ(store->drop_partition(1), 1u);
  const auto got = store->app_series("a");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].original_name, "m2");
  EXPECT_EQ(got[1].original_name, "m3");
  EXPECT_EQ(store->stats().series, 2u);
  EXPECT_EQ(store->drop_partition(9), 0u);
}

TEST_F(store_fixture, app_series_returns_only_that_app_sorted) {
  store->apply("b", sample("z", 1, 1), 0, now());
  store->apply("a", sample("z", 1, 1), 0, now());
  store->apply("a", sample("b", 1, 1, {{"host", "y"}}), 0, now());
  store->apply("a", sample("b", 1, 1, {{"host", "x"}}), 0, now());
  const auto got = store->app_series("a");
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(std::tie(got[0].exposition_name, got[0].labels[0].second),
            std::tie("client_metric_b", "x"));
  EXPECT_EQ(got[1].labels[0].second, "y");
  EXPECT_EQ(got[2].exposition_name, "client_metric_z");
  EXPECT_TRUE(store->app_series("nope").empty());
}

TEST_F(store_fixture, for_each_sorted_orders_by_name_then_app_then_labels) {
  reset({.max_series = 100, .max_series_per_app = 100, .ttl_ms = 0});
  const std::vector<std::string> apps = {"c", "a", "b"};
  for (int i = 0; i < 40; ++i) {
    store->apply(apps[i % 3], sample("m" + std::to_string(i % 4), i, 1, {{"k", std::to_string(i)}}),
                 0, now());
  }
  const auto got = all();
  ASSERT_EQ(got.size(), 40u);
  for (std::size_t i = 1; i < got.size(); ++i) {
    EXPECT_LE(std::tie(got[i - 1].exposition_name, got[i - 1].app_id, got[i - 1].labels),
              std::tie(got[i].exposition_name, got[i].app_id, got[i].labels));
  }
  // Each family appears as one run.
  std::set<std::string> seen;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (i == 0 || got[i].exposition_name != got[i - 1].exposition_name) {
      EXPECT_TRUE(seen.insert(got[i].exposition_name).second) << got[i].exposition_name;
    }
  }
}

TEST_F(store_fixture, walk_reflects_inserts_updates_and_removals_between_walks) {
  const auto names = [&] {
    std::vector<std::pair<std::string, double>> out;
    store->for_each_sorted(
        [&](const series_view& s) { out.emplace_back(s.original_name, s.value); });
    return out;
  };
  store->apply("a", sample("b", 1, 1), 1, now());
  store->apply("a", sample("d", 1, 1), 2, now());
  EXPECT_EQ(names(), (std::vector<std::pair<std::string, double>>{{"b", 1}, {"d", 1}}));
  store->apply("a", sample("c", 1, 1), 1, now());
  EXPECT_EQ(names(), (std::vector<std::pair<std::string, double>>{{"b", 1}, {"c", 1}, {"d", 1}}));
  store->apply("a", sample("d", 9, 2), 2, now());  // update only: same order, new value
  EXPECT_EQ(names(), (std::vector<std::pair<std::string, double>>{{"b", 1}, {"c", 1}, {"d", 9}}));
  store->drop_partition(1);
  EXPECT_EQ(names(), (std::vector<std::pair<std::string, double>>{{"d", 9}}));
  store->apply("a", sample("a", 1, 1), 1, now());
  EXPECT_EQ(names(), (std::vector<std::pair<std::string, double>>{{"a", 1}, {"d", 9}}));
}

TEST_F(store_fixture, keeps_the_first_of_tags_that_collide_after_sanitising) {
  store->apply("a", sample("m", 1, 1, {{"a-b", "first"}, {"a.b", "second"}}), 0, now());
  const auto got = store->app_series("a").at(0);
  EXPECT_EQ(got.labels, (std::vector<model::tag>{{"a_b", "first"}}));
}

// Several writers race to create the same and distinct series under tight caps while readers walk
// the store. Afterwards the caps hold exactly and every outcome is accounted for.
TEST(series_store_concurrency, caps_stay_exact_and_reads_stay_ordered_under_concurrent_use) {
  util::manual_clock clock;
  const store_limits limits{.max_series = 150, .max_series_per_app = 40, .ttl_ms = 0};
  series_store store(limits, clock);
  constexpr int writers = 4;
  constexpr int per_writer = 2000;
  std::atomic<int> inserted{0}, updated{0}, stale{0}, dropped_app{0}, dropped_global{0};
  std::atomic<bool> writing{true};
  std::atomic<int> bad_reads{0}, reads{0};

  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < per_writer; ++i) {
        const std::string app = "app" + std::to_string(i % 5);
        const auto m = sample("m" + std::to_string((i * 7 + w) % 60), i, i);
        switch (store.apply(app, m, w, clock.now_ms())) {
          case apply_result::inserted:
            ++inserted;
            break;
          case apply_result::updated:
            ++updated;
            break;
          case apply_result::stale:
            ++stale;
            break;
          case apply_result::dropped_app:
            ++dropped_app;
            break;
          case apply_result::dropped_global:
            ++dropped_global;
            break;
        }
      }
    });
  }
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&] {
      do {
        std::vector<std::tuple<std::string, std::string>> seen;
        store.for_each_sorted(
            [&](const series_view& s) { seen.emplace_back(s.exposition_name, s.app_id); });
        if (!std::is_sorted(seen.begin(), seen.end()) || seen.size() > limits.max_series)
          ++bad_reads;
        for (int a = 0; a < 5; ++a) {
          if (store.app_series("app" + std::to_string(a)).size() > limits.max_series_per_app) {
            ++bad_reads;
          }
        }
        ++reads;
      } while (writing.load());
    });
  }
  for (int w = 0; w < writers; ++w) threads[w].join();
  writing = false;
  for (std::size_t t = writers; t < threads.size(); ++t) threads[t].join();

  EXPECT_EQ(bad_reads.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(inserted + updated + stale + dropped_app + dropped_global, writers * per_writer);
  // 5 apps x 60 names = 300 candidate series; 5 x 40 per-app room exceeds the global 150.
  const auto st = store.stats();
  EXPECT_EQ(st.series, limits.max_series);
  EXPECT_EQ(static_cast<std::size_t>(inserted.load()), limits.max_series);
  EXPECT_EQ(st.dropped_app, static_cast<std::uint64_t>(dropped_app.load()));
  EXPECT_EQ(st.dropped_global, static_cast<std::uint64_t>(dropped_global.load()));
  EXPECT_EQ(st.stale, static_cast<std::uint64_t>(stale.load()));
  std::size_t held = 0;
  for (int a = 0; a < 5; ++a) {
    const auto n = store.app_series("app" + std::to_string(a)).size();
    EXPECT_LE(n, limits.max_series_per_app);
    held += n;
  }
  EXPECT_EQ(held, limits.max_series);
}

}  // namespace
}  // namespace mca::store
