// Cost per series of a /prometheus-metrics scrape (render_series) and of the consumer's store
// updates, at the store sizes the limits allow. Items are series (render) or samples (apply).
#include <benchmark/benchmark.h>

#include <string>

#include "exposition/text_format.h"

namespace {

using namespace mca;

// 100 metric names x 10 apps, three labels each with realistic lengths.
model::metric bench_metric(int i) {
  return {"client_family_" + std::to_string(i % 100),
          i * 0.5,
          1'700'000'000'000,
          {{"host", "server-" + std::to_string(i / 1000)},
           {"environment", "production"},
           {"region", "eu-west-1"}},
          "profile123"};
}

std::string bench_app(int i) { return "app-" + std::to_string((i / 100) % 10); }

void fill(store::series_store& s, int n) {
  for (int i = 0; i < n; ++i) s.apply(bench_app(i), bench_metric(i), 0, 1'700'000'000'000);
}

const store::store_limits unbounded{
    .max_series = 10'000'000, .max_series_per_app = 10'000'000, .ttl_ms = 0};

// Steady state: no series added or removed since the last scrape, so the merged order is reused.
void BM_render_series(benchmark::State& state) {
  util::manual_clock clock;
  store::series_store s(unbounded, clock);
  const int n = static_cast<int>(state.range(0));
  fill(s, n);
  std::string out;
  for (auto _ : state) {
    out.clear();
    exposition::render_series(s, {}, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["bytes_per_series"] = static_cast<double>(out.size()) / n;
}
BENCHMARK(BM_render_series)->Arg(10'000)->Arg(100'000)->Unit(benchmark::kMillisecond);

// A series was added since the last scrape: the 16 shards are merged again.
void BM_render_series_after_insert(benchmark::State& state) {
  util::manual_clock clock;
  store::series_store s(unbounded, clock);
  const int n = static_cast<int>(state.range(0));
  fill(s, n);
  std::string out;
  int extra = n;
  for (auto _ : state) {
    state.PauseTiming();
    s.apply(bench_app(extra), bench_metric(extra), 0, 1'700'000'000'000);
    ++extra;
    out.clear();
    state.ResumeTiming();
    exposition::render_series(s, {}, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_render_series_after_insert)->Arg(100'000)->Unit(benchmark::kMillisecond);

// The consumer's common case: a newer sample for a series the store already holds.
void BM_apply_update(benchmark::State& state) {
  util::manual_clock clock;
  store::series_store s(unbounded, clock);
  const int n = static_cast<int>(state.range(0));
  fill(s, n);
  std::vector<std::string> apps;
  std::vector<model::metric> metrics;
  for (int i = 0; i < n; ++i) {
    apps.push_back(bench_app(i));
    metrics.push_back(bench_metric(i));
  }
  std::int64_t ts = 1'700'000'000'001;
  int i = 0;
  for (auto _ : state) {
    metrics[i].timestamp_ms = ts++;
    benchmark::DoNotOptimize(s.apply(apps[i], metrics[i], 0, ts));
    if (++i == n) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_apply_update)->Arg(100'000);

}  // namespace
