#include "model/buckets.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>

namespace mca::model {
namespace {

std::string format_bound(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

}  // namespace

std::vector<double> prometheus_default_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::optional<std::string> check_bounds(const std::vector<double>& bounds) {
  if (bounds.empty()) return "needs at least one bound";
  if (bounds.size() > kMaxBucketBounds)
    return "more than " + std::to_string(kMaxBucketBounds) + " bounds (" +
           std::to_string(bounds.size()) + ")";
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) return "bounds must be finite (+Inf is implied)";
    if (i > 0 && !(bounds[i] > bounds[i - 1]))
      return "bounds must be strictly increasing (" + format_bound(bounds[i - 1]) + " then " +
             format_bound(bounds[i]) + ")";
  }
  return std::nullopt;
}

const std::vector<std::pair<std::string, std::vector<double>>>& bucket_layouts::web_vitals() {
  // Bounds around each vital's good/poor thresholds (web.dev): both thresholds are bounds, so
  // the share of good, needs-improvement and poor observations reads off the buckets exactly.
  static const std::vector<std::pair<std::string, std::vector<double>>> layouts = {
      // CLS (unitless): good <= 0.1, poor > 0.25
      {"web_vitals_cls", {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 1}},
      // FCP (ms): good <= 1800, poor > 3000
      {"web_vitals_fcp", {250, 500, 1000, 1500, 1800, 2000, 2500, 3000, 4000, 5000, 7500, 10000}},
      // INP (ms): good <= 200, poor > 500
      {"web_vitals_inp", {25, 50, 100, 150, 200, 250, 300, 400, 500, 750, 1000, 2000, 5000}},
      // LCP (ms): good <= 2500, poor > 4000
      {"web_vitals_lcp",
       {250, 500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 5000, 6000, 8000, 10000, 20000}},
      // TTFB (ms): good <= 800, poor > 1800
      {"web_vitals_ttfb", {50, 100, 200, 400, 600, 800, 1000, 1200, 1500, 1800, 2500, 4000, 6000}},
  };
  return layouts;
}

bucket_layouts::bucket_layouts() : bucket_layouts({}, prometheus_default_buckets()) {}

bucket_layouts::bucket_layouts(std::vector<std::pair<std::string, std::vector<double>>> per_name,
                               std::vector<double> default_bounds)
    : named_(std::move(per_name)), default_(std::move(default_bounds)) {
  // Built-ins unless a configured layout names the same metric.
  for (const auto& [name, bounds] : web_vitals()) {
    // An init-capture, not [&]: clang before 16 (clang-tidy) cannot capture a structured binding.
    const bool configured = std::any_of(named_.begin(), named_.end(),
                                        [&key = name](const auto& e) { return e.first == key; });
    if (!configured) named_.emplace_back(name, bounds);
  }
  std::sort(named_.begin(), named_.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  if (default_.empty()) default_ = prometheus_default_buckets();
}

const std::vector<double>& bucket_layouts::layout_for(std::string_view name) const {
  const auto it = std::lower_bound(named_.begin(), named_.end(), name,
                                   [](const auto& e, std::string_view n) { return e.first < n; });
  if (it != named_.end() && it->first == name) return it->second;
  return default_;
}

}  // namespace mca::model
