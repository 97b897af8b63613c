// The store against its previous implementation (tests/reference): random sequences of applies,
// batches, sweeps, partition drops and clock moves, with names and tag keys that collide after
// sanitising, tags out of order and duplicated, stale and equal timestamps, records already past
// their TTL and tight caps. After every step both must have returned the same results and show
// the same state: stats, the walk (every field), each app's series and the exposition text, byte
// for byte, with and without the app_id label.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "exposition/text_format.h"
#include "reference/reference_store.h"
#include "reference/render_reference.h"
#include "series_copy.h"
#include "store/series_store.h"

namespace mca::store {
namespace {

using test::copy_of;

const std::vector<std::string> app_pool = {"a", "b", "app-1", "c.d"};
// Names that sanitise alike: cpu.usage / cpu_usage / cpu-usage / "cpu usage"; multi-byte UTF-8.
const std::vector<std::string> name_pool = {
    "cpu.usage", "cpu_usage",         "cpu-usage", "cpu usage", "m",
    "m2",        "\xc3\xa9t\xc3\xa9", "__t",       "9lives",    "a:b"};
// Keys that sanitise alike (a-b / a.b / a_b; app_id / app-id -> tag_app_id; "__x" -> tag___x).
const std::vector<std::string> key_pool = {"host", "a-b", "a.b",  "a_b", "app_id",    "app-id",
                                           "__x",  "9k",  "zone", "k",   "tag_app_id"};
const std::vector<std::string> value_pool = {
    "", "x", "server1", "quote\"d", "back\\slash", "nl\n", "\xff\xfe", "\xc3\xa9", "y"};
const std::vector<std::string> profile_pool = {"p1", "p2", "profile-three"};

struct scenario {
  store_limits limits;
  bool big_values = false;  // 1 KiB values now and then (the caps' worst case)
};

class runner {
 public:
  runner(std::uint32_t seed, scenario sc)
      : rng_(seed), sc_(sc), ours_(sc.limits, clock_), ref_(sc.limits, clock_) {}

  void run(int steps) {
    for (int step = 0; step < steps; ++step) {
      SCOPED_TRACE("step " + std::to_string(step));
      const int op = num(100);
      if (op < 60) {
        const auto m = metric();
        const std::string app = app_pool[idx(app_pool.size())];
        const auto partition = static_cast<std::int32_t>(num(4));
        const std::int64_t ingest = ingest_ms();
        ASSERT_EQ(ours_.apply(app, m, partition, ingest), ref_.apply(app, m, partition, ingest));
      } else if (op < 75) {
        batch();
      } else if (op < 82) {
        ASSERT_EQ(ours_.expire(), ref_.expire());
      } else if (op < 86) {
        const auto p = static_cast<std::int32_t>(num(4));
        ASSERT_EQ(ours_.drop_partition(p), ref_.drop_partition(p));
      } else {
        clock_.advance(std::chrono::milliseconds(num(sc_.limits.ttl_ms / 4 + 2)));
      }
      ASSERT_NO_FATAL_FAILURE(compare_stats());
      if (step % 7 == 0) ASSERT_NO_FATAL_FAILURE(compare_all());
    }
    ASSERT_NO_FATAL_FAILURE(compare_all());
  }

 private:
  // Uniform in [0, n).
  std::size_t idx(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }
  std::int64_t num(std::int64_t n) {
    return std::uniform_int_distribution<std::int64_t>(0, std::max<std::int64_t>(n - 1, 0))(rng_);
  }

  model::metric metric() {
    model::metric m;
    m.name = name_pool[idx(name_pool.size())];
    m.value = static_cast<double>(num(std::int64_t{1000})) / 4;
    if (num(20) == 0) m.value = std::numeric_limits<double>::quiet_NaN();
    // A narrow range makes equal and older timestamps common.
    m.timestamp_ms = 1'000 + num(std::int64_t{6});
    const std::size_t n = num(4);
    for (std::size_t i = 0; i < n; ++i) {
      std::string value = value_pool[idx(value_pool.size())];
      if (sc_.big_values && num(3) == 0) value.append(1024 - value.size(), 'v');
      m.tags.emplace_back(key_pool[idx(key_pool.size())], std::move(value));
    }
    if (num(3) != 0) model::normalise(m);  // usually sorted, as the pipeline passes them
    m.profile_id = profile_pool[idx(profile_pool.size())];
    return m;
  }

  // Mostly fresh records, some already older than the TTL.
  std::int64_t ingest_ms() {
    const std::int64_t ttl = sc_.limits.ttl_ms == 0 ? 1000 : sc_.limits.ttl_ms;
    return clock_.now_ms() - num(ttl + ttl / 2);
  }

  void batch() {
    const std::size_t n = 1 + idx(12);
    std::vector<model::metric> ms;
    std::vector<std::string> apps;
    for (std::size_t i = 0; i < n; ++i) {
      ms.push_back(metric());
      apps.push_back(app_pool[idx(app_pool.size())]);
    }
    std::vector<sample> samples;
    std::vector<apply_result> expected;
    for (std::size_t i = 0; i < n; ++i) {
      samples.push_back({apps[i], &ms[i], static_cast<std::int32_t>(num(4)), ingest_ms()});
      expected.push_back(
          ref_.apply(apps[i], ms[i], samples.back().partition, samples.back().ingest_ms));
    }
    std::vector<apply_result> got(n);
    ours_.apply_batch(samples, got);
    ASSERT_EQ(got, expected);
  }

  void compare_stats() {
    const auto a = ours_.stats();
    const auto b = ref_.stats();
    ASSERT_EQ(a.series, b.series);
    ASSERT_EQ(a.dropped_global, b.dropped_global);
    ASSERT_EQ(a.dropped_app, b.dropped_app);
    ASSERT_EQ(a.stale, b.stale);
    ASSERT_EQ(a.expired, b.expired);
  }

  static std::string describe(const series& s) {
    std::string out = s.exposition_name + " " + s.app_id + " " + s.original_name + " {";
    for (const auto& [k, v] : s.labels) out += k + "=" + v + ",";
    out += "} [";
    for (const auto& [k, v] : s.tags) out += k + "=" + v + ",";
    out += "] " + std::to_string(s.value) + " " + std::to_string(s.timestamp_ms) + " " +
           std::to_string(s.ingest_ms) + " " + s.profile_id + " " + std::to_string(s.partition);
    return out;
  }
  // The text exposition keeps each gauge family's label text in the store and merges it with
  // the run (series joining, leaving, respelled), whichever of the walks settles the family:
  // every other comparison renders before walking, and renders twice.
  void compare_all() {
    const bool render_first = compares_++ % 2 == 1;
    if (render_first) ASSERT_NO_FATAL_FAILURE(compare_text());
    std::vector<std::string> walk_ours, walk_ref;
    ours_.for_each_sorted([&](const series_view& v) { walk_ours.push_back(describe(copy_of(v))); });
    ref_.for_each_sorted([&](const series& s) {
      series c = s;
      c.tags.clear();  // the walk does not show the original tags
      walk_ref.push_back(describe(c));
    });
    ASSERT_EQ(walk_ours, walk_ref);

    for (const auto& app : app_pool) {
      std::vector<std::string> a, b;
      for (const auto& s : ours_.app_series(app)) a.push_back(describe(s));
      for (const auto& s : ref_.app_series(app)) b.push_back(describe(s));
      ASSERT_EQ(a, b) << app;
    }
    ASSERT_NO_FATAL_FAILURE(compare_text());
  }

  void compare_text() {
    for (const bool with_app_id : {true, false}) {
      const exposition::render_options opts{.app_id_label = with_app_id};
      std::string a, b;
      exposition::render_series(ours_, opts, a);
      render_reference(ref_, opts, b);
      ASSERT_EQ(a, b) << "app_id label " << with_app_id;
    }
  }

  std::mt19937 rng_;
  scenario sc_;
  util::manual_clock clock_;
  series_store ours_;
  reference_store ref_;
  int compares_ = 0;
};

TEST(series_store_differential, matches_the_reference_with_roomy_caps_and_a_ttl) {
  for (std::uint32_t seed = 1; seed <= 60; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    runner r(seed,
             {.limits = {.max_series = 10'000, .max_series_per_app = 10'000, .ttl_ms = 60'000}});
    ASSERT_NO_FATAL_FAILURE(r.run(600));
  }
}

TEST(series_store_differential, matches_the_reference_at_tight_caps) {
  for (std::uint32_t seed = 100; seed <= 160; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    runner r(seed, {.limits = {.max_series = 25, .max_series_per_app = 9, .ttl_ms = 5'000}});
    ASSERT_NO_FATAL_FAILURE(r.run(600));
  }
}

TEST(series_store_differential, matches_the_reference_without_ttl_and_with_a_zero_app_cap) {
  for (std::uint32_t seed = 200; seed <= 230; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    runner r(seed, {.limits = {.max_series = 40, .max_series_per_app = 20, .ttl_ms = 0}});
    ASSERT_NO_FATAL_FAILURE(r.run(400));
  }
  runner zero(300, {.limits = {.max_series = 40, .max_series_per_app = 0, .ttl_ms = 0}});
  ASSERT_NO_FATAL_FAILURE(zero.run(200));
}

TEST(series_store_differential, matches_the_reference_with_kibibyte_tag_values) {
  for (std::uint32_t seed = 400; seed <= 420; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    runner r(seed, {.limits = {.max_series = 200, .max_series_per_app = 60, .ttl_ms = 30'000},
                    .big_values = true});
    ASSERT_NO_FATAL_FAILURE(r.run(300));
  }
}

}  // namespace
}  // namespace mca::store
