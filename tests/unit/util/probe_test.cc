#include "util/probe.h"

#include <gtest/gtest.h>

#include <atomic>
#include <sstream>

#include <prometheus/text_serializer.h>

namespace mca::util {
namespace {

enum class colour { red, green, blue };
std::string_view to_string(colour c) {
  switch (c) {
    case colour::red:
      return "red";
    case colour::green:
      return "green";
    case colour::blue:
      return "blue";
  }
  return "?";
}

std::string text_of(const prometheus::Collectable& c) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, c.Collect());
  return out.str();
}

TEST(probe, collects_its_families_at_every_scrape) {
  std::atomic<int> n{1};
  auto p = probe_from([&n](families& f) {
    f.push_back(counter_family("mca_things_total", "Things, counted", n.load()));
    f.push_back(
        gauge_family("mca_level", "A level", {{{{"side", "left"}}, 2}, {{{"side", "right"}}, 3}}));
  });
  EXPECT_EQ(text_of(*p),
            "# HELP mca_things_total Things, counted\n"
            "# TYPE mca_things_total counter\n"
            "mca_things_total 1\n"
            "# HELP mca_level A level\n"
            "# TYPE mca_level gauge\n"
            "mca_level{side=\"left\"} 2\n"
            "mca_level{side=\"right\"} 3\n");
  n = 7;
  EXPECT_NE(text_of(*p).find("mca_things_total 7\n"), std::string::npos);
}

TEST(probe, by_enum_labels_each_value_from_first_on) {
  const std::uint64_t counts[] = {4, 5, 6};
  auto all = by_enum<colour>(
      "colour", 0, 3, [](colour c) { return to_string(c); },
      [&](std::size_t i) { return counts[i]; });
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].labels, (label_set{{"colour", "red"}}));
  EXPECT_EQ(all[2].labels, (label_set{{"colour", "blue"}}));
  EXPECT_EQ(all[2].value, 6);
  auto skip_first = by_enum<colour>(
      "colour", 1, 3, [](colour c) { return to_string(c); },
      [&](std::size_t i) { return counts[i]; });
  ASSERT_EQ(skip_first.size(), 2u);
  EXPECT_EQ(skip_first[0].labels, (label_set{{"colour", "green"}}));
  EXPECT_EQ(skip_first[0].value, 5);
}

TEST(probe, reports_no_health_unless_given_one) {
  auto p = probe_from([](families&) {});
  EXPECT_FALSE(p->health());
}

TEST(probe, reports_its_component_health_as_it_is_now) {
  health now{true, "ok", {{"kind", "embedded"}}};
  auto p = probe_from([](families& f) { f.push_back(gauge_family("mca_up", "Up", 1)); },
                      "transport", [&now] { return now; });
  auto h = p->health();
  ASSERT_TRUE(h);
  EXPECT_EQ(h->component, "transport");
  EXPECT_TRUE(h->health.ok);
  EXPECT_EQ(h->health.info.at("kind").as_string(), "embedded");
  now = {false, "unreachable", {}};
  EXPECT_EQ(p->health()->health.status, "unreachable");
  EXPECT_FALSE(p->health()->health.ok);
  // Its families do not change for it.
  EXPECT_EQ(text_of(*p), "# HELP mca_up Up\n# TYPE mca_up gauge\nmca_up 1\n");
}

TEST(probe, health_of_lists_the_reports_in_the_probes_order_skipping_probes_without) {
  const probe_list probes{probe_from([](families&) {}, "b",
                                     [] {
                                       return health{true, "ok", {}};
                                     }),
                          probe_from([](families&) {}),
                          probe_from([](families&) {}, "a",
                                     [] {
                                       return health{false, "x", {}};
                                     })};
  const auto all = health_of(probes);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].component, "b");
  EXPECT_TRUE(all[0].health.ok);
  EXPECT_EQ(all[1].component, "a");
  EXPECT_EQ(all[1].health.status, "x");
  EXPECT_TRUE(health_of({}).empty());
}

}  // namespace
}  // namespace mca::util
