// The Kafka group consumer. Start positions come from time, not from committed offsets: on each
// assignment a partition is positioned at its first record no older than now - ttl, so the store
// is rebuilt with exactly the series that are still live.
#include <algorithm>
#include <array>
#include <atomic>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>
#include <boost/json/array.hpp>

#include "transport/kafka/kafka_transport.h"
#include "transport/kafka/rdkafka_common.h"

namespace mca::transport::kafka {
namespace {

std::vector<std::int32_t> partition_ids(const rd_kafka_topic_partition_list_t* parts) {
  std::vector<std::int32_t> ids;
  ids.reserve(static_cast<std::size_t>(parts->cnt));
  for (int i = 0; i < parts->cnt; ++i) ids.push_back(parts->elems[i].partition);
  return ids;
}

class kafka_consumer final : public transport::consumer {
 public:
  static util::result<std::unique_ptr<transport::consumer>> create(consumer_options options) {
    std::unique_ptr<kafka_consumer> c(new kafka_consumer(std::move(options)));
    if (auto r = c->connect(); !r) return r.error();
    return std::unique_ptr<transport::consumer>(std::move(c));
  }

  ~kafka_consumer() override {
    if (!rk_) return;  // connect() failed before anything was started
    stop();
    health_.reset();
    topic_.reset();
    rk_.reset();
  }

  void start(consumer_handler& handler) override {
    std::lock_guard lock(lifecycle_mu_);
    if (state_ != lifecycle::created) return;
    handler_ = &handler;
    partition_list_ptr topics(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(topics.get(), options_.topic.c_str(), RD_KAFKA_PARTITION_UA);
    if (const auto err = rd_kafka_subscribe(rk_.get(), topics.get()); err) {
      // Only an invalid topic name fails here; keep it visible in health rather than crash.
      spdlog::error("kafka consumer: subscribe to {} failed: {}", options_.topic,
                    rd_kafka_err2str(err));
      last_error_.set(std::string("subscribe: ") + rd_kafka_err2str(err));
    }
    state_ = lifecycle::running;
    thread_ = std::thread([this] { run(); });
  }

  void stop() override {
    std::lock_guard lock(lifecycle_mu_);
    if (state_ == lifecycle::closed) return;
    stopping_.store(true);
    if (thread_.joinable()) {
      thread_.join();  // the thread leaves the group itself (revocation runs on it)
    } else {
      rd_kafka_consumer_close(rk_.get());
    }
    state_ = lifecycle::closed;
  }

  consumer_stats stats() const override {
    consumer_stats s;
    s.records = records_.load(std::memory_order_relaxed);
    s.errors = errors_.load(std::memory_order_relaxed);
    s.lag = lag_.load(std::memory_order_relaxed);
    std::lock_guard lock(assigned_mu_);
    s.assigned = assigned_;
    return s;
  }

  util::health health() override {
    util::health h = health_->current();
    const consumer_stats s = stats();
    boost::json::array assigned;
    for (auto p : s.assigned) assigned.push_back(p);
    h.info["group"] = options_.group_id;
    h.info["assigned_partitions"] = std::move(assigned);
    h.info["lag"] = s.lag;
    h.info["last_error"] = last_error_.get();
    // Reachable is not enough: until the group has handed us an assignment (possibly empty, when
    // there are more members than partitions) we hold none of the series.
    if (h.ok && !joined_.load()) {
      h.ok = false;
      h.status = "joining";
    }
    return h;
  }

 private:
  enum class lifecycle { created, running, closed };

  explicit kafka_consumer(consumer_options options) : options_(std::move(options)) {}

  util::result<void> connect() {
    std::vector<property> props = {
        {"client.id", "metrics-collection-api"},
        {"statistics.interval.ms", std::to_string(options_.statistics_interval.count())},
        // Committed offsets are not where we start (the TTL is); committing keeps the group's
        // progress visible to the usual Kafka tooling.
        {"enable.auto.commit", "true"},
        {"auto.offset.reset", "earliest"},
        {"enable.partition.eof", "false"},
    };
    for (const auto& [name, value] : options_.properties) {
      // The eager protocol only: assignment and revocation always cover the whole assignment.
      // (cooperative-sticky also aborts in librdkafka < 2.3 when a member closes before its first
      // assignment: confluentinc/librdkafka#4312.)
      if (name == "partition.assignment.strategy" && value.find("cooperative") != std::string::npos)
        return util::error(errc::unavailable, "Kafka consumer: partition.assignment.strategy " +
                                                  value +
                                                  " is not supported; use range or roundrobin");
    }
    props.insert(props.end(), options_.properties.begin(), options_.properties.end());
    props.emplace_back("group.id", options_.group_id);

    auto conf = make_conf(props);
    if (!conf) return conf.error();
    rd_kafka_conf_t* c = conf->get();
    install_logging(c);
    rd_kafka_conf_set_opaque(c, this);
    rd_kafka_conf_set_rebalance_cb(c, &kafka_consumer::on_rebalance);
    rd_kafka_conf_set_error_cb(c, &kafka_consumer::on_error);
    rd_kafka_conf_set_stats_cb(c, &kafka_consumer::on_statistics);

    std::array<char, 512> err{};
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err.data(), err.size());
    if (!rk) return util::error(errc::unavailable, std::string("Kafka consumer: ") + err.data());
    (void)conf->release();  // rd_kafka_new took it
    rk_.reset(rk);
    // Error and statistics callbacks are then served by the consumer poll.
    rd_kafka_poll_set_consumer(rk);
    topic_.reset(rd_kafka_topic_new(rk, options_.topic.c_str(), nullptr));
    if (!topic_)
      return util::error(errc::unavailable, "Kafka topic " + options_.topic + ": " +
                                                rd_kafka_err2str(rd_kafka_last_error()));
    health_ = std::make_unique<health_monitor>(
        [this] { return probe_metadata(rk_.get(), topic_.get(), options_.health_timeout); },
        options_.health_interval);
    return {};
  }

  void run() {
    while (!stopping_.load()) {
      message_ptr m(rd_kafka_consumer_poll(rk_.get(), to_timeout_ms(options_.poll_timeout)));
      if (m) handle(*m);
    }
    if (const auto err = rd_kafka_consumer_close(rk_.get()); err)
      spdlog::warn("kafka consumer: close: {}", rd_kafka_err2str(err));
  }

  void handle(const rd_kafka_message_t& m) {
    if (m.err) {
      errors_.fetch_add(1, std::memory_order_relaxed);
      const std::string text = rd_kafka_message_errstr(&m);
      spdlog::warn("kafka consumer: {}", text);
      last_error_.set(text);
      return;
    }
    record r;
    if (m.key) r.key = {static_cast<const char*>(m.key), m.key_len};
    if (m.payload) r.value = {static_cast<const char*>(m.payload), m.len};
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(&m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const void* v = nullptr;
      std::size_t size = 0;
      if (rd_kafka_header_get_last(headers, "app_id", &v, &size) == RD_KAFKA_RESP_ERR_NO_ERROR && v)
        r.app_id = {static_cast<const char*>(v), size};
    }
    r.partition = m.partition;
    r.offset = m.offset;
    rd_kafka_timestamp_type_t type;
    r.timestamp_ms = std::max<std::int64_t>(rd_kafka_message_timestamp(&m, &type), 0);
    records_.fetch_add(1, std::memory_order_relaxed);
    handler_->on_record(r);
  }

  // Sets each partition's start offset for now - ttl. Runs on the consumer thread, inside the
  // rebalance callback, so it may wait for the broker (up to offsets_timeout).
  void position_by_time(rd_kafka_topic_partition_list_t* parts) {
    if (options_.ttl.count() == 0) {
      for (int i = 0; i < parts->cnt; ++i) parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
      return;
    }
    const std::int64_t since =
        options_.clock->now_ms() -
        std::chrono::duration_cast<std::chrono::milliseconds>(options_.ttl).count();
    partition_list_ptr query(rd_kafka_topic_partition_list_copy(parts));
    for (int i = 0; i < query->cnt; ++i) query->elems[i].offset = since;
    const auto err =
        rd_kafka_offsets_for_times(rk_.get(), query.get(), to_timeout_ms(options_.offsets_timeout));
    for (int i = 0; i < parts->cnt; ++i) {
      const auto& answer = query->elems[i];
      auto& target = parts->elems[i];
      if (err || answer.err) {
        // Reading too much is safe (the store drops samples older than the TTL); skipping live
        // records is not.
        spdlog::warn(
            "kafka consumer: offsets for time on partition {} failed ({}); reading it "
            "from the beginning",
            target.partition, rd_kafka_err2str(err ? err : answer.err));
        target.offset = RD_KAFKA_OFFSET_BEGINNING;
      } else if (answer.offset < 0) {
        target.offset = RD_KAFKA_OFFSET_END;  // every record is older than now - ttl
      } else {
        target.offset = answer.offset;
      }
    }
  }

  void assign(rd_kafka_topic_partition_list_t* parts) {
    position_by_time(parts);
    const std::vector<std::int32_t> ids = partition_ids(parts);
    if (const auto err = rd_kafka_assign(rk_.get(), parts); err)
      record_error(std::string("assign: ") + rd_kafka_err2str(err));
    {
      std::lock_guard lock(assigned_mu_);
      assigned_ = ids;
      std::sort(assigned_.begin(), assigned_.end());
    }
    joined_.store(true);
    spdlog::info("kafka consumer: assigned {} partition(s) of {}", ids.size(), options_.topic);
    handler_->on_assigned(ids);
  }

  void revoke(rd_kafka_topic_partition_list_t* parts) {
    const std::vector<std::int32_t> ids = partition_ids(parts);
    handler_->on_revoked(ids);
    rd_kafka_assign(rk_.get(), nullptr);
    {
      std::lock_guard lock(assigned_mu_);
      assigned_.clear();
    }
    spdlog::info("kafka consumer: revoked {} partition(s) of {}", ids.size(), options_.topic);
  }

  void record_error(std::string text) {
    errors_.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("kafka consumer: {}", text);
    last_error_.set(std::move(text));
  }

  static void on_rebalance(rd_kafka_t*, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* parts, void* opaque) {
    auto* self = static_cast<kafka_consumer*>(opaque);
    switch (err) {
      case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        self->assign(parts);
        break;
      case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        self->revoke(parts);
        break;
      default:
        self->record_error(std::string("rebalance: ") + rd_kafka_err2str(err));
        self->revoke(parts);
        break;
    }
  }

  static void on_error(rd_kafka_t*, int err, const char* reason, void* opaque) {
    auto* self = static_cast<kafka_consumer*>(opaque);
    std::string text =
        std::string(rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err))) + ": " + reason;
    spdlog::warn("kafka consumer error: {}", text);
    self->last_error_.set(std::move(text));
  }

  static int on_statistics(rd_kafka_t*, char* json, std::size_t len, void* opaque) {
    auto* self = static_cast<kafka_consumer*>(opaque);
    auto s = parse_statistics({json, len}, self->options_.topic);
    if (!s) {
      spdlog::debug("kafka consumer: {}", s.error().message);
      return 0;
    }
    if (s->consumer_lag >= 0) self->lag_.store(s->consumer_lag, std::memory_order_relaxed);
    return 0;  // librdkafka frees the JSON
  }

  consumer_options options_;
  consumer_handler* handler_ = nullptr;
  last_error last_error_;
  std::atomic<std::uint64_t> records_{0};
  std::atomic<std::uint64_t> errors_{0};
  std::atomic<std::int64_t> lag_{0};
  std::atomic<bool> joined_{false};
  std::atomic<bool> stopping_{false};
  mutable std::mutex assigned_mu_;
  std::vector<std::int32_t> assigned_;
  std::mutex lifecycle_mu_;
  lifecycle state_ = lifecycle::created;
  handle_ptr rk_;
  topic_ptr topic_;
  std::thread thread_;
  std::unique_ptr<health_monitor> health_;
};

}  // namespace

util::result<std::unique_ptr<transport::consumer>> make_kafka_consumer(consumer_options options) {
  return kafka_consumer::create(std::move(options));
}

}  // namespace mca::transport::kafka
