#include "pipeline/service_front.h"

namespace mca::pipeline {
namespace {

class service_front final : public front {
 public:
  service_front(ingest& in, consume& c, store::series_store& store,
                registry::schema_registry& registry, transport::producer& producer,
                const util::probe_list& probes)
      : ingest_(in),
        consume_(c),
        store_(store),
        registry_(registry),
        producer_(producer),
        probes_(probes) {}

  void submit(std::string_view app_id, batch b, submit_callback done) override {
    ingest_.submit(app_id, std::move(b), std::move(done));
  }

  std::vector<series> app_series(std::string_view app_id) const override {
    auto held = store_.app_series(app_id);
    std::vector<series> out;
    out.reserve(held.size());
    for (auto& s : held) out.push_back(std::move(static_cast<series&>(s)));
    return out;
  }

  consumer_counters counters() const override {
    const auto cs = consume_.stats();
    const auto ss = store_.stats();
    return {cs.consumed, cs.decode_errors_total(), ss.series, ss.dropped_global + ss.dropped_app};
  }

  components health() override { return util::health_of(probes_); }

  readiness ready() override {
    auto transport = producer_.health();
    const bool registered = registry_.value_schema_id().has_value();
    return {transport.ok && registered, std::move(transport.status), registered};
  }

 private:
  ingest& ingest_;
  consume& consume_;
  store::series_store& store_;
  registry::schema_registry& registry_;
  transport::producer& producer_;
  const util::probe_list& probes_;
};

}  // namespace

std::unique_ptr<front> make_front(ingest& in, consume& c, store::series_store& store,
                                  registry::schema_registry& registry,
                                  transport::producer& producer, const util::probe_list& probes) {
  return std::make_unique<service_front>(in, c, store, registry, producer, probes);
}

}  // namespace mca::pipeline
