// R5: the cost of a /prometheus-metrics render against prometheus-cpp's text serializer on the
// same data, and the memory each holds per series.
//
//   render_bench --impl mca|mca-previous|prometheus-cpp --series N [--repeat K] [--worst-case 1]
//                [--type gauge|counter|histogram]
//
// Both get the same N series: 100 metric names, 10 apps (an app_id label), two tags (host and a
// unique series id), so every series is distinct. `mca` fills a store::series_store through
// apply() (the consume path's call) and times exposition::render_series into a reused buffer;
// `prometheus-cpp` fills a Registry of gauge families and times Collect() + TextSerializer
// (both are what a scrape of a prometheus-cpp exposer does); `mca-previous` is the store before
// its flat-table rewrite (tests/reference), rendered by the same writer, so the old and the new
// store are compared in the same run. Each implementation runs in its own
// process so the RSS growth measured around the fill is that implementation's alone.
//
// Prints one JSON object: median/min/max render time, ns per series (wall clock), the render
// thread's median CPU time per series (cpu_ns_per_series: no time waiting for a core, for busy
// machines), bytes of output, and RSS growth per series: after the fill and a first render with
// its output buffer released (rss_per_series_bytes: what the implementation holds once scraped,
// a store's kept label text included) and after the fill alone (fill_rss_per_series_bytes).
// `--worst-case 1` (mca, mca-previous) gives every series 32 tags of 1 KiB values, the most the
// per-metric limits allow.
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "exposition/text_format.h"
#include "reference/reference_store.h"
#include "reference/render_reference.h"
#include "store/series_store.h"
#include "util/clock.h"

namespace {

using steady = std::chrono::steady_clock;

constexpr std::size_t kNames = 100;
constexpr std::size_t kApps = 10;

// prefix + number, appended (GCC 12 warns falsely, -Wrestrict, on a literal + std::string).
std::string numbered(const char* prefix, std::size_t n) {
  std::string s = prefix;
  s += std::to_string(n);
  return s;
}
std::string name_of(std::size_t s) { return numbered("bench_metric_", s % kNames); }
std::string app_of(std::size_t s) { return numbered("app-", (s / kNames) % kApps); }
std::string host_of(std::size_t s) { return numbered("host-", s % 97); }
std::string series_of(std::size_t s) { return numbered("s", s); }
double value_of(std::size_t s) { return 0.25 + static_cast<double>(s % 1000); }

std::size_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

struct timing {
  double median_ns = 0, min_ns = 0, max_ns = 0;
  double cpu_median_ns = 0;  // the render thread's CPU time: excludes waiting for a core
};

double thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

template <class F>
timing time_runs(int repeat, F&& once) {
  std::vector<double> ns, cpu;
  for (int i = 0; i < repeat; ++i) {
    const auto t0 = steady::now();
    const double c0 = thread_cpu_ns();
    once();
    cpu.push_back(thread_cpu_ns() - c0);
    ns.push_back(std::chrono::duration<double, std::nano>(steady::now() - t0).count());
  }
  std::sort(ns.begin(), ns.end());
  std::sort(cpu.begin(), cpu.end());
  return {ns[ns.size() / 2], ns.front(), ns.back(), cpu[cpu.size() / 2]};
}

void print(std::string_view impl, std::size_t n, int repeat, const timing& t, std::size_t bytes,
           std::size_t rss_growth, double fill_s, std::size_t fill_growth) {
  std::printf(
      "{\"impl\":\"%.*s\",\"series\":%zu,\"repeat\":%d,\"render_ms\":{\"median\":%.3f,"
      "\"min\":%.3f,\"max\":%.3f},\"ns_per_series\":%.1f,\"output_bytes\":%zu,"
      "\"rss_growth_bytes\":%zu,\"rss_per_series_bytes\":%.1f,\"fill_s\":%.3f,"
      "\"cpu_ns_per_series\":%.1f,\"fill_rss_per_series_bytes\":%.1f}\n",
      static_cast<int>(impl.size()), impl.data(), n, repeat, t.median_ns / 1e6, t.min_ns / 1e6,
      t.max_ns / 1e6, t.median_ns / static_cast<double>(n), bytes, rss_growth,
      static_cast<double>(rss_growth) / static_cast<double>(n), fill_s,
      t.cpu_median_ns / static_cast<double>(n),
      static_cast<double>(fill_growth) / static_cast<double>(n));
}

void render(const mca::store::series_store& store, std::string& out) {
  mca::exposition::render_series(store, {}, out);
}
void render(const mca::store::reference_store& store, std::string& out) {
  mca::store::render_reference(store, {}, out);
}

// The caps' worst case instead of R5's series: 32 tags, each value 1 KiB (unique per series).
bool worst_case = false;
std::vector<mca::model::tag> tags_of(std::size_t s) {
  if (!worst_case) return {{"host", host_of(s)}, {"series", series_of(s)}};
  std::vector<mca::model::tag> tags;
  for (std::size_t k = 0; k < 32; ++k) {
    std::string value = series_of(s);
    value.resize(1024, static_cast<char>('a' + k % 26));
    tags.emplace_back(numbered("k", 10 + k), std::move(value));
  }
  return tags;
}

// `--type counter|histogram` (mca only): every series is a counter, or a histogram with the
// web_vitals_lcp layout (14 bounds: 17 exposed series each), one observation per series.
mca::model::metric_type series_type = mca::model::metric_type::gauge;

template <class Store>
int run_mca(std::string_view impl, std::size_t n, int repeat) {
  const std::size_t rss0 = rss_bytes();
  const auto f0 = steady::now();
  mca::store::store_limits limits{.max_series = n * 20, .max_series_per_app = n * 20, .ttl_ms = 0};
  limits.buckets =
      mca::model::bucket_layouts({}, mca::model::bucket_layouts().layout_for("web_vitals_lcp"));
  Store store(limits, mca::util::real_clock());
  mca::model::metric m;
  m.profile_id = "bench-profile";
  m.timestamp_ms = 1'700'000'000'000;
  m.type = series_type;
  for (std::size_t s = 0; s < n; ++s) {
    m.name = name_of(s);
    m.value = value_of(s);
    m.tags = tags_of(s);
    if (store.apply(app_of(s), m, 0, m.timestamp_ms) != mca::store::apply_result::inserted) {
      std::fprintf(stderr, "render_bench: series %zu was not inserted\n", s);
      return 1;
    }
  }
  const double fill_s = std::chrono::duration<double>(steady::now() - f0).count();
  const std::size_t fill_growth = rss_bytes() - rss0;
  std::string out;
  render(store, out);  // warm: sorts the new series, as the first scrape does
  const std::size_t bytes = out.size();
  // What the store holds once scraped (its runs and the label text it keeps for the writer),
  // without the output buffer, which is the caller's.
  std::string().swap(out);
  const std::size_t growth = rss_bytes() - rss0;
  render(store, out);  // sizes the buffer
  const timing t = time_runs(repeat, [&] {
    out.clear();
    render(store, out);
  });
  print(impl, n, repeat, t, bytes, growth, fill_s, fill_growth);
  return 0;
}

int run_prometheus_cpp(std::size_t n, int repeat) {
  const std::size_t rss0 = rss_bytes();
  const auto f0 = steady::now();
  prometheus::Registry registry;
  std::vector<prometheus::Family<prometheus::Gauge>*> families;
  for (std::size_t i = 0; i < kNames; ++i) {
    families.push_back(&prometheus::BuildGauge()
                            .Name("client_metric_" + name_of(i))
                            .Help("Client metric: " + name_of(i))
                            .Register(registry));
  }
  for (std::size_t s = 0; s < n; ++s) {
    families[s % kNames]
        ->Add({{"app_id", app_of(s)}, {"host", host_of(s)}, {"series", series_of(s)}})
        .Set(value_of(s));
  }
  const double fill_s = std::chrono::duration<double>(steady::now() - f0).count();
  const std::size_t fill_growth = rss_bytes() - rss0;
  const prometheus::TextSerializer serializer;
  std::size_t bytes = serializer.Serialize(registry.Collect()).size();
  const std::size_t growth = rss_bytes() - rss0;  // after a scrape, as for ours
  const timing t = time_runs(repeat, [&] {
    const std::string text = serializer.Serialize(registry.Collect());
    bytes = text.size();
  });
  print("prometheus-cpp", n, repeat, t, bytes, growth, fill_s, fill_growth);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string impl;
  std::size_t n = 10'000;
  int repeat = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view a = argv[i];
    if (a == "--impl")
      impl = argv[i + 1];
    else if (a == "--series")
      n = std::stoull(argv[i + 1]);
    else if (a == "--repeat")
      repeat = std::stoi(argv[i + 1]);
    else if (a == "--worst-case")
      worst_case = std::string_view(argv[i + 1]) == "1";
    else if (a == "--type")
      series_type = mca::model::parse_metric_type(argv[i + 1]).value_or(series_type);
  }
  if (n == 0 || repeat <= 0 ||
      (impl != "mca" && impl != "mca-previous" && impl != "prometheus-cpp")) {
    std::fprintf(stderr,
                 "usage: render_bench --impl mca|mca-previous|prometheus-cpp --series N "
                 "[--repeat K] [--worst-case 1] [--type gauge|counter|histogram]\n");
    return 2;
  }
  if (impl == "mca") return run_mca<mca::store::series_store>(impl, n, repeat);
  if (impl == "mca-previous") return run_mca<mca::store::reference_store>(impl, n, repeat);
  return run_prometheus_cpp(n, repeat);
}
