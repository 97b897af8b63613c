#include "auth/rate_limit.h"

#include <algorithm>
#include <cmath>

namespace mca::auth {

std::int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bucket_table::bucket_table(double rate, std::size_t max_entries, clock_ns now)
    : rate_(rate),
      burst_(std::max(1.0, rate)),
      max_entries_(std::max<std::size_t>(1, max_entries)),
      now_(std::move(now)) {
  index_.reserve(std::min<std::size_t>(max_entries_, 1 << 16));
}

double bucket_table::level(const bucket& b, std::int64_t now) const {
  const double elapsed = static_cast<double>(std::max<std::int64_t>(0, now - b.last_ns)) / 1e9;
  return std::min(burst_, b.tokens + elapsed * rate_);
}

admission bucket_table::take(std::string_view key, double n) {
  const std::int64_t now = now_();
  std::lock_guard lock(mu_);
  // The least recently used bucket, once full again, is worth nothing: drop it.
  if (!lru_.empty() && lru_.back().key != key && level(lru_.back(), now) >= burst_) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
  auto it = index_.find(key);
  if (it == index_.end()) {
    if (lru_.size() >= max_entries_) {
      if (level(lru_.back(), now) < burst_) ++evictions_;
      index_.erase(lru_.back().key);
      lru_.pop_back();
    }
    lru_.push_front(bucket{std::string(key), burst_, now});
    it = index_.emplace(lru_.front().key, lru_.begin()).first;
  } else if (it->second != lru_.begin()) {
    lru_.splice(lru_.begin(), lru_, it->second);  // iterators stay valid
  }
  bucket& b = *it->second;
  b.tokens = level(b, now);
  b.last_ns = now;
  const double need = std::min(n, burst_);
  if (b.tokens >= need) {
    b.tokens -= n;
    return {};
  }
  const double wait = (need - b.tokens) / rate_;
  return {false, std::chrono::seconds(
                     std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(wait))))};
}

std::size_t bucket_table::size() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

std::uint64_t bucket_table::evictions() const {
  std::lock_guard lock(mu_);
  return evictions_;
}

}  // namespace mca::auth
