// The header promises shared schemas and decoders may be used from several threads at once.
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "avro/metric_codec.h"
#include "metric_gen.h"
#include "support/support.h"

namespace mca::avro {
namespace {

TEST(avro_concurrency, one_resolving_decoder_and_schema_serve_several_threads) {
  const schema ours = schema::load_metric_schema(mca::test::schema_file()).value();
  const resolving_decoder d = resolving_decoder::create(ours, ours).value();
  test::metric_gen gen(test::test_seed(99));
  std::vector<model::metric> metrics;
  std::vector<std::string> bodies;
  for (int i = 0; i < 50; ++i) {
    metrics.push_back(gen.metric());
    encode(metrics.back(), bodies.emplace_back());
  }
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 10; ++round) {
        for (std::size_t i = 0; i < bodies.size(); ++i) {
          auto got = d.decode(bodies[i]);
          auto oracle = encode_with_avro_c(ours, metrics[i]);
          if (!got || *got != metrics[i] || !oracle || *oracle != bodies[i]) ++mismatches[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace mca::avro
