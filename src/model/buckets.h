// Histogram bucket layouts: which upper bounds a histogram series counts its observations in.
// Pure values and functions: thread-safe, no I/O.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mca::model {

// At most this many upper bounds per layout (+Inf is implied and not counted; config checks the
// settings against the same number). A histogram series
// costs bounds + 3 Prometheus series (+Inf, _sum, _count) against the caps.
inline constexpr std::size_t kMaxBucketBounds = 64;

// Prometheus' default buckets (client_golang's DefBuckets), used when HISTOGRAM_DEFAULT_BUCKETS is
// not set and no layout names the metric.
std::vector<double> prometheus_default_buckets();

// Why a list of bounds is not a layout; nullopt when it is one: 1..kMaxBucketBounds bounds, each
// finite, strictly increasing.
std::optional<std::string> check_bounds(const std::vector<double>& bounds);

// The layouts of one instance: the built-in web-vitals layouts, overridden or extended by
// HISTOGRAM_BUCKETS, and the default (HISTOGRAM_DEFAULT_BUCKETS) for every other name. The
// settings are parsed and checked by config; an empty default means Prometheus' defaults.
class bucket_layouts {
 public:
  // Prometheus' defaults and the built-in web-vitals layouts.
  bucket_layouts();
  bucket_layouts(std::vector<std::pair<std::string, std::vector<double>>> per_name,
                 std::vector<double> default_bounds);

  // The layout for a histogram named `name` (exact, case-sensitive match on the name the client
  // sent; otherwise the default). The reference stays valid for the object's lifetime.
  const std::vector<double>& layout_for(std::string_view name) const;
  const std::vector<double>& default_layout() const { return default_; }

  // The built-in layouts: web_vitals_lcp, _inp, _fcp, _ttfb (ms) and web_vitals_cls (unitless),
  // each with its good and poor thresholds among the bounds.
  static const std::vector<std::pair<std::string, std::vector<double>>>& web_vitals();

 private:
  std::vector<std::pair<std::string, std::vector<double>>> named_;  // sorted by name
  std::vector<double> default_;
};

}  // namespace mca::model
