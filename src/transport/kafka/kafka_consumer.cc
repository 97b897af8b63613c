// The Kafka group consumer. Start positions come from time, not from committed offsets: on each
// assignment a partition is positioned at its first record no older than now - ttl, so the store
// is rebuilt with exactly the series that are still live.
//
// Committed offsets mean "handled": an offset is stored only after the record was applied or, if
// rejected, after its copy on the dead-letter topic was acknowledged. They never move backwards
// (the replay from now - ttl starts below them), and a rejected record below the committed offset
// at assignment was already dead-lettered by an earlier owner, so it is not copied again.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
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
    dlq_.reset();
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
    s.dead_lettered = dead_lettered_.load(std::memory_order_relaxed);
    s.dead_letter_failed = dead_letter_failed_.load(std::memory_order_relaxed);
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
    if (!options_.group_instance_id.empty())
      h.info["group_instance_id"] = options_.group_instance_id;
    if (dlq_) {
      h.info["dlq_topic"] = options_.dlq_topic;
      h.info["dead_lettered"] = s.dead_lettered;
      h.info["dead_letter_failed"] = s.dead_letter_failed;
    }
    h.info["assigned_partitions"] = std::move(assigned);
    h.info["lag"] = s.lag;
    h.info["last_error"] = last_error_.get();
    // Reachable is not enough: until the group has handed us an assignment (possibly empty, when
    // there are more members than partitions) we hold none of the series.
    if (h.ok && !joined_.load()) {
      h.ok = false;
      h.status = "joining";
    } else if (h.ok && rebuilding_.load() > 0) {
      // Assigned, but still replaying the partitions up to where they ended at assignment: the
      // store does not hold all their series yet (a rolling restart waits for this).
      h.ok = false;
      h.status = "rebuilding";
    }
    h.info["rebuilding_partitions"] = rebuilding_.load();
    return h;
  }

 private:
  enum class lifecycle { created, running, closed };

  // Per assigned partition, consumer thread only.
  struct partition_state {
    std::int64_t committed = 0;  // the group's committed offset at assignment
    std::int64_t next = -1;      // offset to store once no dead-letter copy is pending
    int pending = 0;             // dead-letter copies not yet acknowledged
    bool failed = false;         // a copy failed: stop committing, the next owner copies again
  };

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
        {"session.timeout.ms", std::to_string(options_.session_timeout.count())},
        {"heartbeat.interval.ms", std::to_string(options_.heartbeat_interval.count())},
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
    if (!options_.group_instance_id.empty())
      props.emplace_back("group.instance.id", options_.group_instance_id);
    // Offsets are stored by handle() once a record is handled (dead-lettered included).
    props.emplace_back("enable.auto.offset.store", "false");
    if (!options_.dlq_topic.empty()) {
      if (auto r = connect_dlq(); !r) return r.error();
    }

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

  // The dead-letter producer: idempotent, acks=all; its delivery reports are served on the
  // consumer thread (rd_kafka_poll in run()), so partition state needs no lock.
  util::result<void> connect_dlq() {
    std::vector<property> props = options_.properties;
    props.emplace_back("client.id", "metrics-collection-api-dlq");
    props.emplace_back("enable.idempotence", "true");
    props.emplace_back("acks", "all");
    props.emplace_back("linger.ms", "5");
    props.emplace_back("message.timeout.ms", std::to_string(options_.dlq_delivery_timeout.count()));
    auto conf = make_conf(props);
    if (!conf) return conf.error();
    rd_kafka_conf_t* c = conf->get();
    install_logging(c);
    rd_kafka_conf_set_opaque(c, this);
    rd_kafka_conf_set_dr_msg_cb(c, &kafka_consumer::on_dlq_delivery);
    std::array<char, 512> err{};
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err.data(), err.size());
    if (!rk)
      return util::error(errc::unavailable,
                         std::string("Kafka dead-letter producer: ") + err.data());
    (void)conf->release();
    dlq_.reset(rk);
    return {};
  }

  void run() {
    while (!stopping_.load()) {
      message_ptr m(rd_kafka_consumer_poll(rk_.get(), to_timeout_ms(options_.poll_timeout)));
      if (m) {
        handle(*m);
        if (!m->err) note_rebuilt(m->partition, m->offset + 1);
      } else {
        note_rebuilt(-1, 0);
      }
      if (dlq_) rd_kafka_poll(dlq_.get(), 0);
    }
    drain_dlq();
    if (options_.leave_group_on_stop && !options_.group_instance_id.empty()) leave_group();
    if (const auto err = rd_kafka_consumer_close(rk_.get()); err)
      spdlog::warn("kafka consumer: close: {}", rd_kafka_err2str(err));
  }

  // A static member does not leave on close (KIP-345); unsubscribing first makes librdkafka
  // send LeaveGroup (it resets the member id when it does), so the partitions move at once.
  void leave_group() {
    if (const auto err = rd_kafka_unsubscribe(rk_.get()); err) {
      spdlog::warn("kafka consumer: unsubscribe: {}", rd_kafka_err2str(err));
      return;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      message_ptr m(rd_kafka_consumer_poll(rk_.get(), 50));
      char* id = rd_kafka_memberid(rk_.get());
      const bool left = !id || *id == '\0';
      if (id) rd_kafka_mem_free(rk_.get(), id);
      if (left) {
        spdlog::info("kafka consumer: static member {} left group {}", options_.group_instance_id,
                     options_.group_id);
        return;
      }
    }
    spdlog::warn("kafka consumer: static member {} did not leave group {} within 5 s",
                 options_.group_instance_id, options_.group_id);
  }

  // Waits for every dead-letter copy in flight (their reports store the offsets).
  void drain_dlq() {
    if (!dlq_) return;
    if (rd_kafka_flush(dlq_.get(), to_timeout_ms(options_.dlq_delivery_timeout)) != 0) {
      spdlog::error("kafka consumer: {} dead-letter copies not acknowledged in time",
                    rd_kafka_outq_len(dlq_.get()));
    }
  }

  void store_if_ready(std::int32_t partition, const partition_state& st) {
    if (st.failed || st.pending > 0 || st.next <= st.committed) return;
    if (const auto err = rd_kafka_offset_store(topic_.get(), partition, st.next - 1); err)
      spdlog::debug("kafka consumer: offset store {}: {}", partition, rd_kafka_err2str(err));
  }

  static void add_header(rd_kafka_headers_t* h, const char* name, std::string_view value) {
    rd_kafka_header_add(h, name, -1, value.data(), static_cast<ssize_t>(value.size()));
  }

  void dead_letter(const rd_kafka_message_t& m, const rejection& why, partition_state& st) {
    rd_kafka_headers_t* source = nullptr;
    rd_kafka_headers_t* h =
        rd_kafka_message_headers(&m, &source) == RD_KAFKA_RESP_ERR_NO_ERROR && source
            ? rd_kafka_headers_copy(source)
            : rd_kafka_headers_new(5);
    add_header(h, "dlq_reason", why.reason);
    add_header(h, "dlq_topic", options_.topic);
    add_header(h, "dlq_partition", std::to_string(m.partition));
    add_header(h, "dlq_offset", std::to_string(m.offset));
    if (why.schema_id >= 0) add_header(h, "dlq_schema_id", std::to_string(why.schema_id));
    rd_kafka_timestamp_type_t type;
    const std::int64_t ts = std::max<std::int64_t>(rd_kafka_message_timestamp(&m, &type), 0);
    auto* opaque = reinterpret_cast<void*>(static_cast<std::intptr_t>(m.partition));
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int attempt = 0; attempt < 50; ++attempt) {
      err = rd_kafka_producev(dlq_.get(), RD_KAFKA_V_TOPIC(options_.dlq_topic.c_str()),
                              RD_KAFKA_V_KEY(m.key, m.key_len), RD_KAFKA_V_VALUE(m.payload, m.len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(ts),
                              RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) break;
      rd_kafka_poll(dlq_.get(), 100);  // the local queue drains as copies are acknowledged
    }
    if (err) {
      rd_kafka_headers_destroy(h);  // not taken over on failure
      dead_letter_failed_.fetch_add(1, std::memory_order_relaxed);
      st.failed = true;
      dead_letter_error("dead-letter copy of " + options_.topic + "/" +
                        std::to_string(m.partition) + "@" + std::to_string(m.offset) +
                        " failed: " + rd_kafka_err2str(err));
      return;
    }
    ++st.pending;
  }

  static void on_dlq_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<kafka_consumer*>(opaque);
    const auto partition = static_cast<std::int32_t>(reinterpret_cast<std::intptr_t>(m->_private));
    auto it = self->parts_.find(partition);
    if (m->err) {
      self->dead_letter_failed_.fetch_add(1, std::memory_order_relaxed);
      self->dead_letter_error(
          "dead-letter copy from partition " + std::to_string(partition) +
          " failed: " + rd_kafka_err2str(m->err) +
          "; its offset stays uncommitted, the partition's next owner copies it");
      if (it != self->parts_.end()) it->second.failed = true;
    } else {
      self->dead_lettered_.fetch_add(1, std::memory_order_relaxed);
    }
    if (it == self->parts_.end()) return;
    --it->second.pending;
    self->store_if_ready(partition, it->second);
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
    const auto rejected = handler_->on_record(r);
    partition_state& st = parts_[m.partition];
    if (rejected && dlq_ && m.offset >= st.committed) dead_letter(m, *rejected, st);
    st.next = m.offset + 1;
    store_if_ready(m.partition, st);
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

  // The group's committed offsets of `parts` (0 where none or on failure: then a replayed poison
  // record may be dead-lettered twice, never missed).
  void load_committed(const rd_kafka_topic_partition_list_t* parts) {
    parts_.clear();
    partition_list_ptr query(rd_kafka_topic_partition_list_copy(parts));
    const auto err =
        rd_kafka_committed(rk_.get(), query.get(), to_timeout_ms(options_.offsets_timeout));
    if (err) spdlog::warn("kafka consumer: committed offsets: {}", rd_kafka_err2str(err));
    for (int i = 0; i < query->cnt; ++i) {
      const auto& e = query->elems[i];
      parts_[e.partition].committed = (!err && !e.err && e.offset >= 0) ? e.offset : 0;
    }
  }

  void assign(rd_kafka_topic_partition_list_t* parts) {
    load_committed(parts);
    position_by_time(parts);
    plan_rebuild(parts);  // before joined_: health never reports ok in between
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

  // Where each assigned partition ended at assignment: until the consumer has read up to there,
  // health() says "rebuilding". A partition whose end cannot be read counts as rebuilt (health
  // must not stay down because of a slow answer; the lag metric still shows the truth).
  void plan_rebuild(const rd_kafka_topic_partition_list_t* parts) {
    rebuild_until_.clear();
    rebuild_started_ = std::chrono::steady_clock::now();
    for (int i = 0; i < parts->cnt; ++i) {
      const auto& e = parts->elems[i];
      std::int64_t low = 0, high = 0;
      const auto err =
          rd_kafka_query_watermark_offsets(rk_.get(), options_.topic.c_str(), e.partition, &low,
                                           &high, to_timeout_ms(options_.offsets_timeout));
      if (err) {
        spdlog::warn("kafka consumer: end of partition {}: {}", e.partition, rd_kafka_err2str(err));
        continue;
      }
      const std::int64_t start = e.offset == RD_KAFKA_OFFSET_BEGINNING ? low : e.offset;
      if (e.offset != RD_KAFKA_OFFSET_END && start < high) rebuild_until_[e.partition] = high;
    }
    rebuilding_.store(static_cast<int>(rebuild_until_.size()));
    if (rebuild_until_.empty()) return;
    spdlog::info("kafka consumer: rebuilding {} partition(s)", rebuild_until_.size());
  }

  // Drops partitions read up to their end at assignment: after a record (`offset` + 1 is the
  // next position) or, when idle, by asking for the position (a control record may end a log).
  void note_rebuilt(std::int32_t partition, std::int64_t next) {
    if (rebuild_until_.empty()) return;
    if (partition >= 0) {
      auto it = rebuild_until_.find(partition);
      if (it == rebuild_until_.end() || next < it->second) return;
      rebuild_until_.erase(it);
    } else {
      partition_list_ptr q(
          rd_kafka_topic_partition_list_new(static_cast<int>(rebuild_until_.size())));
      for (const auto& [p, _] : rebuild_until_)
        rd_kafka_topic_partition_list_add(q.get(), options_.topic.c_str(), p);
      if (rd_kafka_position(rk_.get(), q.get())) return;
      for (int i = 0; i < q->cnt; ++i) {
        const auto& e = q->elems[i];
        if (!e.err && e.offset >= 0 && e.offset >= rebuild_until_[e.partition])
          rebuild_until_.erase(e.partition);
      }
    }
    rebuilding_.store(static_cast<int>(rebuild_until_.size()));
    if (rebuild_until_.empty()) {
      spdlog::info("kafka consumer: partitions rebuilt in {} ms",
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - rebuild_started_)
                       .count());
    }
  }

  void revoke(rd_kafka_topic_partition_list_t* parts) {
    const std::vector<std::int32_t> ids = partition_ids(parts);
    // The next owner's replay boundary is what is committed now: copies first, then commit.
    drain_dlq();
    if (const auto err = rd_kafka_commit(rk_.get(), nullptr, 0 /* sync */);
        err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
      spdlog::warn("kafka consumer: commit on revocation: {}", rd_kafka_err2str(err));
    parts_.clear();
    rebuild_until_.clear();
    rebuilding_.store(0);
    handler_->on_revoked(ids);
    rd_kafka_assign(rk_.get(), nullptr);
    {
      std::lock_guard lock(assigned_mu_);
      assigned_.clear();
    }
    spdlog::info("kafka consumer: revoked {} partition(s) of {}", ids.size(), options_.topic);
  }

  // Counted in dead_letter_failed (not as a read error), logged, kept for health().
  void dead_letter_error(std::string text) {
    spdlog::error("kafka consumer: {}", text);
    last_error_.set(std::move(text));
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
  std::atomic<std::uint64_t> dead_lettered_{0};
  std::atomic<std::uint64_t> dead_letter_failed_{0};
  std::map<std::int32_t, partition_state> parts_;  // consumer thread only
  std::atomic<bool> joined_{false};
  std::atomic<int> rebuilding_{0};                      // partitions not yet read to their end
  std::map<std::int32_t, std::int64_t> rebuild_until_;  // consumer thread only
  std::chrono::steady_clock::time_point rebuild_started_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex assigned_mu_;
  std::vector<std::int32_t> assigned_;
  std::mutex lifecycle_mu_;
  lifecycle state_ = lifecycle::created;
  handle_ptr rk_;
  topic_ptr topic_;
  std::thread thread_;
  std::unique_ptr<health_monitor> health_;
  handle_ptr dlq_;  // the dead-letter producer; null without a dead-letter topic
};

}  // namespace

util::result<std::unique_ptr<transport::consumer>> make_kafka_consumer(consumer_options options) {
  return kafka_consumer::create(std::move(options));
}

}  // namespace mca::transport::kafka
