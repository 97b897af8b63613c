// A consumer handler that keeps copies of everything a consumer tells it, for the tests of every
// transport (the embedded log, Kafka over the mock cluster). Thread-safe: the consumer calls it
// on its thread, the test reads copies on its own.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "transport/transport.h"

namespace mca::test {

// A copy of `value` taken under `mu`: how a test thread reads a handler's state.
template <class T>
T locked_copy(std::mutex& mu, const T& value) {
  std::lock_guard lock(mu);
  return value;
}

class recording_handler final : public transport::consumer_handler {
 public:
  struct owned_record {
    std::string key, value, app_id;
    std::int32_t partition = 0;
    std::int64_t offset = 0;
    std::int64_t timestamp_ms = 0;
  };

  std::optional<transport::rejection> on_record(const transport::record& r) override {
    std::lock_guard lock(mu_);
    records_.push_back({std::string(r.key), std::string(r.value), std::string(r.app_id),
                        r.partition, r.offset, r.timestamp_ms});
    cv_.notify_all();
    return std::nullopt;
  }
  // Notes how many records each poll handed over, then records each.
  void on_records(std::span<const transport::record> rs,
                  std::span<std::optional<transport::rejection>> rejected) override {
    {
      std::lock_guard lock(mu_);
      polls_.push_back(rs.size());
    }
    consumer_handler::on_records(rs, rejected);
  }
  void on_assigned(std::span<const std::int32_t> partitions) override {
    std::lock_guard lock(mu_);
    assigned_.emplace_back(partitions.begin(), partitions.end());
  }
  void on_revoked(std::span<const std::int32_t> partitions) override {
    std::lock_guard lock(mu_);
    revoked_.emplace_back(partitions.begin(), partitions.end());
  }
  // Notes each as an event; on_rebuilt with how many records of the partition had come by then.
  void on_rebuilding(std::span<const std::int32_t> partitions) override {
    std::lock_guard lock(mu_);
    for (auto p : partitions) rebuild_events_.push_back({p, false, 0});
  }
  void on_rebuilt(std::int32_t partition) override {
    std::lock_guard lock(mu_);
    const auto n = std::count_if(records_.begin(), records_.end(),
                                 [&](const owned_record& r) { return r.partition == partition; });
    rebuild_events_.push_back({partition, true, static_cast<std::size_t>(n)});
  }

  // Waits until `n` records have come (true) or `timeout` passes (false).
  bool wait_for_records(std::size_t n,
                        std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return records_.size() >= n; });
  }

  std::vector<owned_record> records() const { return locked_copy(mu_, records_); }
  // Records per on_records() call.
  std::vector<std::size_t> polls() const { return locked_copy(mu_, polls_); }
  // Each assignment and each revocation, in order.
  std::vector<std::vector<std::int32_t>> assigned() const { return locked_copy(mu_, assigned_); }
  std::vector<std::vector<std::int32_t>> revoked() const { return locked_copy(mu_, revoked_); }
  // on_rebuilding (one event per partition) and on_rebuilt, in order.
  struct rebuild_event {
    std::int32_t partition = 0;
    bool rebuilt = false;             // false: on_rebuilding
    std::size_t records_by_then = 0;  // on_rebuilt: records of the partition received before it
  };
  std::vector<rebuild_event> rebuild_events() const { return locked_copy(mu_, rebuild_events_); }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<owned_record> records_;
  std::vector<std::size_t> polls_;
  std::vector<std::vector<std::int32_t>> assigned_;
  std::vector<std::vector<std::int32_t>> revoked_;
  std::vector<rebuild_event> rebuild_events_;
};

}  // namespace mca::test
