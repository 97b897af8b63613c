#include "exposition/text_format.h"

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "support/expect_each.h"
#include "support/support.h"

namespace mca::exposition {
namespace {

std::string golden(const std::string& name) {
  return test::read_file(test::source_path("tests/unit/exposition/golden/" + name));
}

model::metric metric_of(std::string name, double value, std::vector<model::tag> tags = {},
                        std::int64_t ts = 1'640'995'200'000) {
  return model::metric{std::move(name), value, ts, std::move(tags), "profile123"};
}

model::metric seed_metric() {
  return metric_of("cpu_usage", 75.5, {{"host", "server1"}, {"environment", "production"}});
}

struct exposition_fixture : ::testing::Test {
  util::manual_clock clock;
  store::series_store store{store::store_limits{}, clock};

  void apply(std::string_view app, const model::metric& m) {
    store.apply(app, m, 0, clock.now_ms());
  }
  std::string render(bool app_id_label = true) {
    std::string out;
    render_series(store, render_options{.app_id_label = app_id_label}, out);
    return out;
  }
};

TEST_F(exposition_fixture, renders_the_seed_example_with_app_id) {
  apply("my-app", seed_metric());
  EXPECT_EQ(render(), golden("seed.prom"));
}

TEST_F(exposition_fixture, renders_the_seed_example_exactly_without_app_id) {
  apply("my-app", seed_metric());
  EXPECT_EQ(render(false), golden("seed_without_app_id.prom"));
}

TEST_F(exposition_fixture, renders_nothing_for_an_empty_store) { EXPECT_EQ(render(), ""); }

TEST_F(exposition_fixture, appends_to_the_given_buffer) {
  apply("a", metric_of("m", 1));
  std::string out = "kept\n";
  render_series(store, {}, out);
  EXPECT_TRUE(out.starts_with("kept\n# HELP client_metric_m "));
}

TEST_F(exposition_fixture, escapes_hostile_label_values) {
  apply("a", metric_of("m", 1, {{"k", "x\"} 1\nevil{y=\"2\\"}}));
  EXPECT_EQ(render(),
            "# HELP client_metric_m Client metric: m\n"
            "# TYPE client_metric_m gauge\n"
            "client_metric_m{app_id=\"a\",k=\"x\\\"} 1\\nevil{y=\\\"2\\\\\"} 1\n");
}

TEST_F(exposition_fixture, sanitises_hostile_names_and_escapes_them_in_help) {
  apply("a", metric_of("m\"} 1\n# TYPE x counter\\", 1, {{"k=\"v\"", "1"}}));
  EXPECT_EQ(render(),
            "# HELP client_metric_m___1___TYPE_x_counter_ Client metric: m\"} 1\\n# TYPE x "
            "counter\\\\\n"
            "# TYPE client_metric_m___1___TYPE_x_counter_ gauge\n"
            "client_metric_m___1___TYPE_x_counter_{app_id=\"a\",k__v_=\"1\"} 1\n");
}

TEST_F(exposition_fixture, replaces_invalid_utf8_and_keeps_valid_multibyte_text) {
  apply("a", metric_of("m", 1, {{"k", "caf\xc3\xa9 \xff\xc3 \xe2\x82\xac \xed\xa0\x80"}}));
  EXPECT_NE(render().find("k=\"caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd \xe2\x82\xac "
                          "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"} 1\n"),
            std::string::npos)
      << render();
}

TEST_F(exposition_fixture, puts_app_id_first_and_sorts_labels_by_name) {
  apply("z-app", metric_of("m", 1, {{"b", "2"}, {"a", "1"}, {"app_id", "theirs"}}));
  EXPECT_NE(
      render().find("client_metric_m{app_id=\"z-app\",a=\"1\",b=\"2\",tag_app_id=\"theirs\"} 1\n"),
      std::string::npos)
      << render();
}

TEST_F(exposition_fixture, prints_no_braces_without_labels_and_app_id) {
  apply("a", metric_of("m", 2));
  EXPECT_NE(render(false).find("\nclient_metric_m 2\n"), std::string::npos);
  EXPECT_NE(render(true).find("\nclient_metric_m{app_id=\"a\"} 2\n"), std::string::npos);
}

TEST_F(exposition_fixture, keeps_each_family_contiguous_across_apps) {
  for (const char* app : {"b", "a", "c"}) {
    for (const char* name : {"zeta", "alpha", "mid.x", "mid_x"}) {
      for (const char* host : {"h2", "h1"}) apply(app, metric_of(name, 1, {{"host", host}}));
    }
  }
  const std::string out = render();
  std::istringstream lines(out);
  std::vector<std::string> families;  // in order of their HELP lines
  std::map<std::string, int> samples;
  std::string line, current;
  std::vector<std::string> sample_lines;
  while (std::getline(lines, line)) {
    if (line.starts_with("# HELP ")) {
      current = line.substr(7, line.find(' ', 7) - 7);
      families.push_back(current);
    } else if (!line.starts_with("#")) {
      EXPECT_TRUE(line.starts_with(current + "{")) << line << " outside family " << current;
      ++samples[current];
      sample_lines.push_back(line);
    }
  }
  EXPECT_EQ(families, (std::vector<std::string>{"client_metric_alpha", "client_metric_mid_x",
                                                "client_metric_zeta"}));
  EXPECT_EQ(samples["client_metric_alpha"], 6);
  EXPECT_EQ(samples["client_metric_mid_x"], 6);  // "mid.x" and "mid_x" are one series each
  EXPECT_EQ(samples["client_metric_zeta"], 6);
  EXPECT_EQ(sample_lines[0], "client_metric_alpha{app_id=\"a\",host=\"h1\"} 1");
  EXPECT_EQ(sample_lines[1], "client_metric_alpha{app_id=\"a\",host=\"h2\"} 1");
  EXPECT_EQ(sample_lines[2], "client_metric_alpha{app_id=\"b\",host=\"h1\"} 1");
}

TEST_F(exposition_fixture, help_names_the_smallest_original_name_of_a_family) {
  apply("a", metric_of("req-count", 1, {{"k", "1"}}));
  apply("a", metric_of("req.count", 1, {{"k", "2"}}));
  apply("b", metric_of("req:count", 1));
  const std::string out = render();
  EXPECT_NE(out.find("# HELP client_metric_req_count Client metric: req-count\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("# HELP client_metric_req:count Client metric: req:count\n"),
            std::string::npos);
}

// The header is written when a family starts; a later series with a smaller original name
// rewrites it, between the families before and after it, in a buffer that held text already.
TEST_F(exposition_fixture, help_is_rewritten_when_a_later_series_has_a_smaller_original_name) {
  apply("a", metric_of("alpha", 1));
  apply("a", metric_of("req.count", 2, {{"k", "1"}}));
  apply("a", metric_of("req-count", 3, {{"k", "2"}}));  // '-' < '.', visited second (k=2)
  apply("b", metric_of("req:count", 4, {{"k", "0"}}));
  apply("a", metric_of("zeta", 5));
  std::string out = "kept\n";
  render_series(store, {}, out);
  EXPECT_EQ(out,
            "kept\n"
            "# HELP client_metric_alpha Client metric: alpha\n"
            "# TYPE client_metric_alpha gauge\n"
            "client_metric_alpha{app_id=\"a\"} 1\n"
            "# HELP client_metric_req:count Client metric: req:count\n"
            "# TYPE client_metric_req:count gauge\n"
            "client_metric_req:count{app_id=\"b\",k=\"0\"} 4\n"
            "# HELP client_metric_req_count Client metric: req-count\n"
            "# TYPE client_metric_req_count gauge\n"
            "client_metric_req_count{app_id=\"a\",k=\"1\"} 2\n"
            "client_metric_req_count{app_id=\"a\",k=\"2\"} 3\n"
            "# HELP client_metric_zeta Client metric: zeta\n"
            "# TYPE client_metric_zeta gauge\n"
            "client_metric_zeta{app_id=\"a\"} 5\n");
}

// A label value that needs escaping, between plain ones, and values of every spelling: the line
// written through a pointer and the appending path give the same text.
TEST_F(exposition_fixture, escaped_and_plain_label_values_in_one_family) {
  apply("a", metric_of("m", 0.5, {{"a", "plain"}, {"b", "q\"uo\\te\nnl"}, {"c", "z"}}));
  apply("a", metric_of("m", -1e300, {{"a", "plain"}, {"b", "x"}, {"c", "\xff"}}));
  apply("a", metric_of("m", std::numeric_limits<double>::infinity(), {{"a", "q"}}));
  apply("a", metric_of("m", 123456789.125, {{"a", "r"}}));
  EXPECT_EQ(render(),
            "# HELP client_metric_m Client metric: m\n"
            "# TYPE client_metric_m gauge\n"
            "client_metric_m{app_id=\"a\",a=\"plain\",b=\"q\\\"uo\\\\te\\nnl\",c=\"z\"} 0.5\n"
            "client_metric_m{app_id=\"a\",a=\"plain\",b=\"x\",c=\"\xEF\xBF\xBD\"} -1e+300\n"
            "client_metric_m{app_id=\"a\",a=\"q\"} +Inf\n"
            "client_metric_m{app_id=\"a\",a=\"r\"} 123456789.125\n");
}

TEST_F(exposition_fixture, without_app_id_prints_the_newest_of_identical_series_once) {
  apply("a", metric_of("m", 1, {{"host", "h"}}, 1000));
  apply("b", metric_of("m", 2, {{"host", "h"}}, 3000));
  apply("c", metric_of("m", 3, {{"host", "h"}}, 2000));
  apply("c", metric_of("m", 4, {{"host", "other"}}, 1000));
  EXPECT_EQ(render(false),
            "# HELP client_metric_m Client metric: m\n"
            "# TYPE client_metric_m gauge\n"
            "client_metric_m{host=\"h\"} 2\n"
            "client_metric_m{host=\"other\"} 4\n");
}

TEST_F(exposition_fixture, without_app_id_breaks_timestamp_ties_by_smallest_app_id) {
  apply("b", metric_of("m", 2, {}, 1000));
  apply("a", metric_of("m", 1, {}, 1000));
  EXPECT_NE(render(false).find("\nclient_metric_m 1\n"), std::string::npos);
}

TEST_F(exposition_fixture, leaves_out_expired_series) {
  store::series_store ttl_store({.ttl_ms = 1000}, clock);
  ttl_store.apply("a", metric_of("old", 1), 0, clock.now_ms() - 2000);
  ttl_store.apply("a", metric_of("new", 1), 0, clock.now_ms());
  std::string out;
  render_series(ttl_store, {}, out);
  EXPECT_EQ(out.find("client_metric_old"), std::string::npos);
  EXPECT_NE(out.find("client_metric_new"), std::string::npos);
}

std::string value_text(double v) {
  std::string out;
  append_value(v, out);
  return out;
}

TEST(append_value, uses_the_shortest_text_and_prometheus_special_values) {
  test::expect_spellings(value_text, {{75.5, "75.5"},
                                      {1, "1"},
                                      {0.1, "0.1"},
                                      {-3, "-3"},
                                      {1e21, "1e+21"},
                                      {std::numeric_limits<double>::infinity(), "+Inf"},
                                      {-std::numeric_limits<double>::infinity(), "-Inf"},
                                      {std::numeric_limits<double>::quiet_NaN(), "NaN"}});
}

TEST(append_value, round_trips_every_finite_double) {
  std::mt19937_64 rng(42);
  std::vector<double> values = {std::numeric_limits<double>::max(),
                                std::numeric_limits<double>::min(),
                                std::numeric_limits<double>::denorm_min(), -0.0, 1.0 / 3};
  for (int i = 0; i < 10000; ++i) {
    const std::uint64_t bits = rng();
    double d;
    std::memcpy(&d, &bits, sizeof d);
    if (std::isfinite(d)) values.push_back(d);
  }
  for (double v : values) {
    const std::string text = value_text(v);
    double back = 0;
    const auto r = std::from_chars(text.data(), text.data() + text.size(), back);
    ASSERT_EQ(r.ec, std::errc()) << text;
    EXPECT_EQ(std::memcmp(&back, &v, sizeof v), 0) << text;
  }
}

// append_value takes a short path for integers and values with up to three decimals; the general
// std::to_chars is its oracle: the same text for every value either could print.
std::string to_chars_text(double v) {
  char buf[64];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

TEST(append_value, short_decimals_print_exactly_as_to_chars_does) {
  std::vector<double> values;
  for (int i = -300'000; i <= 300'000; ++i) {
    values.push_back(i / 1000.0);
    values.push_back(i / 100.0);
    values.push_back(i / 10.0);
    values.push_back(i * 0.001);  // not always the nearest double to i/1000
  }
  for (double p = 1; p < 1e16; p *= 10) {
    for (int d = 1; d <= 99; ++d) {
      values.push_back(d * p);
      values.push_back(-d * p);
      values.push_back(d * p + 0.5);
      values.push_back(d * p + 0.125);
      values.push_back((d * p + 1) / 1000);
    }
  }
  for (double edge : {1099511627775.0, 1099511627776.0, 1099511627775.999, 0.0005, 0.0015,
                      0.1 + 0.2, 1.0 / 3, 2.675, 1e-7, 5e-324, 281474976710655.0}) {
    values.push_back(edge);
    values.push_back(-edge);
  }
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> small(-2000, 2000);
  for (int i = 0; i < 200'000; ++i) {
    const double x = small(rng);
    values.push_back(x);
    values.push_back(std::round(x * 1000) / 1000);
    values.push_back(std::round(x * 4) / 4);
  }
  for (double v : values) ASSERT_EQ(value_text(v), to_chars_text(v)) << to_chars_text(v);
}

TEST(append_help_text, escapes_backslash_and_newline_but_not_quotes) {
  std::string out;
  append_help_text("a\\b\nc\"d", out);
  EXPECT_EQ(out, "a\\\\b\\nc\"d");
}

}  // namespace
}  // namespace mca::exposition
