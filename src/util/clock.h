// Time as an interface so tests inject it (no sleeps in tests).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace mca::util {

// Wall-clock milliseconds since the Unix epoch. Thread-safe.
class clock {
 public:
  virtual ~clock() = default;
  virtual std::int64_t now_ms() const = 0;
};

class system_clock final : public clock {
 public:
  std::int64_t now_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// A clock tests move by hand. Thread-safe.
class manual_clock final : public clock {
 public:
  explicit manual_clock(std::int64_t start_ms = 1'700'000'000'000) : now_(start_ms) {}
  std::int64_t now_ms() const override { return now_.load(std::memory_order_relaxed); }
  void set(std::int64_t ms) { now_.store(ms, std::memory_order_relaxed); }
  void advance(std::chrono::milliseconds d) {
    now_.fetch_add(d.count(), std::memory_order_relaxed);
  }

 private:
  std::atomic<std::int64_t> now_;
};

// The process-wide real clock.
const clock& real_clock();

}  // namespace mca::util
