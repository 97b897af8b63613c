// The service's front: /health is composed from the registered probes that report a health,
// readiness from the producer and the registry, the app view from the store.
#include "pipeline/service_front.h"

#include <gtest/gtest.h>

#include "support/fake_transport.h"
#include "support/support.h"

namespace mca::pipeline {
namespace {

// A component whose health the test sets.
class fake_component_probe final : public util::probe {
 public:
  explicit fake_component_probe(std::string name) : name_(std::move(name)) {}
  void collect(util::families&) const override {}
  std::optional<util::component_health> health() const override {
    return util::component_health{name_, state};
  }
  util::health state{true, "ok", {}};

 private:
  std::string name_;
};

class front_test : public ::testing::Test {
 protected:
  front_test()
      : v1_(avro::schema::load_metric_schema(test::schema_file()).value()),
        v2_(avro::schema::load_typed_metric_schema(test::schema_v2_file()).value()),
        registry_(registry::make_embedded(v1_, v2_)),
        store_(store::store_limits{}, clock_),
        ingest_(model::limits{}, *registry_, producer_, clock_),
        consume_(v1_, v2_, *registry_, store_) {}

  std::unique_ptr<front> make(const util::probe_list& probes) {
    return make_front(ingest_, consume_, store_, *registry_, producer_, probes);
  }

  avro::schema v1_;
  avro::schema v2_;
  std::unique_ptr<registry::schema_registry> registry_;
  util::manual_clock clock_;
  store::series_store store_;
  test::fake_producer producer_;
  ingest ingest_;
  consume consume_;
  const util::probe_list none_;
};

TEST_F(front_test, health_lists_the_probes_that_report_one_in_their_order) {
  auto transport = std::make_shared<fake_component_probe>("transport");
  auto consumer = std::make_shared<fake_component_probe>("consumer");
  const util::probe_list probes{transport, util::probe_from([](util::families&) {}), consumer};
  auto f = make(probes);
  auto parts = f->health();
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].component, "transport");
  EXPECT_EQ(parts[1].component, "consumer");
  EXPECT_TRUE(parts[1].health.ok);

  consumer->state = {false, "rebalancing", {{"lag", 3}}};
  parts = f->health();
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_FALSE(parts[1].health.ok);
  EXPECT_EQ(parts[1].health.status, "rebalancing");
  EXPECT_EQ(parts[1].health.info.at("lag").as_int64(), 3);
  EXPECT_TRUE(parts[0].health.ok);
}

TEST_F(front_test, health_follows_probes_registered_after_the_front_was_built) {
  util::probe_list probes;
  auto f = make(probes);
  EXPECT_TRUE(f->health().empty());
  probes.push_back(std::make_shared<fake_component_probe>("registry"));
  ASSERT_EQ(f->health().size(), 1u);
  EXPECT_EQ(f->health()[0].component, "registry");
}

TEST_F(front_test, the_transport_and_registry_probes_report_under_the_names_health_lists) {
  const util::probe_list probes{transport::make_probe(producer_), registry::make_probe(*registry_)};
  auto parts = make(probes)->health();
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].component, "transport");
  EXPECT_EQ(parts[0].health.status, producer_.health().status);
  EXPECT_EQ(parts[1].component, "registry");
  EXPECT_EQ(parts[1].health.ok, registry_->health().ok);
}

TEST_F(front_test, readiness_needs_the_transport_and_our_schema_id) {
  const auto r = make(none_)->ready();
  EXPECT_TRUE(r.ready);
  EXPECT_EQ(r.transport, "ok");
  EXPECT_TRUE(r.schema_registered);
}

TEST_F(front_test, the_app_view_lists_what_the_store_holds_for_the_app) {
  model::metric m{"cpu", 0.5, clock_.now_ms(), {{"host", "a"}}, "p", model::metric_type::gauge};
  store_.apply("web", m, 3, clock_.now_ms());
  store_.apply("other", m, 3, clock_.now_ms());
  const auto listed = make(none_)->app_series("web");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].app_id, "web");
  EXPECT_EQ(listed[0].original_name, "cpu");
  EXPECT_EQ(listed[0].exposition_name, "client_metric_cpu");
  EXPECT_EQ(listed[0].tags, (std::vector<model::tag>{{"host", "a"}}));
  EXPECT_EQ(listed[0].value, 0.5);
  EXPECT_EQ(listed[0].profile_id, "p");
}

}  // namespace
}  // namespace mca::pipeline
