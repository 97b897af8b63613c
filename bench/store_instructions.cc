// Instruction counts of the store's operations, for callgrind: fills a store with N of R5's series
// (100 names, 10 apps, tags host and a unique series id), then runs K operations between
// CALLGRIND_START_INSTRUMENTATION and CALLGRIND_STOP_INSTRUMENTATION, so only they are counted.
// On a shared machine instruction counts are stable where times are not.
//
//   valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/dev/null \
//     bench/store_instructions --impl current|previous --op update|batch|insert|render \
//     --series N --ops K
//
// `Collected` in valgrind's summary divided by K is the cost of one operation (render: of one
// scrape of N series). Outside valgrind the macros do nothing and the program just runs.
#include <valgrind/callgrind.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "exposition/text_format.h"
#include "reference/reference_store.h"
#include "reference/render_reference.h"
#include "store/series_store.h"

namespace {

std::string numbered(const char* prefix, std::size_t n) {
  std::string s = prefix;
  s += std::to_string(n);
  return s;
}

mca::model::metric metric_of(std::size_t s) {
  mca::model::metric m;
  m.name = numbered("bench_metric_", s % 100);
  m.value = 0.25 + static_cast<double>(s % 1000);
  m.timestamp_ms = 1'700'000'000'000;
  m.tags = {{"host", numbered("host-", s % 97)}, {"series", numbered("s", s)}};
  m.profile_id = "bench-profile";
  return m;
}
std::string app_of(std::size_t s) { return numbered("app-", (s / 100) % 10); }

void render(const mca::store::series_store& store, std::string& out) {
  mca::exposition::render_series(store, {}, out);
}
void render(const mca::store::reference_store& store, std::string& out) {
  mca::store::render_reference(store, {}, out);
}

template <class Store>
int run(std::string_view op, std::size_t n, std::size_t k) {
  const std::size_t capacity = op == "insert" ? n + k : n;
  Store store({.max_series = capacity, .max_series_per_app = capacity, .ttl_ms = 900'000},
              mca::util::real_clock());
  std::vector<mca::model::metric> ms;
  std::vector<std::string> apps;
  for (std::size_t s = 0; s < n + (op == "insert" ? k : 0); ++s) {
    ms.push_back(metric_of(s));
    apps.push_back(app_of(s));
  }
  const std::int64_t now = mca::util::real_clock().now_ms();
  for (std::size_t s = 0; s < n; ++s) store.apply(apps[s], ms[s], 0, now);
  std::string out;
  render(store, out);  // both sort (or merge) once before the measured part
  std::size_t done = 0;
  if (op == "update") {
    CALLGRIND_START_INSTRUMENTATION;
    for (std::size_t i = 0; i < k; ++i) {
      const std::size_t s = (i * 7919) % n;
      ++ms[s].timestamp_ms;
      done += store.apply(apps[s], ms[s], 0, now) == mca::store::apply_result::updated;
    }
    CALLGRIND_STOP_INSTRUMENTATION;
  } else if (op == "batch") {
    if constexpr (std::is_same_v<Store, mca::store::series_store>) {
      std::vector<mca::store::sample> batch;
      for (std::size_t i = 0; i < k; ++i) {
        const std::size_t s = (i * 7919) % n;
        ++ms[s].timestamp_ms;
        batch.push_back({apps[s], &ms[s], 0, now});
      }
      CALLGRIND_START_INSTRUMENTATION;
      for (std::size_t i = 0; i < k; i += 500)
        store.apply_batch(std::span(batch).subspan(i, std::min<std::size_t>(500, k - i)));
      CALLGRIND_STOP_INSTRUMENTATION;
      done = k;
    }
  } else if (op == "insert") {
    CALLGRIND_START_INSTRUMENTATION;
    for (std::size_t s = n; s < n + k; ++s)
      done += store.apply(apps[s], ms[s], 0, now) == mca::store::apply_result::inserted;
    CALLGRIND_STOP_INSTRUMENTATION;
  } else if (op == "render") {
    CALLGRIND_START_INSTRUMENTATION;
    for (std::size_t i = 0; i < k; ++i) {
      out.clear();
      render(store, out);
      done += out.size() > 0;
    }
    CALLGRIND_STOP_INSTRUMENTATION;
  }
  std::printf("%zu of %zu operations done\n", done, k);
  return done == k ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string impl = "current", op = "update";
  std::size_t n = 10'000, k = 10'000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view a = argv[i];
    if (a == "--impl") impl = argv[i + 1];
    if (a == "--op") op = argv[i + 1];
    if (a == "--series") n = std::stoull(argv[i + 1]);
    if (a == "--ops") k = std::stoull(argv[i + 1]);
  }
  if (n == 0 || k == 0 || (impl != "current" && impl != "previous") ||
      (op != "update" && op != "batch" && op != "insert" && op != "render") ||
      (op == "batch" && impl != "current")) {
    std::fprintf(stderr,
                 "usage: store_instructions --impl current|previous --op update|batch|insert|"
                 "render --series N --ops K\n");
    return 2;
  }
  return impl == "current" ? run<mca::store::series_store>(op, n, k)
                           : run<mca::store::reference_store>(op, n, k);
}
