// A module's report on itself: the self-metric families it counts (names, HELP texts and types
// live next to its counters, in the module) and, for a component /health lists, its health. The
// app registers every module's probe once, in one list: the exposition renders their families and
// /health lists their health reports, so a new counter touches its module and the README's table,
// and a new component of /health its module's probe, nothing else.
//
// A probe is a prometheus::Collectable: collect() runs on the scraping thread at every scrape,
// health() on an HTTP thread at every /health; both must be thread-safe (read atomics or stats()
// snapshots that take their own lock) and must not block.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "util/health.h"

namespace mca::util {

using families = std::vector<prometheus::MetricFamily>;

// One component of /health: its name (the key under "components") and its health.
struct component_health {
  std::string component;
  util::health health;
};

class probe : public prometheus::Collectable {
 public:
  // Appends this module's families. Names must be unique across probes, carry the `mca_` prefix
  // (or a name the seed fixed) and never start with "client_metric_" (the series store's).
  virtual void collect(families& out) const = 0;

  // This module's component of /health, or nullopt (the default) when /health does not list it.
  // Component names must be unique across probes.
  virtual std::optional<component_health> health() const { return std::nullopt; }

  families Collect() const final {
    families out;
    collect(out);
    return out;
  }
};

using probe_list = std::vector<std::shared_ptr<probe>>;

// A probe from a function that appends the families. What it reads must outlive the probe.
std::shared_ptr<probe> probe_from(std::function<void(families&)> collect);
// The same, which also reports the health of `component` (what `health` returns).
std::shared_ptr<probe> probe_from(std::function<void(families&)> collect, std::string component,
                                  std::function<util::health()> health);

// The health reports of the probes that give one, in the probes' order.
std::vector<component_health> health_of(const probe_list& probes);

using label_set = std::vector<std::pair<std::string, std::string>>;

struct labelled_value {
  label_set labels;
  double value = 0;
};

// One-sample families, e.g. counter_family("kafka_metrics_consumed_total",
// "Total metrics consumed from Kafka", n). Counter names should end in "_total".
prometheus::MetricFamily counter_family(std::string name, std::string help, double value);
prometheus::MetricFamily gauge_family(std::string name, std::string help, double value);

// Families with one sample per label set, e.g. mca_ingest_metrics_total{result="accepted"}.
prometheus::MetricFamily counter_family(std::string name, std::string help,
                                        std::vector<labelled_value> values);
prometheus::MetricFamily gauge_family(std::string name, std::string help,
                                      std::vector<labelled_value> values);

// One sample per value of an enum 0..n-1, labelled `label`="to_string(value)"; `count(i)` is the
// sample of value i. For counters kept in an array indexed by an enum (reasons, verdicts).
template <typename Enum, typename ToString, typename Count>
std::vector<labelled_value> by_enum(std::string_view label, std::size_t first, std::size_t n,
                                    ToString to_string, Count count) {
  std::vector<labelled_value> out;
  for (std::size_t i = first; i < n; ++i) {
    out.push_back({{{std::string(label), std::string(to_string(static_cast<Enum>(i)))}},
                   static_cast<double>(count(i))});
  }
  return out;
}

}  // namespace mca::util
