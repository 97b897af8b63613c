#include "pipeline/admission.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mca::pipeline {
namespace {

constexpr std::int64_t kNow = 1'700'000'000'000;

// A batch of metrics for one app, with the keys admit() needs.
struct batch_of {
  std::string app;
  std::vector<model::metric> metrics;
  std::vector<std::string> keys;
  std::vector<series_admission::candidate> candidates;

  explicit batch_of(std::string app_id, std::vector<model::metric> ms)
      : app(std::move(app_id)), metrics(std::move(ms)) {
    for (auto& m : metrics) keys.push_back(model::series_key(app, m));
    for (std::size_t i = 0; i < metrics.size(); ++i)
      candidates.push_back({i, &metrics[i], keys[i]});
  }
};

model::metric metric_named(std::string name, std::string host = "a") {
  return {std::move(name), 1, kNow, {{"host", std::move(host)}}, "p"};
}

std::vector<model::metric> series(int n, const std::string& prefix = "m") {
  std::vector<model::metric> out;
  for (int i = 0; i < n; ++i) out.push_back(metric_named(prefix + std::to_string(i)));
  return out;
}

std::size_t admitted(const series_admission::ticket& t) {
  std::size_t n = 0;
  for (bool a : t.admitted) n += a;
  return n;
}

series_admission::ticket admit_and_deliver(series_admission& a, const batch_of& b,
                                           std::int64_t now = kNow) {
  auto t = a.admit(b.app, b.candidates, now);
  auto copy = t;
  a.settle(t, true);
  return copy;
}

TEST(series_admission, refuses_new_series_past_the_per_app_cap_with_index_field_and_reason) {
  series_admission a({.store = {.max_series = 100, .max_series_per_app = 3}});
  batch_of b("app", series(5));
  auto t = admit_and_deliver(a, b);
  EXPECT_EQ(admitted(t), 3u);
  ASSERT_EQ(t.refused.size(), 2u);
  EXPECT_EQ(t.refused[0].index, 3u);
  EXPECT_EQ(t.refused[0].field, "series");
  EXPECT_NE(t.refused[0].error.find("MAX_SERIES_PER_APP"), std::string::npos);
  EXPECT_EQ(a.stats().refused[static_cast<int>(refusal::app_series)], 2u);
}

TEST(series_admission, always_admits_writes_to_series_already_held) {
  series_admission a({.store = {.max_series = 100, .max_series_per_app = 3}});
  admit_and_deliver(a, batch_of("app", series(3)));
  auto t = admit_and_deliver(a, batch_of("app", series(3)));
  EXPECT_EQ(admitted(t), 3u);
  EXPECT_TRUE(t.refused.empty());
}

TEST(series_admission, refuses_past_the_global_cap) {
  series_admission a({.store = {.max_series = 4, .max_series_per_app = 3}});
  admit_and_deliver(a, batch_of("one", series(3)));
  auto t = admit_and_deliver(a, batch_of("two", series(3)));
  EXPECT_EQ(admitted(t), 1u);
  ASSERT_EQ(t.refused.size(), 2u);
  EXPECT_NE(t.refused[0].error.find("MAX_SERIES)"), std::string::npos) << t.refused[0].error;
}

TEST(series_admission, forgets_a_series_after_ttl_and_grace_and_frees_its_budget) {
  series_admission a(
      {.store = {.max_series = 100, .max_series_per_app = 2, .ttl_ms = 1000}, .grace_ms = 500});
  admit_and_deliver(a, batch_of("app", series(2)));
  // Still counted until ttl + grace: the store may still hold them.
  a.expire(kNow + 1500);
  EXPECT_EQ(a.stats().series, 2u);
  EXPECT_EQ(admitted(admit_and_deliver(a, batch_of("app", series(1, "x")), kNow + 1500)), 0u);
  a.expire(kNow + 1501);
  EXPECT_EQ(a.stats().series, 0u);
  EXPECT_EQ(a.stats().apps, 0u);
  EXPECT_EQ(admitted(admit_and_deliver(a, batch_of("app", series(2, "x")), kNow + 1501)), 2u);
}

TEST(series_admission, an_expired_but_unswept_series_is_replaced_without_counting_twice) {
  series_admission a(
      {.store = {.max_series = 100, .max_series_per_app = 1, .ttl_ms = 1000}, .grace_ms = 0});
  admit_and_deliver(a, batch_of("app", series(1)));
  // Past the TTL, not swept: the same series comes back and is admitted in place.
  auto t = admit_and_deliver(a, batch_of("app", series(1)), kNow + 5000);
  EXPECT_EQ(admitted(t), 1u);
  EXPECT_EQ(a.stats().series, 1u);
}

TEST(series_admission, gives_the_budget_back_when_the_transport_refuses_the_batch) {
  series_admission a({.store = {.max_series = 100, .max_series_per_app = 2}});
  batch_of b("app", series(2));
  auto t = a.admit(b.app, b.candidates, kNow);
  EXPECT_EQ(a.stats().series, 2u);
  a.settle(t, false);
  EXPECT_EQ(a.stats().series, 0u);
  EXPECT_EQ(admitted(admit_and_deliver(a, batch_of("app", series(2, "other")))), 2u);
}

TEST(series_admission, keeps_a_series_another_batch_delivered_while_this_one_failed) {
  series_admission a({.store = {.max_series = 100, .max_series_per_app = 5}});
  batch_of b("app", series(1));
  auto failing = a.admit(b.app, b.candidates, kNow);
  auto delivered = a.admit(b.app, b.candidates, kNow);
  a.settle(delivered, true);
  a.settle(failing, false);
  EXPECT_EQ(a.stats().series, 1u);
}

TEST(series_admission, rejects_a_name_that_sanitises_like_another_name_of_the_app) {
  series_admission a({});
  batch_of b("app", {metric_named("cpu.usage"), metric_named("cpu_usage"),
                     metric_named("cpu-usage"), metric_named("cpu.usage", "b")});
  auto t = admit_and_deliver(a, b);
  EXPECT_EQ(t.admitted, (std::vector<bool>{true, false, false, true}));
  ASSERT_EQ(t.refused.size(), 2u);
  EXPECT_EQ(t.refused[0].index, 1u);
  EXPECT_EQ(t.refused[0].field, "name");
  EXPECT_NE(t.refused[0].error.find(R"(like "cpu.usage")"), std::string::npos)
      << t.refused[0].error;
  // Another app may spell it its own way.
  EXPECT_EQ(admitted(admit_and_deliver(a, batch_of("other", {metric_named("cpu_usage")}))), 1u);
}

TEST(series_admission, rejects_multibyte_names_that_sanitise_alike) {
  series_admission a({});
  auto t = admit_and_deliver(
      a, batch_of("app", {metric_named("temp_\xc3\xa9"), metric_named("temp_\xc3\xbc")}));
  EXPECT_EQ(t.admitted, (std::vector<bool>{true, false}));
}

TEST(series_admission, a_name_is_free_again_once_its_series_are_forgotten) {
  series_admission a({.store = {.ttl_ms = 1000}, .grace_ms = 0});
  admit_and_deliver(a, batch_of("app", {metric_named("cpu.usage")}));
  a.expire(kNow + 1001);
  auto t = admit_and_deliver(a, batch_of("app", {metric_named("cpu_usage")}), kNow + 1001);
  EXPECT_EQ(admitted(t), 1u);
}

TEST(series_admission, counts_weight_against_the_app_byte_budget_at_and_past_it) {
  series_admission probe({});
  batch_of one("app", series(1));
  const std::size_t w = probe.weight(one.keys[0], one.metrics[0]);
  // Exactly three series of this weight fit; the fourth is refused.
  series_admission a(
      {.store = {.max_series = 100, .max_series_per_app = 100}, .max_app_bytes = 3 * w});
  auto t = admit_and_deliver(a, batch_of("app", series(4, "n")));
  // "n0".."n3" have the same length as "m0": the same weight.
  EXPECT_EQ(admitted(t), 3u);
  ASSERT_EQ(t.refused.size(), 1u);
  EXPECT_NE(t.refused[0].error.find("MAX_SERIES_BYTES_PER_APP"), std::string::npos);
  EXPECT_EQ(a.stats().bytes, 3 * w);
}

TEST(series_admission, weight_counts_key_name_tags_largest_profile_id_and_overhead) {
  series_admission a({.max_profile_id_bytes = 256});
  model::metric m{"cpu", 1, kNow, {{"host", "server1"}}, "p"};
  const std::string key = model::series_key("app", m);
  EXPECT_EQ(a.weight(key, m), key.size() + 3 + 4 + 7 + 256 + kSeriesOverheadBytes);
}

TEST(series_admission, refuses_past_the_global_byte_budget) {
  series_admission probe({});
  batch_of one("a", series(1));
  const std::size_t w = probe.weight(one.keys[0], one.metrics[0]);
  series_admission a({.max_app_bytes = 10 * w, .max_total_bytes = 3 * w});
  admit_and_deliver(a, batch_of("a", series(2)));
  auto t = admit_and_deliver(a, batch_of("b", series(2)));
  EXPECT_EQ(admitted(t), 1u);
  EXPECT_NE(t.refused.at(0).error.find("MAX_SERIES_BYTES)"), std::string::npos);
}

// Kafka with N replicas: each instance keeps its own record of the series *it* admitted. With
// sticky routing (every write of an app reaches one instance) the answers are exact; with
// round-robin routing each instance enforces the caps on its own share, so the cluster may hold up
// to N x the cap and the consumer's store is what drops (and counts) the excess. This pins that
// documented behaviour.
TEST(series_admission, replicas_count_only_what_each_admitted) {
  series_admission replica_a({.store = {.max_series_per_app = 3}});
  series_admission replica_b({.store = {.max_series_per_app = 3}});
  auto all = series(6);
  // Sticky: one replica sees all of the app's writes and refuses exactly past the cap.
  EXPECT_EQ(admitted(admit_and_deliver(replica_a, batch_of("sticky", all))), 3u);
  // Round-robin: each replica admits up to the cap from what it sees.
  batch_of first("rr", {all.begin(), all.begin() + 3});
  batch_of second("rr", {all.begin() + 3, all.end()});
  EXPECT_EQ(admitted(admit_and_deliver(replica_a, first)), 3u);
  EXPECT_EQ(admitted(admit_and_deliver(replica_b, second)), 3u);
  // A series already admitted by one replica is new to the other: counted there too (the record
  // can only over-count the cluster, never under-count what one instance sent).
  EXPECT_EQ(admitted(admit_and_deliver(replica_b, first)), 0u);
}

model::metric typed(std::string name, model::metric_type t, std::string host = "a") {
  auto m = metric_named(std::move(name), std::move(host));
  m.type = t;
  return m;
}

constexpr auto kGauge = model::metric_type::gauge;
constexpr auto kCounter = model::metric_type::counter;
constexpr auto kHistogram = model::metric_type::histogram;

TEST(series_admission_types, one_name_has_one_type_within_an_app_and_batch) {
  series_admission a({});
  batch_of b("app", {typed("x", kGauge), typed("x", kCounter, "b"), typed("x", kHistogram, "c"),
                     typed("x", kGauge, "d"), typed("y", kCounter)});
  auto t = admit_and_deliver(a, b);
  EXPECT_EQ(t.admitted, (std::vector<bool>{true, false, false, true, true}));
  ASSERT_EQ(t.refused.size(), 2u);
  EXPECT_EQ(t.refused[0].index, 1u);
  EXPECT_EQ(t.refused[0].field, "type");
  EXPECT_NE(t.refused[0].error.find("a gauge this app writes (\"x\")"), std::string::npos)
      << t.refused[0].error;
  EXPECT_NE(t.refused[0].error.find("as a counter"), std::string::npos) << t.refused[0].error;
  EXPECT_EQ(t.refused[1].index, 2u);
  EXPECT_EQ(t.refused[1].field, "type");
  EXPECT_EQ(a.stats().refused[static_cast<int>(refusal::type_conflict)], 2u);
  // Later batches too, the same series included (an update is free of caps, not of types).
  auto later = admit_and_deliver(a, batch_of("app", {typed("x", kCounter), typed("y", kGauge)}));
  EXPECT_EQ(later.admitted, (std::vector<bool>{false, false}));
  EXPECT_NE(later.refused[1].error.find("a counter this app writes (\"y\")"), std::string::npos)
      << later.refused[1].error;
}

TEST(series_admission_types, exposed_names_collide_across_suffixes) {
  // {held, candidate, collides}
  struct kase {
    model::metric held;
    model::metric candidate;
    bool collides;
  };
  const std::vector<kase> cases = {
      {typed("x_total", kGauge), typed("x", kCounter), true},     // client_metric_x_total
      {typed("x", kCounter), typed("x_total", kGauge), true},     // the other way round
      {typed("x", kHistogram), typed("x_bucket", kGauge), true},  // client_metric_x_bucket
      {typed("x", kHistogram), typed("x_sum", kGauge), true},
      {typed("x", kHistogram), typed("x_count", kGauge), true},
      {typed("x_count", kGauge), typed("x", kHistogram), true},
      {typed("x", kCounter), typed("x_total", kHistogram), true},  // family client_metric_x_total
      {typed("x", kHistogram), typed("x_sum", kCounter), false},   // client_metric_x_sum_total
      {typed("x", kCounter), typed("x_bucket", kHistogram), false},
      {typed("x_total", kCounter), typed("x", kGauge), false},  // client_metric_x_total_total
      {typed("x", kHistogram), typed("x_bucket", kHistogram), false},  // same type
      {typed("x.total", kGauge), typed("x", kCounter), true},          // sanitised alike
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(k.held.name + " " + std::string(model::to_string(k.held.type)) + " vs " +
                 k.candidate.name + " " + std::string(model::to_string(k.candidate.type)));
    series_admission a({});
    ASSERT_EQ(admitted(admit_and_deliver(a, batch_of("app", {k.held}))), 1u);
    auto t = admit_and_deliver(a, batch_of("app", {k.candidate}));
    EXPECT_EQ(admitted(t), k.collides ? 0u : 1u);
    if (k.collides) {
      ASSERT_EQ(t.refused.size(), 1u);
      EXPECT_EQ(t.refused[0].field, "type");
      EXPECT_NE(t.refused[0].error.find(std::string(model::to_string(k.held.type))),
                std::string::npos)
          << t.refused[0].error;
    }
    // The same across apps: every app's series of a name form one family.
    series_admission g({});
    ASSERT_EQ(admitted(admit_and_deliver(g, batch_of("one", {k.held}))), 1u);
    auto other = admit_and_deliver(g, batch_of("two", {k.candidate}));
    EXPECT_EQ(admitted(other), k.collides ? 0u : 1u);
  }
}

TEST(series_admission_types, another_apps_type_is_named_but_not_its_metric) {
  series_admission a({});
  admit_and_deliver(a, batch_of("one", {typed("secret.name", kHistogram)}));
  auto t = admit_and_deliver(a, batch_of("two", {typed("secret_name", kGauge)}));
  ASSERT_EQ(t.refused.size(), 1u);
  EXPECT_EQ(t.refused[0].field, "type");
  EXPECT_NE(t.refused[0].error.find("a histogram another app writes"), std::string::npos)
      << t.refused[0].error;
  EXPECT_EQ(t.refused[0].error.find("secret.name"), std::string::npos) << t.refused[0].error;
  // The same type from another app is one family: fine.
  EXPECT_EQ(admitted(admit_and_deliver(a, batch_of("two", {typed("secret_name", kHistogram)}))),
            1u);
}

TEST(series_admission_types, a_type_is_free_again_after_ttl_and_grace_or_a_failed_batch) {
  series_admission a({.store = {.ttl_ms = 1000}, .grace_ms = 500});
  admit_and_deliver(a, batch_of("app", {typed("x", kCounter)}));
  admit_and_deliver(a, batch_of("other", {typed("x", kCounter)}), kNow + 400);
  // Held until ttl + grace after the last write of any app.
  a.expire(kNow + 1900);
  EXPECT_EQ(admitted(admit_and_deliver(a, batch_of("app", {typed("x", kGauge)}), kNow + 1900)), 0u);
  a.expire(kNow + 1901);
  EXPECT_EQ(admitted(admit_and_deliver(a, batch_of("app", {typed("x", kGauge)}), kNow + 1901)), 1u);

  // A batch the transport refused claims nothing.
  series_admission b({});
  batch_of failing("app", {typed("z", kHistogram)});
  auto t = b.admit(failing.app, failing.candidates, kNow);
  // While pending it holds the type (a concurrent batch must not take it with another type).
  EXPECT_EQ(admitted(admit_and_deliver(b, batch_of("other", {typed("z", kGauge)}))), 0u);
  b.settle(t, false);
  EXPECT_EQ(admitted(admit_and_deliver(b, batch_of("other", {typed("z", kGauge)}))), 1u);
  EXPECT_EQ(b.stats().apps, 1u);
}

TEST(series_admission_types, a_gauge_only_workload_is_admitted_as_before) {
  series_admission a({.store = {.max_series = 100, .max_series_per_app = 3}});
  auto t = admit_and_deliver(a, batch_of("app", series(5)));
  EXPECT_EQ(admitted(t), 3u);
  for (const auto& r : t.refused) EXPECT_EQ(r.field, "series");
  EXPECT_EQ(a.stats().refused[static_cast<int>(refusal::type_conflict)], 0u);
}

// A batch writes each name and claim once, however many items use it; the items after the first
// of a name pass its checks (or not) exactly as separate items would have.
TEST(series_admission_types, a_batch_holds_each_name_once_and_gives_it_back_on_failure) {
  series_admission a({});
  std::vector<model::metric> items;
  for (int i = 0; i < 12; ++i) items.push_back(metric_named("x_", "h" + std::to_string(i)));
  items.push_back(typed("x_", kCounter));     // same name, other type: refused in the same batch
  items.push_back(metric_named("x_", "h0"));  // the first item's series again
  batch_of failing("app", items);
  auto t = a.admit(failing.app, failing.candidates, kNow);
  EXPECT_EQ(admitted(t), 13u);
  ASSERT_EQ(t.refused.size(), 1u);
  EXPECT_EQ(t.refused[0].index, 12u);
  EXPECT_EQ(t.refused[0].field, "type");
  EXPECT_EQ(t.names.size(), 1u);   // client_metric_x_
  EXPECT_EQ(t.claims.size(), 2u);  // its identity and its gauge sample name
  EXPECT_EQ(a.stats().series, 12u);
  // Pending: another spelling of the name and another type are refused meanwhile.
  EXPECT_EQ(admitted(admit_and_deliver(a, batch_of("app", {metric_named("x-")}))), 0u);
  EXPECT_EQ(admitted(admit_and_deliver(a, batch_of("other", {typed("x_", kCounter)}))), 0u);
  a.settle(t, false);
  EXPECT_EQ(a.stats().series, 0u);
  EXPECT_EQ(admitted(admit_and_deliver(a, batch_of("app", {metric_named("x-")}))), 1u);

  // Delivered, the batch's names stay held until ttl: another spelling is still refused.
  series_admission b({});
  batch_of ok("app", std::vector<model::metric>(20, metric_named("z_")));
  auto u = b.admit(ok.app, ok.candidates, kNow);
  EXPECT_EQ(admitted(u), 20u);
  b.settle(u, true);
  EXPECT_EQ(b.stats().series, 1u);
  EXPECT_EQ(admitted(admit_and_deliver(b, batch_of("app", {metric_named("z-")}))), 0u);
}

// The grouping by name a caller hands over (candidate::same_name, as ingest does) must give the
// answer admit() gives grouping the items itself; a wrong head must not be trusted.
TEST(series_admission_types, a_callers_grouping_by_name_is_used_only_when_it_holds) {
  // Ten or more items (first_with_same_name's map path), names interleaved, one name spelt two
  // ways, one name sent with two types.
  const std::vector<model::metric> items = {
      typed("a", kGauge),        typed("b", kGauge),        typed("a", kGauge, "b"),
      typed("b", kCounter, "b"), typed("a.b", kGauge),      typed("a_b", kGauge),
      typed("c", kHistogram),    typed("b", kCounter, "c"), typed("c", kHistogram, "b"),
      typed("a", kGauge, "c"),   typed("a_b", kGauge, "b"), typed("d", kCounter)};
  const auto answer = [](const series_admission::ticket& t) {
    std::vector<std::string> out;
    for (bool a : t.admitted) out.push_back(a ? "admitted" : "refused");
    for (const auto& r : t.refused)
      out.push_back(std::to_string(r.index) + " " + r.field + " " + r.error);
    out.push_back(std::to_string(t.series.size()) + " series, " + std::to_string(t.names.size()) +
                  " names, " + std::to_string(t.claims.size()) + " claims");
    return out;
  };
  const auto grouped = [&](std::vector<std::size_t> heads) {
    series_admission a({});
    batch_of b("app", items);
    for (std::size_t i = 0; i < heads.size(); ++i) b.candidates[i].same_name = heads[i];
    return answer(a.admit(b.app, b.candidates, kNow));
  };
  const auto expected = grouped({});  // ungrouped: admit() groups them
  // The refusals this layout must give: "a_b" spelt like "a.b", "b" as a counter after a gauge.
  ASSERT_EQ(expected[12], "3 type " + expected[12].substr(7));
  ASSERT_EQ(expected[13].substr(0, 7), "5 name ");
  ASSERT_EQ(expected[15].substr(0, 8), "10 name ");

  // The right grouping (what ingest hands over).
  EXPECT_EQ(grouped({0, 1, 0, 1, 4, 5, 6, 1, 6, 0, 5, 11}), expected);
  // Wrong ones: heads of another name (also one that sanitises alike: "a_b" under "a.b"), a head
  // after its item, a head that is not its own head.
  EXPECT_EQ(grouped({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), expected);
  EXPECT_EQ(grouped({0, 1, 9, 1, 4, 5, 6, 1, 6, 0, 5, 11}), expected);
  EXPECT_EQ(grouped({0, 1, 0, 1, 4, 5, 6, 3, 6, 0, 5, 11}), expected);
  EXPECT_EQ(grouped({0, 1, 0, 1, 4, 4, 6, 1, 6, 0, 5, 11}), expected);
}

// A ticket holds the ids of its entries: inserts (growing the record) and erases by other
// batches between admit() and settle() must not move them.
TEST(series_admission, a_ticket_settles_its_own_series_after_the_record_grew_and_shrank) {
  series_admission a({.store = {.max_series_per_app = 305}});
  batch_of first("app", series(5, "first"));
  auto t = a.admit(first.app, first.candidates, kNow);
  ASSERT_EQ(admitted(t), 5u);
  // Meanwhile 100 series that fail (erased: their ids are free again), then 300 delivered (the
  // record doubles several times and reuses those ids).
  batch_of failing("app", series(100, "failing"));
  auto f = a.admit(failing.app, failing.candidates, kNow);
  ASSERT_EQ(admitted(f), 100u);
  a.settle(f, false);
  batch_of others("app", series(300, "other"));
  EXPECT_EQ(admitted(admit_and_deliver(a, others)), 300u);
  EXPECT_EQ(a.stats().series, 305u);
  a.settle(t, false);  // the first batch fails: exactly its 5 series come back
  EXPECT_EQ(a.stats().series, 300u);
  EXPECT_EQ(a.stats().bytes, [&] {
    std::size_t w = 0;
    for (std::size_t i = 0; i < others.metrics.size(); ++i)
      w += a.weight(others.keys[i], others.metrics[i]);
    return w;
  }());
  // The delivered ones are still held (updates), the first batch's are new again and fit.
  EXPECT_EQ(admitted(admit_and_deliver(a, others)), 300u);
  EXPECT_EQ(admitted(admit_and_deliver(a, first)), 5u);
  EXPECT_EQ(a.stats().series, 305u);
  EXPECT_EQ(admitted(admit_and_deliver(a, batch_of("app", series(1, "over")))), 0u);
}

}  // namespace
}  // namespace mca::pipeline
