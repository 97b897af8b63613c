#include "util/probe.h"

namespace mca::util {
namespace {

prometheus::MetricFamily family(std::string name, std::string help, prometheus::MetricType type,
                                std::vector<labelled_value> values) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  f.metric.reserve(values.size());
  for (auto& v : values) {
    prometheus::ClientMetric m;
    for (auto& [label, value] : v.labels) m.label.push_back({std::move(label), std::move(value)});
    if (type == prometheus::MetricType::Counter) {
      m.counter.value = v.value;
    } else {
      m.gauge.value = v.value;
    }
    f.metric.push_back(std::move(m));
  }
  return f;
}

class function_probe final : public probe {
 public:
  function_probe(std::function<void(families&)> collect, std::string component,
                 std::function<util::health()> health)
      : collect_(std::move(collect)),
        component_(std::move(component)),
        health_(std::move(health)) {}
  void collect(families& out) const override { collect_(out); }
  std::optional<component_health> health() const override {
    if (!health_) return std::nullopt;
    return component_health{component_, health_()};
  }

 private:
  std::function<void(families&)> collect_;
  std::string component_;
  std::function<util::health()> health_;  // empty: no health to report
};

}  // namespace

std::shared_ptr<probe> probe_from(std::function<void(families&)> collect) {
  return std::make_shared<function_probe>(std::move(collect), std::string(), nullptr);
}

std::shared_ptr<probe> probe_from(std::function<void(families&)> collect, std::string component,
                                  std::function<util::health()> health) {
  return std::make_shared<function_probe>(std::move(collect), std::move(component),
                                          std::move(health));
}

std::vector<component_health> health_of(const probe_list& probes) {
  std::vector<component_health> out;
  for (const auto& p : probes) {
    if (auto h = p->health()) out.push_back(std::move(*h));
  }
  return out;
}

prometheus::MetricFamily counter_family(std::string name, std::string help, double value) {
  return family(std::move(name), std::move(help), prometheus::MetricType::Counter,
                {labelled_value{{}, value}});
}

prometheus::MetricFamily gauge_family(std::string name, std::string help, double value) {
  return family(std::move(name), std::move(help), prometheus::MetricType::Gauge,
                {labelled_value{{}, value}});
}

prometheus::MetricFamily counter_family(std::string name, std::string help,
                                        std::vector<labelled_value> values) {
  return family(std::move(name), std::move(help), prometheus::MetricType::Counter,
                std::move(values));
}

prometheus::MetricFamily gauge_family(std::string name, std::string help,
                                      std::vector<labelled_value> values) {
  return family(std::move(name), std::move(help), prometheus::MetricType::Gauge, std::move(values));
}

}  // namespace mca::util
