// Cost per request of the ingest front half: api::parse_ingest_body (simdjson) followed by
// model::validate + normalise of every item, for the generator's bodies (1 and 100 metrics).
#include <benchmark/benchmark.h>

#include <string>

#include "api/ingest_parser.h"
#include "model/metric.h"

namespace {

constexpr std::int64_t kNow = 1'700'000'000'000;

std::string body_of(std::size_t batch) {
  std::string b = R"({"metrics":[)";
  for (std::size_t i = 0; i < batch; ++i) {
    if (i) b += ',';
    b += R"({"name":"bench_metric_)" + std::to_string(i % 10) + R"(","value":)" +
         std::to_string(0.5 + static_cast<double>(i)) + R"(,"tags":{"host":"host-)" +
         std::to_string(i % 97) + R"(","series":"s)" + std::to_string(i) +
         R"("},"profileId":"bench-profile"})";
  }
  return b + "]}";
}

void parse_only(benchmark::State& st) {
  const std::string body = body_of(static_cast<std::size_t>(st.range(0)));
  for (auto _ : st) {
    auto b = mca::api::parse_ingest_body(body, 1000, kNow);
    benchmark::DoNotOptimize(b);
  }
  st.SetItemsProcessed(st.iterations() * st.range(0));
  st.SetBytesProcessed(st.iterations() * static_cast<std::int64_t>(body.size()));
}
BENCHMARK(parse_only)->Arg(1)->Arg(100);

void parse_and_validate(benchmark::State& st) {
  const std::string body = body_of(static_cast<std::size_t>(st.range(0)));
  const mca::model::limits limits;
  for (auto _ : st) {
    auto b = mca::api::parse_ingest_body(body, 1000, kNow);
    std::size_t valid = 0;
    for (auto& [index, m] : b->items) {
      if (!mca::model::validate(m, index, limits, kNow)) {
        mca::model::normalise(m);
        ++valid;
      }
    }
    benchmark::DoNotOptimize(valid);
  }
  st.SetItemsProcessed(st.iterations() * st.range(0));
  st.SetBytesProcessed(st.iterations() * static_cast<std::int64_t>(body.size()));
}
BENCHMARK(parse_and_validate)->Arg(1)->Arg(100);

}  // namespace
