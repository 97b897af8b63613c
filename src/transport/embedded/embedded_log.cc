#include "transport/embedded/embedded_log.h"

#include <algorithm>
#include <condition_variable>
#include <iterator>
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
// Spent records kept for the producer's next batches (spare_messages): at most this many, and
// only those whose strings each hold at most kSpareStringBytes, so the spares hold at most about
// 1.7 MiB however large a client's records were.
constexpr std::size_t kSpareMax = 2 * kTakeMax;
constexpr std::size_t kSpareStringBytes = 512;
// A record vector left with more room than this once drained gives its memory back: a backlog
// (up to the log's capacity) does not stay allocated after it was consumed.
constexpr std::size_t kKeepRecords = 8 * kTakeMax;

// Gives the memory of `v` back when it is empty and holds more than kKeepRecords.
void release_if_large(std::vector<stored>& v) {
  if (v.empty() && v.capacity() > kKeepRecords) std::vector<stored>().swap(v);
}

class log_state {
 public:
  explicit log_state(std::size_t capacity) : capacity_(capacity) { spare_.reserve(kSpareMax); }

  bool append(std::vector<message>& batch) {
    bool wake = false;
    {
      std::lock_guard lock(mu_);
      if (closed_ || waiting() + batch.size() > capacity_) return false;
      for (auto& m : batch) records_.push_back({std::move(m), next_offset_++});
      // Wake the consumer once: when it sleeps on an empty log, or when it is gathering and a
      // full take is waiting. Every other append leaves it alone (no futex call, no switch).
      if (waiting_ == wait::idle || (waiting_ == wait::gathering && waiting() >= kTakeMax)) {
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
  //
  // `out` must be empty. The records are moved, never copied: when all that waits fits one take,
  // `out` and the log's vector trade places (the log keeps appending into the one the consumer
  // handed in), else the first `max` are moved out from the head.
  bool take(std::vector<stored>& out, std::size_t max) {
    std::unique_lock lock(mu_);
    if (waiting() == 0 && !closed_) {
      waiting_ = wait::idle;
      cv_.wait(lock, [&] { return closed_ || waiting() != 0; });
      if (!closed_ && waiting() < max) {
        waiting_ = wait::gathering;
        cv_.wait_for(lock, kGather, [&] { return closed_ || waiting() >= max; });
      }
      waiting_ = wait::busy;
    }
    if (waiting() == 0) return false;  // closed and drained
    if (head_ == 0 && records_.size() <= max) {
      out.swap(records_);
    } else {
      const auto from = records_.begin() + static_cast<std::ptrdiff_t>(head_);
      const auto n = static_cast<std::ptrdiff_t>(std::min(max, waiting()));
      out.insert(out.end(), std::make_move_iterator(from), std::make_move_iterator(from + n));
      head_ += static_cast<std::size_t>(n);
      if (head_ == records_.size()) {
        records_.clear();
        head_ = 0;
      } else if (head_ >= records_.size() / 2) {
        // Drop the taken head once it is half the vector: each record is moved at most once
        // more on average, and the vector never grows beyond twice what waits.
        records_.erase(records_.begin(), records_.begin() + static_cast<std::ptrdiff_t>(head_));
        head_ = 0;
      }
    }
    release_if_large(records_);
    in_flight_ = out.size();
    return true;
  }

  // The records of a take the handler is done with: their messages, emptied with their strings'
  // capacity, become spares for the producer (up to kSpareMax); the rest are freed with `spent`.
  void give_back(std::vector<stored>& spent) {
    std::lock_guard lock(spare_mu_);
    for (auto& s : spent) {
      if (spare_.size() >= kSpareMax) break;
      auto& m = s.msg;
      if (m.key.capacity() > kSpareStringBytes || m.value.capacity() > kSpareStringBytes ||
          m.app_id.capacity() > kSpareStringBytes)
        continue;
      m.key.clear();
      m.value.clear();
      m.app_id.clear();
      m.timestamp_ms = 0;
      spare_.push_back(std::move(m));
    }
  }

  // `n` empty messages, as many as there are from spent records (with their capacity), the rest
  // new.
  std::vector<message> spare_messages(std::size_t n) {
    std::vector<message> out;
    {
      std::lock_guard lock(spare_mu_);
      out.swap(spare_batch_);
      out.reserve(n);
      while (out.size() < n && !spare_.empty()) {
        out.push_back(std::move(spare_.back()));
        spare_.pop_back();
      }
    }
    out.resize(n);
    return out;
  }

  // The vector of a batch that was appended (its messages moved out), for spare_messages to fill.
  void keep_batch(std::vector<message>& batch) {
    if (batch.capacity() > kSpareMax) return;
    batch.clear();
    std::lock_guard lock(spare_mu_);
    if (batch.capacity() > spare_batch_.capacity()) spare_batch_.swap(batch);
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
    return drained_.wait_for(lock, deadline, [&] { return waiting() == 0 && in_flight_ == 0; });
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
    return waiting() + in_flight_;
  }
  std::size_t capacity() const { return capacity_; }

 private:
  enum class wait { busy, idle, gathering, woken };

  // Records appended and not yet taken (under mu_).
  std::size_t waiting() const { return records_.size() - head_; }

  const std::size_t capacity_;
  mutable std::mutex mu_;
  wait waiting_ = wait::busy;  // what the consumer does; tells append() whether to wake it
  std::condition_variable cv_;
  std::condition_variable drained_;
  std::vector<stored> records_;  // records_[head_..] wait to be taken, in log order
  std::size_t head_ = 0;
  std::size_t in_flight_ = 0;
  std::int64_t next_offset_ = 0;
  bool closed_ = false;
  std::mutex spare_mu_;               // the spares' own lock: never held with mu_
  std::vector<message> spare_;        // emptied messages of spent records (give_back)
  std::vector<message> spare_batch_;  // an empty vector with room (keep_batch)
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
    log_->keep_batch(batch);
    sent_.fetch_add(n, std::memory_order_relaxed);
    done(util::result<void>());
  }

  std::vector<message> spare_messages(std::size_t n) override { return log_->spare_messages(n); }

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
    std::vector<stored> batch;
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
      log_->give_back(batch);
      batch.clear();
      release_if_large(batch);
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
