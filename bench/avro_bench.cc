// Cost per record of the Metric codec: the hand-written encoder/decoder against avro-c's generic
// writer and resolved reader (the reason the hot path does not use avro-c).
#include <benchmark/benchmark.h>

#include "avro/metric_codec.h"

namespace {

using mca::avro::schema;
using mca::model::metric;

// The seed example: two tags.
metric seed_metric() {
  return {"cpu_usage",
          75.5,
          1640995200000,
          {{"host", "server1"}, {"environment", "production"}},
          "user-123"};
}

// A busier record: eight tags with realistic lengths.
metric eight_tag_metric() {
  metric m = seed_metric();
  m.name = "http_request_duration_seconds";
  m.tags = {{"host", "web-042.eu-west-1"},
            {"environment", "production"},
            {"region", "eu-west-1"},
            {"service", "checkout"},
            {"route", "/api/v2/cart/items"},
            {"method", "POST"},
            {"status", "200"},
            {"version", "2026.11.3"}};
  return m;
}

const schema& metric_schema() {
  static const schema s = schema::load_metric_schema(MCA_SCHEMA_FILE).value();
  return s;
}

metric by_arg(const benchmark::State& st) {
  return st.range(0) == 2 ? seed_metric() : eight_tag_metric();
}

void encode_fast(benchmark::State& st) {
  const metric m = by_arg(st);
  std::string out;
  for (auto _ : st) {
    out.clear();  // keeps capacity, as a reused producer buffer would
    mca::avro::encode(m, out);
    benchmark::DoNotOptimize(out.data());
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * out.size()));
}
BENCHMARK(encode_fast)->Arg(2)->Arg(8);

void encode_fast_fresh_string(benchmark::State& st) {
  const metric m = by_arg(st);
  for (auto _ : st) {
    std::string out;
    mca::avro::encode(m, out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(encode_fast_fresh_string)->Arg(2)->Arg(8);

void encode_avro_c(benchmark::State& st) {
  const metric m = by_arg(st);
  const schema& s = metric_schema();
  for (auto _ : st) {
    auto out = mca::avro::encode_with_avro_c(s, m);
    benchmark::DoNotOptimize(out->data());
  }
}
BENCHMARK(encode_avro_c)->Arg(2)->Arg(8);

void decode_fast(benchmark::State& st) {
  std::string body;
  mca::avro::encode(by_arg(st), body);
  for (auto _ : st) {
    auto m = mca::avro::decode(body);
    benchmark::DoNotOptimize(m->value);
  }
}
BENCHMARK(decode_fast)->Arg(2)->Arg(8);

void decode_resolving(benchmark::State& st) {
  std::string body;
  mca::avro::encode(by_arg(st), body);
  auto d = mca::avro::resolving_decoder::create(metric_schema(), metric_schema()).value();
  for (auto _ : st) {
    auto m = d.decode(body);
    benchmark::DoNotOptimize(m->value);
  }
}
BENCHMARK(decode_resolving)->Arg(2)->Arg(8);

}  // namespace
