#include "exposition/page.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "support/support.h"
#include "util/probe.h"

namespace mca::exposition {
namespace {

using util::counter_family;
using util::gauge_family;

TEST(render_page, renders_the_seed_walk_through_exactly_without_app_id) {
  util::manual_clock clock;
  store::series_store store({}, clock);
  store.apply("your-app-id",
              model::metric{"cpu_usage",
                            75.5,
                            clock.now_ms(),
                            {{"host", "server1"}, {"environment", "production"}},
                            "profile123"},
              0, clock.now_ms());
  self_metrics self;  // no request served yet: the HTTP families have no samples to print
  self.add_collectable(make_collectable([] {
    return std::vector{
        counter_family("kafka_metrics_consumed_total", "Total metrics consumed from Kafka", 1.0)};
  }));
  std::string out;
  render_page(store, self, render_options{.app_id_label = false}, out);

  EXPECT_EQ(out, test::read_file(test::source_path(
                     "tests/unit/exposition/golden/seed_page_without_app_id.prom")));
}

}  // namespace
}  // namespace mca::exposition
