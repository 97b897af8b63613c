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
  explicit function_probe(std::function<void(families&)> collect) : collect_(std::move(collect)) {}
  void collect(families& out) const override { collect_(out); }

 private:
  std::function<void(families&)> collect_;
};

}  // namespace

std::shared_ptr<probe> probe_from(std::function<void(families&)> collect) {
  return std::make_shared<function_probe>(std::move(collect));
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
