// Token buckets per key (a client address, an app id) in a table of bounded size.
//
// A bucket fills at `rate` tokens per second up to `burst` tokens (one second's worth: burst =
// rate, at least 1). A request for n tokens is admitted when the bucket holds min(n, burst) and
// then takes all n, so the balance may go negative: a batch larger than the burst still gets
// through once the bucket is full, and the debt is paid back before the next one, which keeps the
// long-run average at `rate`. A refused request takes nothing and learns how long to wait.
//
// Bounded memory: at most `max_entries` buckets, in least-recently-used order. A bucket that has
// refilled to `burst` is the same as no bucket, so the least recently used one is dropped as soon
// as it is full (one check per call) and, when the table is at its bound, dropped anyway to make
// room: a client only gains from eviction if more than `max_entries` other keys were seen within
// one refill (burst / rate seconds), and the table never grows past its bound however many
// addresses a client rotates through.
//
// Thread-safe: one mutex per table, held for one hash look-up and a little arithmetic.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mca::auth {

// Monotonic nanoseconds; tests inject their own.
using clock_ns = std::function<std::int64_t()>;
std::int64_t steady_now_ns();

struct admission {
  bool admitted = true;
  std::chrono::seconds retry_after{0};  // when refused: whole seconds until it would pass, >= 1
};

class bucket_table {
 public:
  // rate > 0 tokens per second; max_entries >= 1.
  bucket_table(double rate, std::size_t max_entries, clock_ns now = steady_now_ns);
  bucket_table(const bucket_table&) = delete;
  bucket_table& operator=(const bucket_table&) = delete;

  admission take(std::string_view key, double n = 1);

  double rate() const { return rate_; }
  double burst() const { return burst_; }
  std::size_t max_entries() const { return max_entries_; }
  std::size_t size() const;
  // Buckets dropped to make room while not yet full (each is a client whose limit restarted).
  std::uint64_t evictions() const;

 private:
  struct bucket {
    std::string key;
    double tokens;
    std::int64_t last_ns;
  };
  double level(const bucket& b, std::int64_t now) const;

  const double rate_;
  const double burst_;
  const std::size_t max_entries_;
  const clock_ns now_;
  mutable std::mutex mu_;
  std::list<bucket> lru_;  // front: most recently used
  std::unordered_map<std::string_view, std::list<bucket>::iterator> index_;  // views into lru_
  std::uint64_t evictions_ = 0;
};

}  // namespace mca::auth
