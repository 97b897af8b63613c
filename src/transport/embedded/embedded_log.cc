#include "transport/embedded/embedded_log.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace mca::transport::embedded {
namespace {

struct stored {
  message msg;
  std::int64_t offset;
};

// The consumer's gathering window: how much later a record may reach the store than it was
// acknowledged, when the consumer was idle. Far below a scrape interval.
constexpr auto kGather = std::chrono::microseconds(500);
// Records the consumer takes (and hands to the handler) at once; a full take waiting ends the
// gathering early.
constexpr std::size_t kTakeMax = 512;

class log_state {
 public:
  explicit log_state(std::size_t capacity) : capacity_(capacity) {}

  bool append(std::vector<message>& batch) {
    bool wake = false;
    {
      std::lock_guard lock(mu_);
      if (closed_ || records_.size() + batch.size() > capacity_) return false;
      for (auto& m : batch) records_.push_back({std::move(m), next_offset_++});
      // Wake the consumer once: when it sleeps on an empty log, or when it is gathering and a
      // full take is waiting. Every other append leaves it alone (no futex call, no switch).
      if (waiting_ == wait::idle || (waiting_ == wait::gathering && records_.size() >= kTakeMax)) {
        waiting_ = wait::woken;
        wake = true;
      }
    }
    if (wake) cv_.notify_one();
    return true;
  }

  // Waits for records or close; moves up to `max` records out. A consumer that finds the log
  // empty sleeps until a record arrives, then gathers for up to kGather (or until a full take
  // is waiting) before taking: one wake-up per gathered batch instead of one per append, which
  // on a loaded core is two context switches per one-metric request.
  bool take(std::deque<stored>& out, std::size_t max) {
    std::unique_lock lock(mu_);
    if (records_.empty() && !closed_) {
      waiting_ = wait::idle;
      cv_.wait(lock, [&] { return closed_ || !records_.empty(); });
      if (!closed_ && records_.size() < max) {
        waiting_ = wait::gathering;
        cv_.wait_for(lock, kGather, [&] { return closed_ || records_.size() >= max; });
      }
      waiting_ = wait::busy;
    }
    if (records_.empty()) return false;  // closed and drained
    while (!records_.empty() && out.size() < max) {
      out.push_back(std::move(records_.front()));
      records_.pop_front();
    }
    in_flight_ = out.size();
    return true;
  }

  void taken_done() {
    {
      std::lock_guard lock(mu_);
      in_flight_ = 0;
    }
    drained_.notify_all();
  }

  bool wait_drained(std::chrono::milliseconds deadline) {
    std::unique_lock lock(mu_);
    return drained_.wait_for(lock, deadline, [&] { return records_.empty() && in_flight_ == 0; });
  }

  void close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }

  std::size_t depth() const {
    std::lock_guard lock(mu_);
    return records_.size() + in_flight_;
  }
  std::size_t capacity() const { return capacity_; }

 private:
  enum class wait { busy, idle, gathering, woken };

  const std::size_t capacity_;
  mutable std::mutex mu_;
  wait waiting_ = wait::busy;  // what the consumer does; tells append() whether to wake it
  std::condition_variable cv_;
  std::condition_variable drained_;
  std::deque<stored> records_;
  std::size_t in_flight_ = 0;
  std::int64_t next_offset_ = 0;
  bool closed_ = false;
};

class embedded_producer final : public producer {
 public:
  explicit embedded_producer(std::shared_ptr<log_state> log) : log_(std::move(log)) {}

  void send(std::vector<message> batch, delivery_callback done) override {
    const auto n = batch.size();
    if (n == 0) {
      done(util::result<void>());
      return;
    }
    if (!log_->append(batch)) {
      queue_full_.fetch_add(1, std::memory_order_relaxed);
      done(util::error(errc::queue_full, "embedded log is full (" +
                                             std::to_string(log_->capacity()) +
                                             " records not yet consumed)"));
      return;
    }
    sent_.fetch_add(n, std::memory_order_relaxed);
    done(util::result<void>());
  }

  std::size_t flush(std::chrono::milliseconds) override { return 0; }  // appended = delivered

  producer_stats stats() const override {
    producer_stats s;
    s.sent = sent_.load(std::memory_order_relaxed);
    s.queue_full = queue_full_.load(std::memory_order_relaxed);
    s.queue_depth = static_cast<std::int64_t>(log_->depth());
    s.queue_capacity = static_cast<std::int64_t>(log_->capacity());
    return s;
  }

  util::health health() override {
    util::health h;
    h.ok = true;
    h.status = "ok";
    h.info["kind"] = "embedded";
    h.info["queue_depth"] = static_cast<std::int64_t>(log_->depth());
    h.info["queue_capacity"] = static_cast<std::int64_t>(log_->capacity());
    return h;
  }

 private:
  std::shared_ptr<log_state> log_;
  std::atomic<std::uint64_t> sent_{0};
  std::atomic<std::uint64_t> queue_full_{0};
};

class embedded_consumer final : public consumer {
 public:
  explicit embedded_consumer(std::shared_ptr<log_state> log) : log_(std::move(log)) {}
  ~embedded_consumer() override { stop(); }

  void start(consumer_handler& handler) override {
    std::lock_guard lock(mu_);
    if (thread_.joinable()) return;
    handler_ = &handler;
    running_ = true;  // before the thread, so health() right after start() reports it
    thread_ = std::thread([this] { run(); });
  }

  // Consumes what is already in the log (the producer is flushed first), then stops.
  void stop() override {
    std::lock_guard lock(mu_);
    if (!thread_.joinable()) return;
    log_->wait_drained(std::chrono::seconds(5));
    log_->close();
    thread_.join();
  }

  consumer_stats stats() const override {
    consumer_stats s;
    s.records = records_.load(std::memory_order_relaxed);
    s.lag = static_cast<std::int64_t>(log_->depth());
    if (running_.load()) s.assigned = {0};
    return s;
  }

  util::health health() override {
    util::health h;
    h.ok = running_.load();
    h.status = h.ok ? "ok" : "stopped";
    h.info["kind"] = "embedded";
    h.info["assigned_partitions"] = h.ok ? boost::json::array{0} : boost::json::array{};
    h.info["lag"] = static_cast<std::int64_t>(log_->depth());
    h.info["records"] = records_.load(std::memory_order_relaxed);
    return h;
  }

 private:
  void run() {
    static constexpr std::int32_t kPartition = 0;
    handler_->on_assigned(std::span(&kPartition, 1));
    std::deque<stored> batch;
    std::vector<record> records;
    std::vector<std::optional<rejection>> rejected;
    while (log_->take(batch, kTakeMax)) {
      // One call per take, so the handler applies it as one batch (one store lock hold).
      records.clear();
      for (const auto& s : batch)
        records.push_back(
            {s.msg.key, s.msg.value, s.msg.app_id, kPartition, s.offset, s.msg.timestamp_ms});
      rejected.assign(records.size(), std::nullopt);
      handler_->on_records(records, rejected);  // no dead-letter topic here: rejections are dropped
      records_.fetch_add(records.size(), std::memory_order_relaxed);
      batch.clear();
      log_->taken_done();
    }
    handler_->on_revoked(std::span(&kPartition, 1));
    running_ = false;
  }

  std::shared_ptr<log_state> log_;
  std::mutex mu_;
  std::thread thread_;
  consumer_handler* handler_ = nullptr;
  std::atomic<bool> running_{false};
  std::atomic<std::uint64_t> records_{0};
};

}  // namespace

transport_pair make_embedded_transport(std::size_t capacity) {
  auto log = std::make_shared<log_state>(capacity);
  return {std::make_unique<embedded_producer>(log), std::make_unique<embedded_consumer>(log)};
}

}  // namespace mca::transport::embedded
