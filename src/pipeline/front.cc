#include "pipeline/front.h"

#include "pipeline/consume.h"

namespace mca::pipeline {
namespace {

class service_front final : public front {
 public:
  service_front(ingest& in, consume& c, store::series_store& store,
                registry::schema_registry& registry, transport::producer& producer,
                transport::consumer& consumer)
      : ingest_(in),
        consume_(c),
        store_(store),
        registry_(registry),
        producer_(producer),
        consumer_(consumer) {}

  void submit(std::string_view app_id, batch b, ingest::callback done) override {
    ingest_.submit(app_id, std::move(b), std::move(done));
  }

  std::vector<series> app_series(std::string_view app_id) const override {
    return store_.app_series(app_id);
  }

  consumer_counters counters() const override {
    const auto cs = consume_.stats();
    const auto ss = store_.stats();
    return {cs.consumed, cs.decode_errors_total(), ss.series, ss.dropped_global + ss.dropped_app};
  }

  components health() override {
    return {producer_.health(), registry_.health(), consumer_.health()};
  }

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
  transport::consumer& consumer_;
};

}  // namespace

std::unique_ptr<front> make_front(ingest& in, consume& c, store::series_store& store,
                                  registry::schema_registry& registry,
                                  transport::producer& producer, transport::consumer& consumer) {
  return std::make_unique<service_front>(in, c, store, registry, producer, consumer);
}

}  // namespace mca::pipeline
