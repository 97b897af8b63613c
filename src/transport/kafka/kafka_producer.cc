// The idempotent Kafka producer. A batch is acknowledged only by delivery reports: each message
// carries a pointer to its batch's shared state, the last report (or send() itself, when nothing
// more is outstanding) completes the batch, exactly once.
#include <array>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <optional>

#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "transport/kafka/kafka_transport.h"
#include "transport/kafka/rdkafka_common.h"

namespace mca::transport::kafka {
namespace {

// One send(): shared by its messages through librdkafka's per-message opaque. `remaining` counts
// the messages whose report is outstanding plus one guard held by send() while it enqueues, so
// the batch cannot complete before send() has seen every message. Whoever brings it to zero owns
// the state and completes it.
struct batch_state {
  batch_state(std::size_t messages, delivery_callback d)
      : remaining(messages + 1), done(std::move(d)) {}

  void fail(util::error e) {
    std::lock_guard lock(mu);
    if (!first_error) first_error = std::move(e);
  }
  util::result<void> outcome() {
    std::lock_guard lock(mu);
    if (first_error) return *first_error;
    return {};
  }

  std::atomic<std::size_t> remaining;
  std::mutex mu;
  std::optional<util::error> first_error;
  delivery_callback done;
};

util::error delivery_error(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
      return {errc::timed_out, "not acknowledged by Kafka within message.timeout.ms"};
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
      return {errc::unavailable, "producer shut down before delivery"};
    default:
      return {errc::delivery_failed,
              std::string("Kafka delivery failed: ") + rd_kafka_err2str(err)};
  }
}

// "0.5", "5": librdkafka reads linger.ms as a double.
std::string milliseconds_text(std::chrono::duration<double, std::milli> d) {
  std::array<char, 32> buf{};
  const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), d.count());
  return {buf.data(), r.ptr};
}

class kafka_producer final : public transport::producer {
 public:
  static util::result<std::unique_ptr<transport::producer>> create(producer_options options) {
    std::unique_ptr<kafka_producer> p(new kafka_producer(std::move(options)));
    if (auto r = p->connect(); !r) return r.error();
    return std::unique_ptr<transport::producer>(std::move(p));
  }

  ~kafka_producer() override {
    if (!rk_) return;  // connect() failed before anything was started
    health_.reset();
    {
      std::lock_guard lock(wake_mu_);
      stopping_.store(true);
    }
    wake_cv_.notify_all();
    signal_completions();
    if (poller_.joinable()) poller_.join();
    // Whatever is still queued fails now (flush() is the graceful path): purge, then serve the
    // purge reports so every outstanding batch completes and frees its state.
    rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(rk_.get(), 1000);
    run_pending();
    if (const int left = rd_kafka_outq_len(rk_.get()); left > 0)
      spdlog::warn("kafka producer closed with {} requests still outstanding", left);
    topic_.reset();
    rk_.reset();
    if (event_fd_ >= 0) ::close(event_fd_);  // after rd_kafka_destroy: it may write until then
  }

  void send(std::vector<message> batch, delivery_callback done) override {
    auto owned = std::make_unique<batch_state>(batch.size(), std::move(done));
    batch_state* state = owned.release();  // now owned by the reports + send()'s guard
    // With linger.ms 0 the first record wakes the broker thread, which on a shared core
    // preempts this one and sends that record alone; then the next, and so on: one request's
    // records went out as several produce requests. While the batch is enqueued its wake-ups
    // wait until this thread is done (or blocks, or its time slice ends).
    const defer_broker_wakeups defer(*this, batch.size() > 1);
    std::size_t enqueued = 0;
    for (auto& m : batch) {
      // The topic handle, not its name: by name librdkafka looks the topic up (a lock, a scan of
      // its topics, a reference taken and dropped) for every record.
      const rd_kafka_resp_err_t err = rd_kafka_producev(
          rk_.get(), RD_KAFKA_V_RKT(topic_.get()), RD_KAFKA_V_KEY(m.key.data(), m.key.size()),
          RD_KAFKA_V_VALUE(m.value.data(), m.value.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_HEADER("app_id", m.app_id.data(), static_cast<ssize_t>(m.app_id.size())),
          RD_KAFKA_V_TIMESTAMP(m.timestamp_ms), RD_KAFKA_V_OPAQUE(state), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++enqueued;
        continue;
      }
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        queue_full_.fetch_add(1, std::memory_order_relaxed);
        state->fail({errc::queue_full, "Kafka producer queue is full"});
      } else {
        failed_.fetch_add(batch.size() - enqueued, std::memory_order_relaxed);
        state->fail({errc::delivery_failed,
                     std::string("Kafka refused the message: ") + rd_kafka_err2str(err)});
      }
      break;  // the rest of the batch is not sent: the whole batch is answered with the error
    }
    // Messages never enqueued get no report; take them off together with the guard.
    release(state, batch.size() - enqueued + 1, completion::deferred);
  }

  std::size_t flush(std::chrono::milliseconds deadline) override {
    rd_kafka_flush(rk_.get(), to_timeout_ms(deadline));
    run_pending();
    const int left = rd_kafka_outq_len(rk_.get());
    if (left > 0)
      spdlog::warn("kafka producer: {} messages/requests not delivered after a {} ms flush", left,
                   deadline.count());
    return static_cast<std::size_t>(std::max(left, 0));
  }

  producer_stats stats() const override {
    producer_stats s;
    s.sent = sent_.load(std::memory_order_relaxed);
    s.failed = failed_.load(std::memory_order_relaxed);
    s.queue_full = queue_full_.load(std::memory_order_relaxed);
    s.queue_depth = rd_kafka_outq_len(rk_.get());
    s.queue_capacity = options_.queue_max_messages;
    s.broker_rtt_ms = broker_rtt_ms_.load(std::memory_order_relaxed);
    s.broker_errors = broker_errors_.load(std::memory_order_relaxed);
    return s;
  }

  util::health health() override {
    util::health h = health_->current();
    h.info["last_error"] = last_error_.get();
    return h;
  }

  int completion_fd() override {
    {
      std::lock_guard lock(wake_mu_);
      watched_ = true;
    }
    signal_completions();  // the poll thread leaves poll(2) and waits on wake_cv_ from now on
    return event_fd_;
  }

  // Delivery reports (librdkafka's main queue) and completions send() handed over.
  void serve_completions() override {
    rd_kafka_poll(rk_.get(), 0);
    run_pending();
  }

 private:
  enum class completion { here, deferred };

  // While one lives (and `active`), the producer's broker threads run as SCHED_BATCH threads:
  // a wake-up (a record enqueued, a broker response) makes them runnable without preempting the
  // thread running. Back at SCHED_OTHER they wake as any thread, so a broker response is served
  // at once and nothing else on the core can hold them for a time slice (the cost of keeping
  // them SCHED_BATCH throughout: docs/PERFORMANCE.md, "Kafka path CPU per metric"). Nested and
  // concurrent senders are counted; the last one out restores the policy.
  class defer_broker_wakeups {
   public:
    defer_broker_wakeups(kafka_producer& p, bool active) : p_(active ? &p : nullptr) {
      if (p_) p_->set_broker_policy(+1);
    }
    ~defer_broker_wakeups() {
      if (p_) p_->set_broker_policy(-1);
    }
    defer_broker_wakeups(const defer_broker_wakeups&) = delete;
    defer_broker_wakeups& operator=(const defer_broker_wakeups&) = delete;

   private:
    kafka_producer* p_;
  };

  void set_broker_policy(int step) {
    std::lock_guard lock(broker_mu_);
    const int before = deferring_;
    deferring_ += step;
    if ((before == 0) == (deferring_ == 0)) return;  // not the first in or the last out
    const sched_param param{};
    const int policy = deferring_ > 0 ? SCHED_BATCH : SCHED_OTHER;
    // Same process, a policy of the same class: needs no privilege. Should it fail the thread
    // keeps its policy, which only costs the batching.
    for (const pid_t id : broker_threads_) (void)::sched_setscheduler(id, policy, &param);
  }

  // On each broker thread as it starts and exits (handle_callbacks::broker_thread).
  static void on_broker_thread(void* opaque, bool started) {
    auto* self = static_cast<kafka_producer*>(opaque);
    const pid_t id = ::gettid();
    std::lock_guard lock(self->broker_mu_);
    auto& ids = self->broker_threads_;
    if (started) {
      ids.push_back(id);
      if (self->deferring_ > 0) run_as_batch_thread();
    } else {
      std::erase(ids, id);  // a thread id can be reused once its thread is gone
    }
  }

  explicit kafka_producer(producer_options options) : options_(std::move(options)) {}

  util::result<void> connect() {
    std::vector<property> props = {
        {"client.id", "metrics-collection-api"},
        {"linger.ms", milliseconds_text(options_.linger)},
        {"compression.type", options_.compression},
        {"message.timeout.ms", std::to_string(options_.delivery_timeout.count())},
        {"queue.buffering.max.messages", std::to_string(options_.queue_max_messages)},
        {"queue.buffering.max.kbytes", std::to_string(options_.queue_max_kbytes)},
        {"statistics.interval.ms", std::to_string(options_.statistics_interval.count())},
    };
    props.insert(props.end(), options_.properties.begin(), options_.properties.end());
    // The HTTP answer promises durability: these two are not negotiable.
    for (const auto& [name, value] : options_.properties) {
      if ((name == "enable.idempotence" && value != "true") || (name == "acks" && value != "all"))
        spdlog::warn("kafka producer: ignoring {}={}: the service needs idempotence and acks=all",
                     name, value);
    }
    props.emplace_back("enable.idempotence", "true");
    props.emplace_back("acks", "all");

    auto rk = make_handle(RD_KAFKA_PRODUCER, props,
                          {.opaque = this,
                           .delivery = &kafka_producer::on_delivery,
                           .error = &kafka_producer::on_error,
                           .statistics = &kafka_producer::on_statistics,
                           .broker_thread = &kafka_producer::on_broker_thread},
                          "Kafka producer");
    if (!rk) return rk.error();
    rk_ = std::move(*rk);
    auto topic = make_topic(rk_.get(), options_.topic);
    if (!topic) return topic.error();
    topic_ = std::move(*topic);
    // librdkafka writes to this descriptor when its main queue (delivery reports, errors,
    // statistics) turns non-empty; whoever serves completions waits on it instead of inside
    // rd_kafka_poll.
    event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (event_fd_ < 0)
      return util::error(errc::unavailable, std::string("eventfd: ") + std::strerror(errno));
    rd_kafka_queue_t* main_queue = rd_kafka_queue_get_main(rk_.get());
    static const std::uint64_t kOne = 1;
    rd_kafka_queue_io_event_enable(main_queue, event_fd_, &kOne, sizeof kOne);
    rd_kafka_queue_destroy(main_queue);  // the queue stays; this was only a handle to it
    poller_ = std::thread([this] { poll_loop(); });
    health_ = std::make_unique<health_monitor>(
        [this] {
          util::health h = probe_metadata(rk_.get(), topic_.get(), options_.health_timeout);
          std::array<char, 512> reason{};
          if (rd_kafka_fatal_error(rk_.get(), reason.data(), reason.size())) {
            h.ok = false;
            h.status = "failed";
            h.info["error"] = reason.data();
          }
          return h;
        },
        options_.health_interval);
    return {};
  }

  // Serves delivery reports until the destructor stops it; also runs completions that send()
  // handed over, so a callback never runs inside send(). Once an event loop watches
  // completion_fd(), only what is left over every 100 ms (the loop may have stopped first).
  void poll_loop() {
    while (!stopping_.load()) {
      bool watched = false;
      {
        std::unique_lock lock(wake_mu_);
        watched = watched_;
        if (watched) wake_cv_.wait_for(lock, std::chrono::milliseconds(100));
      }
      if (!watched) {
        pollfd p{event_fd_, POLLIN, 0};
        if (::poll(&p, 1, 100) > 0) drain_event_fd();
      }
      serve_completions();
    }
  }

  void drain_event_fd() {
    std::uint64_t count = 0;
    while (::read(event_fd_, &count, sizeof count) > 0) {
    }
  }

  // Wakes whoever serves completions (the poll thread or the watching event loop).
  void signal_completions() {
    const std::uint64_t one = 1;
    if (event_fd_ >= 0) (void)!::write(event_fd_, &one, sizeof one);
  }

  void run_pending() {
    std::vector<std::unique_ptr<batch_state>> ready;
    {
      std::lock_guard lock(pending_mu_);
      ready.swap(pending_);
    }
    for (auto& b : ready) complete(*b);
  }

  void complete(batch_state& b) {
    auto outcome = b.outcome();
    if (!outcome) spdlog::debug("kafka batch failed: {}", outcome.error().message);
    b.done(std::move(outcome));
  }

  // Takes `n` off the batch's count; the caller that reaches zero owns and completes it. From
  // send() the completion is handed to the poll thread (the caller must not run it).
  void release(batch_state* b, std::size_t n, completion how) {
    if (b->remaining.fetch_sub(n, std::memory_order_acq_rel) != n) return;
    std::unique_ptr<batch_state> owned(b);
    if (how == completion::here) {
      complete(*owned);
      return;
    }
    {
      std::lock_guard lock(pending_mu_);
      pending_.push_back(std::move(owned));
    }
    signal_completions();  // served now rather than at the next timeout
  }

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<kafka_producer*>(opaque);
    auto* batch = static_cast<batch_state*>(m->_private);
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      self->sent_.fetch_add(1, std::memory_order_relaxed);
    } else {
      self->failed_.fetch_add(1, std::memory_order_relaxed);
      batch->fail(delivery_error(m->err));
    }
    self->release(batch, 1, completion::here);
  }

  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    auto* self = static_cast<kafka_producer*>(opaque);
    const auto code = static_cast<rd_kafka_resp_err_t>(err);
    std::string text = std::string(rd_kafka_err2name(code)) + ": " + reason;
    if (code == RD_KAFKA_RESP_ERR__FATAL) {
      std::array<char, 512> fatal{};
      rd_kafka_fatal_error(rk, fatal.data(), fatal.size());
      text += std::string(" (") + fatal.data() + ")";
      spdlog::critical("kafka producer fatal error: {}", text);
    } else {
      spdlog::warn("kafka producer error: {}", text);
    }
    self->last_error_.set(std::move(text));
  }

  static int on_statistics(rd_kafka_t*, char* json, std::size_t len, void* opaque) {
    auto* self = static_cast<kafka_producer*>(opaque);
    auto s = parse_statistics({json, len}, self->options_.topic);
    if (!s) {
      spdlog::debug("kafka producer: {}", s.error().message);
      return 0;
    }
    self->broker_rtt_ms_.store(s->broker_rtt_ms, std::memory_order_relaxed);
    self->broker_errors_.store(s->tx_errors + s->rx_errors, std::memory_order_relaxed);
    return 0;  // librdkafka frees the JSON
  }

  producer_options options_;
  last_error last_error_;
  std::atomic<std::uint64_t> sent_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> queue_full_{0};
  std::atomic<double> broker_rtt_ms_{0};
  std::atomic<std::uint64_t> broker_errors_{0};
  std::atomic<bool> stopping_{false};
  int event_fd_ = -1;
  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  bool watched_ = false;  // under wake_mu_: an event loop serves completions (completion_fd())
  std::mutex broker_mu_;
  std::vector<pid_t> broker_threads_;  // under broker_mu_: librdkafka's broker threads' ids
  int deferring_ = 0;                  // under broker_mu_: senders inside defer_broker_wakeups
  std::mutex pending_mu_;
  std::vector<std::unique_ptr<batch_state>> pending_;
  handle_ptr rk_;
  topic_ptr topic_;
  std::thread poller_;
  std::unique_ptr<health_monitor> health_;
};

}  // namespace

util::result<std::unique_ptr<transport::producer>> make_kafka_producer(producer_options options) {
  return kafka_producer::create(std::move(options));
}

}  // namespace mca::transport::kafka
