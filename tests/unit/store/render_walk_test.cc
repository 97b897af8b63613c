// series_store::render_walk(): the walk for_each_sorted() makes, with gauge families shown as rows
// whose label text the store keeps in exposition order. The rows must say what for_each_sorted()
// says whatever happened between two walks: series joining a family in the middle of its order,
// expiring, dropped with their partition, respelled, another label format.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "store/series_store.h"

namespace mca::store {
namespace {

using namespace std::chrono_literals;

model::metric gauge(std::string name, double value, std::vector<model::tag> tags) {
  return model::metric{std::move(name), value, 1'000, std::move(tags), "p"};
}

// Two label formats a reader could keep.
void pipes(std::span<const label_view> labels, std::string& out) {
  for (const auto& [name, value] : labels) out.append("|").append(name).append("=").append(value);
}
void brackets(std::span<const label_view> labels, std::string& out) {
  for (const auto& [name, value] : labels)
    out.append("[").append(name).append(":").append(value).append("]");
}

std::string line(std::string_view family, std::string_view app, std::string_view original,
                 std::string_view labels, double value) {
  std::string s(family);
  s.append(" ").append(app).append(" ").append(original).append(" ").append(labels);
  s.append(" ").append(std::to_string(value));
  return s;
}

// What render_walk shows, one line per series (aggregates marked).
std::vector<std::string> walked(const series_store& store, label_format format) {
  struct collect final : render_visitor {
    std::vector<std::string> lines;
    void gauge(const gauge_row& r) override {
      lines.push_back(line(r.exposition_name, r.app_id, r.original_name, r.label_text, r.value));
    }
    void series(const series_view& v) override {
      lines.push_back("aggregate " + std::string(v.exposition_name) + " " + std::string(v.app_id) +
                      " " + std::to_string(v.sum));
    }
  } visit;
  store.render_walk(format, visit);
  return visit.lines;
}

// The same from for_each_sorted(), formatting the labels at each visit.
std::vector<std::string> expected(const series_store& store, label_format format) {
  std::vector<std::string> lines;
  store.for_each_sorted([&](const series_view& v) {
    if (v.type != model::metric_type::gauge) {
      lines.push_back("aggregate " + std::string(v.exposition_name) + " " + std::string(v.app_id) +
                      " " + std::to_string(v.sum));
      return;
    }
    std::string labels;
    format(v.labels, labels);
    lines.push_back(line(v.exposition_name, v.app_id, v.original_name, labels, v.value));
  });
  return lines;
}

struct render_walk_fixture : ::testing::Test {
  util::manual_clock clock;
  series_store store{store_limits{.max_series = 1000, .max_series_per_app = 1000, .ttl_ms = 60'000},
                     clock};
  void put(std::string_view app, const model::metric& m, std::int32_t partition = 0) {
    const auto r = store.apply(app, m, partition, clock.now_ms());
    ASSERT_TRUE(r == apply_result::inserted || r == apply_result::updated);
  }
  void expect_same(label_format format) {
    const auto want = expected(store, format);
    EXPECT_EQ(walked(store, format), want);
    EXPECT_EQ(walked(store, format), want);  // the kept text, untouched
  }
};

TEST_F(render_walk_fixture, shows_gauges_as_rows_in_order_and_aggregates_as_views) {
  put("b", gauge("cpu", 2, {{"host", "h2"}}));
  put("a", gauge("cpu", 1, {{"host", "h1"}, {"zone", "z"}}));
  put("a", gauge("mem", 3, {}));
  auto c = gauge("clicks", 5, {{"page", "/p"}});
  c.type = model::metric_type::counter;
  put("a", c);
  const std::vector<std::string> want = {
      "aggregate client_metric_clicks a 5.000000",
      "client_metric_cpu a cpu |host=h1|zone=z 1.000000",
      "client_metric_cpu b cpu |host=h2 2.000000",
      "client_metric_mem a mem  3.000000",
  };
  EXPECT_EQ(walked(store, pipes), want);
  EXPECT_EQ(walked(store, pipes), want);
  EXPECT_EQ(expected(store, pipes), want);
}

TEST_F(render_walk_fixture, kept_labels_follow_joins_updates_and_respellings) {
  for (int i = 0; i < 40; i += 2) put("a", gauge("cpu", i, {{"n", std::to_string(i)}}));
  expect_same(pipes);
  // Joining between the held ones (odd n sort between even n), and at both ends.
  for (int i = 1; i < 40; i += 6) put("a", gauge("cpu", i, {{"n", std::to_string(i)}}));
  put("0", gauge("cpu", 0, {{"n", "first"}}));
  put("z", gauge("cpu", 0, {{"n", "last"}}));
  put("a", gauge("cpu", 99, {{"n", "10"}}));  // an update: the value moves, the text stays
  expect_same(pipes);
  // The same series spelled otherwise: the name shown changes, the labels do not.
  put("a", gauge("cpu", 7, {{"n", "12"}}));
  put("a", gauge("cpu.x", 1, {{"n-k", "v"}}));
  expect_same(pipes);
  put("a", gauge("cpu_x", 2, {{"n_k", "v"}}));
  expect_same(pipes);
  // for_each_sorted() settles new series too: the kept text must follow it there.
  put("a", gauge("cpu", 5, {{"n", "11"}}));
  ASSERT_EQ(expected(store, pipes).size(), 31u);
  expect_same(pipes);
}

TEST_F(render_walk_fixture, kept_labels_follow_expiry_and_partition_drops) {
  for (int i = 0; i < 30; ++i) put("a", gauge("cpu", i, {{"n", std::to_string(i)}}), i % 3);
  expect_same(pipes);
  clock.advance(40s);
  for (int i = 0; i < 30; i += 4) put("a", gauge("cpu", i, {{"n", std::to_string(i)}}), i % 3);
  clock.advance(30s);  // the rest is past the TTL: not shown before the sweep either
  expect_same(pipes);
  EXPECT_EQ(store.expire(), 22u);
  expect_same(pipes);
  ASSERT_EQ(walked(store, pipes).size(), 8u);
  EXPECT_EQ(store.drop_partition(0), 3u);  // n = 0, 12, 24
  expect_same(pipes);
  // A family emptied and made again.
  EXPECT_EQ(store.drop_partition(1) + store.drop_partition(2), 5u);
  EXPECT_TRUE(walked(store, pipes).empty());
  put("a", gauge("cpu", 1, {{"n", "again"}}));
  expect_same(pipes);
}

TEST_F(render_walk_fixture, a_hidden_partition_is_left_out_of_every_read_until_shown) {
  // A partition being rebuilt after a takeover holds a restored, partly replayed counter: lower
  // than what was shown before. Every read leaves its series out, gauges and aggregates alike,
  // and shows them again, current, once the partition is shown (or dropped and written again).
  for (int i = 0; i < 30; ++i) put("a", gauge("cpu", i, {{"n", std::to_string(i)}}), i % 3);
  auto c = gauge("clicks", 5, {{"page", "/p"}});
  c.type = model::metric_type::counter;
  put("a", c, 1);
  const auto all = walked(store, pipes);
  ASSERT_EQ(all.size(), 31u);

  store.hide_partition(1);
  store.hide_partition(1);  // twice is once
  expect_same(pipes);
  EXPECT_EQ(walked(store, pipes).size(), 20u);
  for (const auto& l : walked(store, pipes)) EXPECT_EQ(l.find("aggregate"), std::string::npos) << l;
  EXPECT_EQ(store.app_series("a").size(), 20u);
  for (const auto& s : store.app_series("a")) EXPECT_NE(s.partition, 1);
  put("a", c, 1);  // applied while hidden, not shown
  put("a", gauge("cpu", 100, {{"n", "new"}}), 1);
  EXPECT_EQ(walked(store, pipes).size(), 20u);
  store.hide_partition(2);
  EXPECT_EQ(walked(store, pipes).size(), 10u);
  store.show_partition(2);
  store.show_partition(7);  // never hidden: nothing happens
  store.hide_partition(-1);
  store.hide_partition(1 << 20);  // outside the bound: ignored
  EXPECT_EQ(walked(store, pipes).size(), 20u);

  store.show_partition(1);
  expect_same(pipes);
  const auto back = walked(store, pipes);
  ASSERT_EQ(back.size(), 32u);
  EXPECT_EQ(back.front(), "aggregate client_metric_clicks a 10.000000");
  EXPECT_EQ(store.app_series("a").size(), 32u);

  // A dropped partition is shown again when it is written next.
  store.hide_partition(0);
  EXPECT_EQ(store.drop_partition(0), 10u);
  put("a", gauge("cpu", 1, {{"n", "again"}}), 0);
  EXPECT_EQ(walked(store, pipes).size(), 23u);
}

TEST_F(render_walk_fixture, another_format_rebuilds_the_kept_labels) {
  for (int i = 0; i < 10; ++i) put("a", gauge("cpu", i, {{"n", std::to_string(i)}}));
  expect_same(pipes);
  expect_same(brackets);
  put("a", gauge("cpu", 5, {{"n", "55"}}));
  expect_same(brackets);
  expect_same(pipes);
}

}  // namespace
}  // namespace mca::store
