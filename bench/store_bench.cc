// Series identity and the store: building + hashing a series key (what the producer uses as the
// Kafka key), and the store's write path (an update of a held series, a new series, a consumer
// poll applied as one batch) and its read path (a scrape's walk and render), each for the
// current store and for the previous implementation (`_previous`, tests/reference) in the same
// run. The series are R5's: 100 names, 10 apps, tags host (97 values) and a unique series id.
#include <benchmark/benchmark.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "exposition/text_format.h"
#include "model/metric.h"
#include "reference/reference_store.h"
#include "reference/render_reference.h"
#include "store/series_store.h"
#include "util/clock.h"

namespace {

// prefix + number, appended (GCC 12 warns falsely, -Wrestrict, on a literal + std::string).
std::string numbered(const char* prefix, std::size_t n) {
  std::string s = prefix;
  s += std::to_string(n);
  return s;
}

std::string app_of(std::size_t s) { return numbered("app-", (s / 100) % 10); }

mca::model::metric metric_of(std::size_t s) {
  mca::model::metric m;
  m.name = numbered("bench_metric_", s % 100);
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

using current = mca::store::series_store;
using previous = mca::store::reference_store;

template <class Store>
std::unique_ptr<Store> make_store(std::size_t n) {
  return std::make_unique<Store>(
      mca::store::store_limits{.max_series = n, .max_series_per_app = n, .ttl_ms = 0},
      mca::util::real_clock());
}

struct fixture {
  std::vector<mca::model::metric> metrics;
  std::vector<std::string> apps;
  explicit fixture(std::size_t n) {
    for (std::size_t s = 0; s < n; ++s) {
      metrics.push_back(metric_of(s));
      apps.push_back(app_of(s));
    }
  }
  template <class Store>
  void fill(Store& store) const {
    for (std::size_t s = 0; s < metrics.size(); ++s)
      store.apply(apps[s], metrics[s], 0, metrics[s].timestamp_ms);
  }
};

// Updates of held series (newer timestamp each round), in a shuffled order so consecutive
// updates touch unrelated series, as records from many clients do.
template <class Store>
void store_update(benchmark::State& st) {
  const auto n = static_cast<std::size_t>(st.range(0));
  fixture f(n);
  auto store = make_store<Store>(n);
  f.fill(*store);
  std::vector<std::uint32_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = static_cast<std::uint32_t>((i * 7919) % n);
  std::size_t i = 0;
  for (auto _ : st) {
    const std::uint32_t s = order[i];
    auto& m = f.metrics[s];
    ++m.timestamp_ms;
    benchmark::DoNotOptimize(store->apply(f.apps[s], m, 0, m.timestamp_ms));
    i = i + 1 == n ? 0 : i + 1;
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(store_update<current>)->Name("store_update")->Arg(10'000)->Arg(1'000'000);
BENCHMARK(store_update<previous>)->Name("store_update_previous")->Arg(10'000)->Arg(1'000'000);

// A consumer poll of 500 updates applied as one batch (one lock hold, one clock read).
void store_update_batch(benchmark::State& st) {
  const auto n = static_cast<std::size_t>(st.range(0));
  constexpr std::size_t kPoll = 500;
  fixture f(n);
  auto store = make_store<current>(n);
  f.fill(*store);
  std::vector<mca::store::sample> batch(kPoll);
  std::size_t next = 0;
  for (auto _ : st) {
    for (auto& smp : batch) {
      const std::size_t s = (next * 7919) % n;
      next = next + 1 == n ? 0 : next + 1;
      auto& m = f.metrics[s];
      ++m.timestamp_ms;
      smp = {f.apps[s], &m, 0, m.timestamp_ms};
    }
    store->apply_batch(batch);
  }
  st.SetItemsProcessed(st.iterations() * static_cast<std::int64_t>(kPoll));
}
BENCHMARK(store_update_batch)->Arg(10'000)->Arg(1'000'000);

// New series into an empty store: 100,000 inserts.
template <class Store>
void store_insert(benchmark::State& st) {
  constexpr std::size_t kBatch = 100'000;
  fixture f(kBatch);
  for (auto _ : st) {
    st.PauseTiming();
    auto store = make_store<Store>(kBatch);
    st.ResumeTiming();
    f.fill(*store);
    st.PauseTiming();
    store.reset();
    st.ResumeTiming();
  }
  st.SetItemsProcessed(st.iterations() * static_cast<std::int64_t>(kBatch));
}
BENCHMARK(store_insert<current>)->Name("store_insert")->Unit(benchmark::kMillisecond);
BENCHMARK(store_insert<previous>)->Name("store_insert_previous")->Unit(benchmark::kMillisecond);

// A scrape's render (/prometheus-metrics body) of n series, nothing added since the last one.
void render(const current& store, std::string& out) {
  mca::exposition::render_series(store, {}, out);
}
void render(const previous& store, std::string& out) {
  mca::store::render_reference(store, {}, out);
}

template <class Store>
void store_render(benchmark::State& st) {
  const auto n = static_cast<std::size_t>(st.range(0));
  auto store = make_store<Store>(n);
  fixture(n).fill(*store);
  std::string out;
  render(*store, out);  // sorts / merges once, sizes the buffer
  for (auto _ : st) {
    out.clear();
    render(*store, out);
    benchmark::DoNotOptimize(out.data());
  }
  st.SetItemsProcessed(st.iterations() * static_cast<std::int64_t>(n));
}
BENCHMARK(store_render<current>)->Name("store_render")->Arg(100'000)->Unit(benchmark::kMillisecond);
BENCHMARK(store_render<previous>)
    ->Name("store_render_previous")
    ->Arg(100'000)
    ->Unit(benchmark::kMillisecond);

}  // namespace
