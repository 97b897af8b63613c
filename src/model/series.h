// One series as the service lists it (GET /api/v2/app/{app_id}/metrics): a copy of what the store
// holds, without the store's bookkeeping (store::series adds it). A plain value type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/metric.h"

namespace mca::model {

struct series {
  std::string app_id;
  std::string exposition_name;  // client_metric_<sanitised>
  std::string original_name;    // as the client sent it (HELP text, JSON API)
  std::vector<tag> labels;      // (label_name, value), sorted by label_name
  std::vector<tag> tags;        // original tags as received (JSON API)
  double value = 0;
  std::int64_t timestamp_ms = 0;  // the metric's own timestamp
  std::string profile_id;
  metric_type type = metric_type::gauge;
  // Aggregates. counter: value = sum = the total, count = records applied. histogram: sum and
  // count of the observations, `buckets` per bound, NON-cumulative, bounds.size() + 1 (last: +Inf).
  double sum = 0;
  std::uint64_t count = 0;
  std::vector<double> bounds;
  std::vector<std::uint64_t> buckets;
};

}  // namespace mca::model
