// Series identity and the store's write path: building + hashing a series key (what the
// producer uses as the Kafka key and the store shards by), and series_store::apply for an
// update of an existing series and for a new one.
#include <benchmark/benchmark.h>

#include <functional>
#include <string>
#include <vector>

#include "model/metric.h"
#include "store/series_store.h"
#include "util/clock.h"

namespace {

// prefix + number, appended (GCC 12 warns falsely, -Wrestrict, on a literal + std::string).
std::string numbered(const char* prefix, std::size_t n) {
  std::string s = prefix;
  s += std::to_string(n);
  return s;
}

mca::model::metric metric_of(std::size_t s) {
  mca::model::metric m;
  m.name = numbered("bench_metric_", s % 10);
  m.value = 0.5 + static_cast<double>(s);
  m.timestamp_ms = 1'700'000'000'000;
  m.tags = {{"host", numbered("host-", s % 97)}, {"series", numbered("s", s)}};
  m.profile_id = "bench-profile";
  return m;
}

void series_key_build(benchmark::State& st) {
  const auto m = metric_of(42);
  for (auto _ : st) {
    auto k = mca::model::series_key("bench-0", m);
    benchmark::DoNotOptimize(k);
  }
}
BENCHMARK(series_key_build);

void series_key_build_and_hash(benchmark::State& st) {
  const auto m = metric_of(42);
  for (auto _ : st) {
    const auto k = mca::model::series_key("bench-0", m);
    benchmark::DoNotOptimize(std::hash<std::string>{}(k));
  }
}
BENCHMARK(series_key_build_and_hash);

void series_key_hash_only(benchmark::State& st) {
  const auto k = mca::model::series_key("bench-0", metric_of(42));
  for (auto _ : st) benchmark::DoNotOptimize(std::hash<std::string>{}(k));
}
BENCHMARK(series_key_hash_only);

// Updates cycling over `range(0)` existing series (newer timestamp each round).
void store_update(benchmark::State& st) {
  const auto n = static_cast<std::size_t>(st.range(0));
  mca::store::series_store store({.max_series = n, .max_series_per_app = n, .ttl_ms = 0},
                                 mca::util::real_clock());
  std::vector<mca::model::metric> ms;
  for (std::size_t s = 0; s < n; ++s) {
    ms.push_back(metric_of(s));
    store.apply("bench-0", ms.back(), 0, ms.back().timestamp_ms);
  }
  std::size_t i = 0;
  for (auto _ : st) {
    auto& m = ms[i];
    ++m.timestamp_ms;
    benchmark::DoNotOptimize(store.apply("bench-0", m, 0, m.timestamp_ms));
    i = i + 1 == n ? 0 : i + 1;
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(store_update)->Arg(10'000)->Arg(1'000'000);

// Inserts of new series into an empty store (admission, ordered insert per shard).
void store_insert(benchmark::State& st) {
  constexpr std::size_t kBatch = 100'000;
  std::vector<mca::model::metric> ms;
  for (std::size_t s = 0; s < kBatch; ++s) ms.push_back(metric_of(s));
  for (auto _ : st) {
    st.PauseTiming();
    auto store = std::make_unique<mca::store::series_store>(
        mca::store::store_limits{.max_series = kBatch, .max_series_per_app = kBatch, .ttl_ms = 0},
        mca::util::real_clock());
    st.ResumeTiming();
    for (const auto& m : ms)
      benchmark::DoNotOptimize(store->apply("bench-0", m, 0, m.timestamp_ms));
    st.PauseTiming();
    store.reset();
    st.ResumeTiming();
  }
  st.SetItemsProcessed(st.iterations() * static_cast<std::int64_t>(kBatch));
}
BENCHMARK(store_insert)->Unit(benchmark::kMillisecond);

}  // namespace
