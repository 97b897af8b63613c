// A log-linear latency histogram (the HdrHistogram layout with 2 significant digits): values in
// nanoseconds, 64 linear sub-buckets per power of two, so any recorded value is reported within
// 1.6 % of itself. Fixed size (about 2,400 counters), no allocation while recording, and two
// histograms merge by adding counters, so each generator thread keeps its own.
//
// Not thread-safe: one writer; merge() after the writers are done.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>

namespace mca::bench {

class latency_histogram {
 public:
  void record(std::uint64_t ns) {
    ++counts_[index_of(ns)];
    ++total_;
    max_ = std::max(max_, ns);
  }

  void merge(const latency_histogram& other) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    max_ = std::max(max_, other.max_);
  }

  std::uint64_t count() const { return total_; }
  std::uint64_t max() const { return max_; }

  // The smallest recorded bucket value v such that at least q of the samples are <= v (q in
  // [0, 1]); 0 when empty. Reports the bucket's upper bound, so percentiles never flatter.
  std::uint64_t quantile(double q) const {
    if (total_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_) + 0.5);
    const std::uint64_t want = std::clamp<std::uint64_t>(rank, 1, total_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= want) return std::min(upper_of(i), max_);
    }
    return max_;
  }

 private:
  static constexpr std::uint64_t kLinear = 128;  // values below this have a bucket each
  static constexpr std::uint64_t kHalf = kLinear / 2;
  static constexpr int kMaxMsb = 44;  // about 4.9 hours in ns; larger values share the top bucket
  static constexpr std::size_t kBuckets = kLinear + (kMaxMsb - 6) * kHalf;

  static std::size_t index_of(std::uint64_t v) {
    if (v < kLinear) return static_cast<std::size_t>(v);
    int msb = 63 - std::countl_zero(v);
    if (msb > kMaxMsb) return kBuckets - 1;
    const int shift = msb - 6;
    const std::uint64_t sub = v >> shift;  // in [64, 128)
    return static_cast<std::size_t>(kLinear + (msb - 7) * kHalf + (sub - kHalf));
  }

  static std::uint64_t upper_of(std::size_t i) {
    if (i < kLinear) return i;
    const std::uint64_t rel = i - kLinear;
    const int msb = static_cast<int>(rel / kHalf) + 7;
    const std::uint64_t sub = rel % kHalf + kHalf;
    const int shift = msb - 6;
    return ((sub + 1) << shift) - 1;
  }

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace mca::bench
