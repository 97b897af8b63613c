// The Kafka group consumer. Start positions come from time, not from committed offsets: on each
// assignment a partition is positioned at its first record no older than now - ttl, so the store
// is rebuilt with exactly the series that are still live.
//
// Committed offsets mean "handled": an offset is stored only after the record was applied or, if
// rejected, after its copy on the dead-letter topic was acknowledged. They never move backwards
// (the replay from now - ttl starts below them), and a rejected record below the committed offset
// at assignment was already dead-lettered by an earlier owner, so it is not copied again.
//
// The changelog (options.changelog_topic) keeps what the handler must not lose on a restart or a
// failover (aggregates): its partition p holds the handler's snapshots of source partition p,
// keyed by the handler's keys, and one marker record whose value is the cut of the last snapshot
// acknowledged in full. At assignment it is read back before the partition is positioned.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include <spdlog/spdlog.h>
#include <boost/json/array.hpp>

#include "transport/kafka/kafka_transport.h"
#include "transport/kafka/rdkafka_common.h"

namespace mca::transport::kafka {
namespace {

// The marker's key: a NUL byte first, which no handler key may start with (series keys start with
// a non-empty app_id).
constexpr std::string_view kMarkerKey{"\0cut", 4};
constexpr unsigned char kMarkerVersion = 1;

// Marker value: version byte 1, then the cut as 8 bytes big-endian.
std::string encode_marker(std::int64_t cut) {
  std::string v(9, '\0');
  v[0] = static_cast<char>(kMarkerVersion);
  const auto u = static_cast<std::uint64_t>(cut);
  for (int i = 0; i < 8; ++i) v[1 + i] = static_cast<char>((u >> (56 - 8 * i)) & 0xff);
  return v;
}

std::optional<std::int64_t> decode_marker(std::string_view v) {
  if (v.size() != 9 || static_cast<unsigned char>(v[0]) != kMarkerVersion) return std::nullopt;
  std::uint64_t u = 0;
  for (int i = 0; i < 8; ++i) u = (u << 8) | static_cast<unsigned char>(v[1 + i]);
  const auto cut = static_cast<std::int64_t>(u);
  if (cut < 0) return std::nullopt;
  return cut;
}

// Delivery-report opaque of a changelog record: the assignment generation, whether it is a
// marker, the partition. Reports of an earlier assignment are only counted.
void* changelog_opaque(std::uint64_t generation, bool marker, std::int32_t partition) {
  const std::uint64_t v =
      (generation << 33) | (std::uint64_t{marker} << 32) | static_cast<std::uint32_t>(partition);
  return reinterpret_cast<void*>(static_cast<std::uintptr_t>(v));
}

// Offsets as librdkafka positions them: BEGINNING (-2) and END (-1) are logical.
std::int64_t earliest_start(std::int64_t a, std::int64_t b) {
  if (a == RD_KAFKA_OFFSET_BEGINNING || b == RD_KAFKA_OFFSET_BEGINNING)
    return RD_KAFKA_OFFSET_BEGINNING;
  if (a == RD_KAFKA_OFFSET_END) return b;
  if (b == RD_KAFKA_OFFSET_END) return a;
  return std::min(a, b);
}

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
    queue_.reset();  // a reference on the handle's queue: released before the handle
    rk_.reset();
    dlq_.reset();
    changelog_topic_.reset();
    changelog_.reset();
    changelog_reader_.reset();
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
    s.changelog_written = changelog_written_.load(std::memory_order_relaxed);
    s.changelog_failed = changelog_failed_.load(std::memory_order_relaxed);
    s.changelog_restored = changelog_restored_.load(std::memory_order_relaxed);
    s.last_restore_seconds = last_restore_seconds_.load(std::memory_order_relaxed);
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
    if (changelog_) {
      h.info["changelog_topic"] = options_.changelog_topic;
      h.info["changelog_written"] = s.changelog_written;
      h.info["changelog_failed"] = s.changelog_failed;
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
      // Assigned, but still reading the changelogs or replaying the partitions up to where they
      // ended at assignment: the store does not hold all their series yet (a rolling restart
      // waits for this).
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
    std::int64_t position = -1;  // offset of the next record to handle; -1 = not known yet
  };

  // Per assigned partition with a changelog, consumer thread only.
  struct snapshot_state {
    int pending = 0;        // records of the snapshot in flight (+1 while producing them)
    bool failed = false;    // one of them failed
    std::int64_t cut = -1;  // the position the snapshot in flight was taken at
    bool marker_in_flight = false;
    std::int64_t last_cut = -1;  // the cut the changelog's marker holds (or the restored one)
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
        {"fetch.wait.max.ms", std::to_string(options_.fetch_wait_max.count())},
        {"fetch.min.bytes", std::to_string(options_.fetch_min_bytes)},
        {"queued.min.messages", std::to_string(options_.queued_min_messages)},
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
    // Offsets are stored by apply_polled() once a record is handled (dead-lettered included).
    props.emplace_back("enable.auto.offset.store", "false");
    if (!options_.dlq_topic.empty()) {
      if (auto r = connect_dlq(); !r) return r.error();
    }
    if (!options_.changelog_topic.empty()) {
      if (auto r = connect_changelog(); !r) return r.error();
    }

    auto rk = make_handle(RD_KAFKA_CONSUMER, props,
                          {.opaque = this,
                           .rebalance = &kafka_consumer::on_rebalance,
                           .error = &kafka_consumer::on_error,
                           .statistics = &kafka_consumer::on_statistics,
                           .batch_threads = true},
                          "Kafka consumer");
    if (!rk) return rk.error();
    rk_ = std::move(*rk);
    // Error and statistics callbacks are then served by the consumer poll.
    rd_kafka_poll_set_consumer(rk_.get());
    // The queue poll_batch() reads batches from: the consumer's, where messages and (forwarded
    // by the line above) callbacks arrive.
    queue_.reset(rd_kafka_queue_get_consumer(rk_.get()));
    if (!queue_) return util::error(errc::unavailable, "Kafka consumer: no consumer queue");
    auto topic = make_topic(rk_.get(), options_.topic);
    if (!topic) return topic.error();
    topic_ = std::move(*topic);
    health_ = std::make_unique<health_monitor>(
        [this] { return probe_metadata(rk_.get(), topic_.get(), options_.health_timeout); },
        options_.health_interval);
    return {};
  }

  // The properties of a producer of our own beside the consumer (dead-letter copies, the
  // changelog): the connection's, then idempotent and acks=all.
  std::vector<property> side_producer(const char* client_id, const char* linger_ms,
                                      std::chrono::milliseconds timeout) const {
    std::vector<property> props = options_.properties;
    props.emplace_back("client.id", client_id);
    props.emplace_back("enable.idempotence", "true");
    props.emplace_back("acks", "all");
    props.emplace_back("linger.ms", linger_ms);
    props.emplace_back("message.timeout.ms", std::to_string(timeout.count()));
    return props;
  }

  // The dead-letter producer: idempotent, acks=all; its delivery reports are served on the
  // consumer thread (rd_kafka_poll in run()), so partition state needs no lock.
  util::result<void> connect_dlq() {
    auto rk = make_handle(
        RD_KAFKA_PRODUCER,
        side_producer("metrics-collection-api-dlq", "5", options_.dlq_delivery_timeout),
        {.opaque = this, .delivery = &kafka_consumer::on_dlq_delivery, .batch_threads = true},
        "Kafka dead-letter producer");
    if (!rk) return rk.error();
    dlq_ = std::move(*rk);
    return {};
  }

  // The changelog's producer (idempotent, acks=all; delivery reports served on the consumer thread,
  // like the dead-letter producer's) and the reader of changelog partitions at assignment (assigns
  // partitions itself, never joins a group, never commits).
  util::result<void> connect_changelog() {
    std::vector<property> props = side_producer("metrics-collection-api-changelog", "20",
                                                options_.changelog_delivery_timeout);
    props.emplace_back("compression.type", "zstd");
    // A snapshot of many series is produced at once; the queue must hold it.
    props.emplace_back("queue.buffering.max.messages", "1000000");
    props.emplace_back("queue.buffering.max.kbytes", "1048576");
    // Never let a metadata request create the changelog with the broker's defaults (it must be
    // compacted): ensure_changelog() creates it.
    props.emplace_back("allow.auto.create.topics", "false");
    auto rk = make_handle(
        RD_KAFKA_PRODUCER, props,
        {.opaque = this, .delivery = &kafka_consumer::on_changelog_delivery, .batch_threads = true},
        "Kafka changelog producer");
    if (!rk) return rk.error();
    changelog_ = std::move(*rk);
    auto topic = make_topic(changelog_.get(), options_.changelog_topic);
    if (!topic) return topic.error();
    changelog_topic_ = std::move(*topic);

    std::vector<property> reader = options_.properties;
    reader.emplace_back("client.id", "metrics-collection-api-restore");
    reader.emplace_back("group.id", options_.group_id + "-changelog-reader");
    reader.emplace_back("enable.auto.commit", "false");
    reader.emplace_back("enable.auto.offset.store", "false");
    reader.emplace_back("enable.partition.eof", "true");
    reader.emplace_back("auto.offset.reset", "earliest");
    reader.emplace_back("allow.auto.create.topics", "false");
    auto reader_rk =
        make_handle(RD_KAFKA_CONSUMER, reader, {.batch_threads = true}, "Kafka changelog reader");
    if (!reader_rk) return reader_rk.error();
    changelog_reader_ = std::move(*reader_rk);
    rd_kafka_poll_set_consumer(changelog_reader_.get());
    return {};
  }

  void run() {
    run_as_batch_thread();  // applying records never preempts a request being answered
    while (!stopping_.load()) {
      poll_batch();
      if (dlq_) rd_kafka_poll(dlq_.get(), 0);
      if (changelog_) {
        rd_kafka_poll(changelog_.get(), 0);
        maybe_snapshot();
      }
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

  // One poll: waits up to poll_timeout for a first message, then takes what librdkafka has
  // already fetched (at most kMaxPoll, never waiting again) and applies it as one batch. The
  // first wait is rd_kafka_consumer_poll; the rest is one rd_kafka_consume_batch_queue on the
  // same queue, which pays librdkafka's per-call costs (clock reads, poll bookkeeping) once per
  // poll instead of once per message. Both serve callbacks: a rebalance served by the first
  // applies what was taken before it (on_rebalance); one served inside the batch call cannot
  // see what that call has taken so far, so those messages are settled after it returns
  // (take_batch).
  void poll_batch() {
    message_ptr first(rd_kafka_consumer_poll(rk_.get(), to_timeout_ms(options_.poll_timeout)));
    if (first) {
      take(std::move(first));
      take_batch();
    }
    if (polled_.empty()) {
      note_rebuilt(-1, 0);
      return;
    }
    apply_polled();
  }

  void take(message_ptr m) {
    if (m->err) {
      record_error(rd_kafka_message_errstr(m.get()));
      return;
    }
    polled_.push_back(std::move(m));
  }

  // What librdkafka has fetched already, without waiting. librdkafka (>= 2.0) drops from the
  // batch the messages a rebalance inside the call made outdated (its fetch version barrier);
  // on top of that, after a rebalance only messages of partitions assigned now are kept: one of
  // a partition just revoked belongs to its next owner, which reads it from the committed
  // offset (nothing of it was stored), so dropping it loses nothing.
  void take_batch() {
    const std::size_t room = kMaxPoll - polled_.size();
    if (room == 0) return;
    batch_.resize(room);
    const std::uint64_t rebalances = rebalances_;
    const ssize_t got = rd_kafka_consume_batch_queue(queue_.get(), 0, batch_.data(), room);
    for (ssize_t i = 0; i < got; ++i) {
      message_ptr m(batch_[static_cast<std::size_t>(i)]);
      if (rebalances != rebalances_ && !m->err && !parts_.contains(m->partition)) continue;
      take(std::move(m));
    }
  }

  static record to_record(const rd_kafka_message_t& m) {
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
    return r;
  }

  // Hands the polled messages to the handler in one call, then, in log order, copies the rejected
  // ones to the dead-letter topic and moves each partition's position; offsets are stored once
  // per partition, after the handler returned (never past what it applied).
  void apply_polled() {
    if (polled_.empty()) return;
    const std::size_t n = polled_.size();
    polled_records_.clear();
    for (const auto& m : polled_) polled_records_.push_back(to_record(*m));
    rejected_.assign(n, std::nullopt);
    records_.fetch_add(n, std::memory_order_relaxed);
    handler_->on_records(polled_records_, rejected_);
    std::int32_t partition = -1;
    partition_state* st = nullptr;
    const auto settle = [&] {
      if (!st) return;
      store_if_ready(partition, *st);
      note_rebuilt(partition, st->position);
    };
    for (std::size_t i = 0; i < n; ++i) {
      const rd_kafka_message_t& m = *polled_[i];
      if (m.partition != partition) {
        settle();
        partition = m.partition;
        st = &parts_[partition];
      }
      if (rejected_[i] && dlq_ && m.offset >= st->committed) dead_letter(m, *rejected_[i], *st);
      st->next = m.offset + 1;
      st->position = m.offset + 1;
    }
    settle();
    polled_.clear();
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
    // "rebuilding" from here: the changelog is read before the partitions are.
    rebuilding_.store(std::max(parts->cnt, 1));
    rebuild_started_ = std::chrono::steady_clock::now();
    const std::vector<std::int32_t> ids = partition_ids(parts);
    handler_->on_rebuilding(ids);  // before on_restore: nothing of them shown until rebuilt
    load_committed(parts);
    const auto restored = restore(parts);
    position_by_time(parts);
    for (int i = 0; i < parts->cnt; ++i) {
      auto& e = parts->elems[i];
      if (auto it = restored.find(e.partition); it != restored.end())
        e.offset = earliest_start(e.offset, it->second);
    }
    plan_rebuild(parts);  // before joined_: health never reports ok in between
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
    for (int i = 0; i < parts->cnt; ++i) {
      const auto& e = parts->elems[i];
      std::int64_t low = 0, high = 0;
      const auto err =
          rd_kafka_query_watermark_offsets(rk_.get(), options_.topic.c_str(), e.partition, &low,
                                           &high, to_timeout_ms(options_.offsets_timeout));
      if (err) {
        spdlog::warn("kafka consumer: end of partition {}: {}", e.partition, rd_kafka_err2str(err));
        handler_->on_rebuilt(e.partition);
        continue;
      }
      std::int64_t start = e.offset == RD_KAFKA_OFFSET_BEGINNING ? low : e.offset;
      if (e.offset == RD_KAFKA_OFFSET_END) start = high;
      // Below the log start (retention) the fetch resets to the earliest record.
      parts_[e.partition].position = std::clamp(start, low, high);
      if (e.offset != RD_KAFKA_OFFSET_END && start < high)
        rebuild_until_[e.partition] = high;
      else
        handler_->on_rebuilt(e.partition);  // nothing to replay
    }
    rebuilding_.store(static_cast<int>(rebuild_until_.size()));
    if (rebuild_until_.empty()) {
      if (parts->cnt > 0) log_rebuilt();
      return;
    }
    spdlog::info("kafka consumer: rebuilding {} partition(s)", rebuild_until_.size());
  }

  // Drops partitions read up to their end at assignment: after a record (`offset` + 1 is the
  // next position) or, when idle, by asking for the position (a control record may end a log).
  void note_rebuilt(std::int32_t partition, std::int64_t next) {
    if (rebuild_until_.empty()) return;
    if (partition >= 0) {
      auto it = rebuild_until_.find(partition);
      if (it == rebuild_until_.end() || next < it->second) return;
      finish_rebuild(partition);
    } else {
      partition_list_ptr q(
          rd_kafka_topic_partition_list_new(static_cast<int>(rebuild_until_.size())));
      for (const auto& [p, _] : rebuild_until_)
        rd_kafka_topic_partition_list_add(q.get(), options_.topic.c_str(), p);
      if (rd_kafka_position(rk_.get(), q.get())) return;
      for (int i = 0; i < q->cnt; ++i) {
        const auto& e = q->elems[i];
        if (!e.err && e.offset >= 0 && e.offset >= rebuild_until_[e.partition])
          finish_rebuild(e.partition);
      }
    }
    rebuilding_.store(static_cast<int>(rebuild_until_.size()));
    if (rebuild_until_.empty()) log_rebuilt();
  }

  // A partition read to where it ended at assignment: its series may be shown again.
  void finish_rebuild(std::int32_t partition) {
    rebuild_until_.erase(partition);
    handler_->on_rebuilt(partition);
  }

  // From the assignment (changelog read included) to every partition read to its end.
  void log_rebuilt() {
    spdlog::info("kafka consumer: partitions rebuilt in {} ms",
                 std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - rebuild_started_)
                     .count());
  }

  void revoke(rd_kafka_topic_partition_list_t* parts) {
    const std::vector<std::int32_t> ids = partition_ids(parts);
    // The next owner restores from the changelog: hand it the newest snapshot (it would be exact
    // from an older one too, only with more to replay).
    final_snapshot();
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

  // --- the changelog ------------------------------------------------------------------------

  // Makes sure the changelog exists: created when missing, compacted, with the partition count and
  // replication factor of the topic. On failure (broker down, not allowed) it is tried again at
  // the next snapshot or assignment; meanwhile partitions are replayed from the beginning.
  bool ensure_changelog() {
    if (changelog_partitions_ > 0) return true;
    const int timeout = to_timeout_ms(options_.offsets_timeout);
    const rd_kafka_metadata_t* raw = nullptr;
    auto err = rd_kafka_metadata(changelog_.get(), 0, changelog_topic_.get(), &raw, timeout);
    metadata_ptr md(raw);
    if (!err && md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0) {
      changelog_partitions_ = md->topics[0].partition_cnt;
      return true;
    }
    raw = nullptr;
    err = rd_kafka_metadata(rk_.get(), 0, topic_.get(), &raw, timeout);
    metadata_ptr source(raw);
    if (err || source->topic_cnt != 1 || source->topics[0].err ||
        source->topics[0].partition_cnt == 0) {
      changelog_error("changelog " + options_.changelog_topic + ": no metadata for " +
                      options_.topic + ": " + rd_kafka_err2str(err ? err : source->topics[0].err));
      return false;
    }
    const int partitions = source->topics[0].partition_cnt;
    const int replicas = source->topics[0].partitions[0].replica_cnt;
    std::array<char, 512> errstr{};
    rd_kafka_NewTopic_t* nt =
        rd_kafka_NewTopic_new(options_.changelog_topic.c_str(), partitions,
                              replicas > 0 ? replicas : -1, errstr.data(), errstr.size());
    if (!nt) {
      changelog_error("changelog " + options_.changelog_topic + ": " + errstr.data());
      return false;
    }
    rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    rd_kafka_queue_t* q = rd_kafka_queue_new(changelog_.get());
    rd_kafka_AdminOptions_t* ao =
        rd_kafka_AdminOptions_new(changelog_.get(), RD_KAFKA_ADMIN_OP_ANY);
    rd_kafka_AdminOptions_set_request_timeout(ao, timeout, nullptr, 0);
    rd_kafka_CreateTopics(changelog_.get(), &nt, 1, ao, q);
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q, timeout + 1000);
    rd_kafka_resp_err_t result = RD_KAFKA_RESP_ERR__TIMED_OUT;
    std::string why;
    if (ev) {
      result = rd_kafka_event_error(ev);
      if (const auto* r = rd_kafka_event_CreateTopics_result(ev); r && !result) {
        std::size_t n = 0;
        const rd_kafka_topic_result_t** topics = rd_kafka_CreateTopics_result_topics(r, &n);
        if (n == 1) {
          result = rd_kafka_topic_result_error(topics[0]);
          if (const char* s = rd_kafka_topic_result_error_string(topics[0])) why = s;
        }
      }
      rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    if (result && result != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      changelog_error("changelog " + options_.changelog_topic + " could not be created: " +
                      rd_kafka_err2str(result) + (why.empty() ? "" : " (" + why + ")"));
      return false;
    }
    if (!result)
      spdlog::info("kafka consumer: created changelog {} ({} partitions, compacted)",
                   options_.changelog_topic, partitions);
    // Metadata reaches the brokers shortly after creation.
    const auto deadline = std::chrono::steady_clock::now() + options_.offsets_timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      raw = nullptr;
      err = rd_kafka_metadata(changelog_.get(), 0, changelog_topic_.get(), &raw, timeout);
      metadata_ptr again(raw);
      if (!err && again->topic_cnt == 1 && !again->topics[0].err &&
          again->topics[0].partition_cnt > 0) {
        changelog_partitions_ = again->topics[0].partition_cnt;
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    changelog_error("changelog " + options_.changelog_topic + " not in metadata after creation");
    return false;
  }

  // What the restore read of one changelog partition: the newest value per key, the cut of the
  // last marker, the end offset at assignment and whether it was read to that end.
  struct partition_log {
    std::unordered_map<std::string, std::string> latest;
    std::optional<std::int64_t> cut;
    std::int64_t end = 0;
    bool complete = false;
  };

  // Reads the changelog partitions of `parts` to their end, hands each to the handler, and
  // returns where each partition must start at the latest (BEGINNING without a usable cut).
  std::map<std::int32_t, std::int64_t> restore(const rd_kafka_topic_partition_list_t* parts) {
    std::map<std::int32_t, std::int64_t> start;
    ++generation_;  // reports of snapshots of the previous assignment are only counted now
    snapshots_.clear();
    if (!changelog_) return start;
    const auto began = std::chrono::steady_clock::now();
    std::map<std::int32_t, partition_log> logs;
    const bool have_changelog = ensure_changelog();
    partition_list_ptr read = plan_changelog_read(parts, have_changelog, logs);
    const std::size_t entries_read = read_changelog(read.get(), began, logs);
    std::size_t restored = 0;
    for (auto& [p, log] : logs) {
      restored += log.latest.size();
      start[p] = hand_over(p, log, have_changelog && p < changelog_partitions_);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    changelog_restored_.fetch_add(restored, std::memory_order_relaxed);
    last_restore_seconds_.store(seconds, std::memory_order_relaxed);
    spdlog::info("kafka consumer: changelog read: {} records, {} entries restored in {} ms",
                 entries_read, restored, static_cast<std::int64_t>(seconds * 1000));
    return start;
  }

  // Restore step 1: a log entry for every partition of `parts`, and the list of the changelog
  // partitions to read, each from its low watermark. An empty partition is complete already; one
  // the changelog lacks, or whose watermarks cannot be queried, is left incomplete (replayed).
  partition_list_ptr plan_changelog_read(const rd_kafka_topic_partition_list_t* parts,
                                         bool have_changelog,
                                         std::map<std::int32_t, partition_log>& logs) {
    partition_list_ptr read(rd_kafka_topic_partition_list_new(parts->cnt));
    for (int i = 0; i < parts->cnt; ++i) {
      const std::int32_t p = parts->elems[i].partition;
      auto& log = logs[p];
      if (!have_changelog) continue;
      if (p >= changelog_partitions_) {
        changelog_error("changelog " + options_.changelog_topic + " has " +
                        std::to_string(changelog_partitions_) + " partitions, fewer than " +
                        options_.topic + ": partition " + std::to_string(p) +
                        " is replayed from the beginning");
        continue;
      }
      std::int64_t low = 0, high = 0;
      if (const auto err = rd_kafka_query_watermark_offsets(
              changelog_reader_.get(), options_.changelog_topic.c_str(), p, &low, &high,
              to_timeout_ms(options_.offsets_timeout));
          err) {
        changelog_error("changelog " + options_.changelog_topic + "/" + std::to_string(p) + ": " +
                        rd_kafka_err2str(err));
        continue;
      }
      log.end = high;
      if (low >= high) {
        log.complete = true;
        continue;
      }
      rd_kafka_topic_partition_list_add(read.get(), options_.changelog_topic.c_str(), p)->offset =
          low;
    }
    return read;
  }

  // Restore step 2: reads the partitions of `read` until each reaches its end or the restore
  // timeout (from `began`) passes; returns how many records it read.
  std::size_t read_changelog(rd_kafka_topic_partition_list_t* read,
                             std::chrono::steady_clock::time_point began,
                             std::map<std::int32_t, partition_log>& logs) {
    if (read->cnt == 0) return 0;
    std::size_t entries_read = 0;
    rd_kafka_assign(changelog_reader_.get(), read);
    int left = read->cnt;
    const auto deadline = began + options_.restore_timeout;
    while (left > 0 && std::chrono::steady_clock::now() < deadline) {
      message_ptr m(rd_kafka_consumer_poll(changelog_reader_.get(), 100));
      if (!m) continue;
      auto it = logs.find(m->partition);
      if (it == logs.end() || it->second.complete) continue;
      auto& log = it->second;
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        log.complete = true;
        --left;
        continue;
      }
      if (m->err) {
        changelog_error("changelog read: " + std::string(rd_kafka_message_errstr(m.get())));
        continue;
      }
      ++entries_read;
      apply_changelog_record(*m, log);
      if (m->offset + 1 >= log.end) {
        log.complete = true;
        --left;
      }
    }
    rd_kafka_assign(changelog_reader_.get(), nullptr);
    return entries_read;
  }

  // One changelog record into `log`: a marker sets (or, unreadable or empty, clears) the cut; a
  // value replaces its key's; a tombstone removes its key.
  void apply_changelog_record(const rd_kafka_message_t& m, partition_log& log) const {
    std::string key(static_cast<const char*>(m.key), m.key ? m.key_len : 0);
    if (!key.empty() && key.front() == '\0') {
      if (key == kMarkerKey && m.payload) {
        log.cut = decode_marker({static_cast<const char*>(m.payload), m.len});
        if (!log.cut)
          spdlog::warn("kafka consumer: changelog {}/{}: unreadable marker at offset {}",
                       options_.changelog_topic, m.partition, m.offset);
      } else if (key == kMarkerKey) {
        log.cut.reset();
      }
    } else if (m.payload) {
      log.latest.insert_or_assign(std::move(key),
                                  std::string(static_cast<const char*>(m.payload), m.len));
    } else {
      log.latest.erase(key);  // a tombstone
    }
  }

  // Restore step 3: hands partition `p`'s entries to the handler and returns where the partition
  // starts: the cut when the log was read to its end and holds one, else the beginning, and never
  // later than where the handler asks to replay from. `readable`: the changelog has the partition.
  std::int64_t hand_over(std::int32_t p, const partition_log& log, bool readable) {
    std::vector<changelog_entry> entries;
    entries.reserve(log.latest.size());
    for (const auto& [k, v] : log.latest) entries.push_back({k, v});
    const bool exact = log.complete && log.cut.has_value();
    if (!log.complete && readable)
      changelog_error("changelog " + options_.changelog_topic + "/" + std::to_string(p) +
                      " not read to its end in time: partition replayed from the beginning");
    const std::int64_t floor = exact ? *log.cut : 0;
    const restore_result r = handler_->on_restore(p, entries, floor);
    std::int64_t from = exact ? floor : RD_KAFKA_OFFSET_BEGINNING;
    if (r.replay_from >= 0) from = earliest_start(from, r.replay_from);
    if (exact) snapshots_[p].last_cut = *log.cut;
    spdlog::info("kafka consumer: partition {}: {} changelog entries restored, {}", p,
                 entries.size(),
                 exact ? "cut " + std::to_string(*log.cut) + ", replay from " +
                             (from == RD_KAFKA_OFFSET_BEGINNING ? std::string("the beginning")
                                                                : std::to_string(from))
                       : std::string("no complete snapshot: replay from the beginning"));
    return from;
  }

  void maybe_snapshot() {
    const auto now = std::chrono::steady_clock::now();
    if (now < next_snapshot_) return;
    next_snapshot_ = now + options_.snapshot_interval;
    if (parts_.empty() || !ensure_changelog()) return;
    for (const auto& [p, st] : parts_) snapshot(p, st.position);
  }

  // Writes what changed in `partition` and, once all of it is acknowledged, the marker with
  // `cut`. At most one snapshot per partition is in flight.
  void snapshot(std::int32_t partition, std::int64_t cut) {
    if (partition >= changelog_partitions_) return;
    snapshot_state& s = snapshots_[partition];
    if (s.pending > 0 || s.marker_in_flight) return;
    std::vector<changelog_write> writes = handler_->on_snapshot(partition);
    s.cut = cut;
    s.failed = false;
    s.pending = 1;  // held while producing, so a report served meanwhile cannot finish it
    for (auto& w : writes) {
      if (!produce_changelog(partition, w.key, w.value ? &*w.value : nullptr, false)) {
        s.failed = true;
        break;
      }
      ++s.pending;
    }
    if (--s.pending == 0) finish_snapshot(partition, s);
  }

  void finish_snapshot(std::int32_t partition, snapshot_state& s) {
    if (s.failed) {
      s.failed = false;
      handler_->on_snapshot_failed(partition);
      return;
    }
    // The marker only moves forward: a restored cut stays until the position passes it.
    if (s.cut < 0 || s.cut <= s.last_cut) return;
    const std::string value = encode_marker(s.cut);
    if (produce_changelog(partition, std::string(kMarkerKey), &value, true))
      s.marker_in_flight = true;
  }

  bool produce_changelog(std::int32_t partition, const std::string& key, const std::string* value,
                         bool marker) {
    void* opaque = changelog_opaque(generation_, marker, partition);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int attempt = 0; attempt < 100; ++attempt) {
      err = rd_kafka_producev(
          changelog_.get(), RD_KAFKA_V_RKT(changelog_topic_.get()), RD_KAFKA_V_PARTITION(partition),
          RD_KAFKA_V_KEY(key.data(), key.size()),
          RD_KAFKA_V_VALUE(value ? const_cast<char*>(value->data()) : nullptr,
                           value ? value->size() : 0),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) break;
      rd_kafka_poll(changelog_.get(), 100);  // the queue drains as records are acknowledged
    }
    if (err) {
      changelog_failed_.fetch_add(1, std::memory_order_relaxed);
      changelog_error("changelog write to " + options_.changelog_topic + "/" +
                      std::to_string(partition) + " failed: " + rd_kafka_err2str(err));
      return false;
    }
    return true;
  }

  static void on_changelog_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<kafka_consumer*>(opaque);
    const auto v = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(m->_private));
    const auto partition = static_cast<std::int32_t>(v & 0xffffffffu);
    const bool marker = (v >> 32) & 1;
    const std::uint64_t generation = v >> 33;
    if (m->err) {
      self->changelog_failed_.fetch_add(1, std::memory_order_relaxed);
      self->changelog_error("changelog write to " + self->options_.changelog_topic + "/" +
                            std::to_string(partition) + " failed: " + rd_kafka_err2str(m->err));
    } else {
      self->changelog_written_.fetch_add(1, std::memory_order_relaxed);
    }
    if (generation != self->generation_) return;  // an earlier assignment's
    auto it = self->snapshots_.find(partition);
    if (it == self->snapshots_.end()) return;
    snapshot_state& s = it->second;
    if (marker) {
      s.marker_in_flight = false;
      if (!m->err) s.last_cut = std::max(s.last_cut, s.cut);
      return;
    }
    if (m->err) s.failed = true;
    if (--s.pending == 0) self->finish_snapshot(partition, s);
  }

  // On revocation (and so on shutdown): what is in flight, then one more snapshot of every
  // partition, waited for at most final_snapshot_timeout in all (a broker that does not answer
  // must not hold a shutdown; what is not acknowledged by then only costs the next owner replay).
  void final_snapshot() {
    if (!changelog_ || changelog_partitions_ == 0 || parts_.empty()) return;
    const auto deadline = std::chrono::steady_clock::now() + options_.final_snapshot_timeout;
    const auto left = [&] {
      return to_timeout_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now()));
    };
    rd_kafka_flush(changelog_.get(), left());
    for (const auto& [p, st] : parts_) snapshot(p, st.position);
    // flush() serves the reports, which produce the markers; it waits for those too.
    if (rd_kafka_flush(changelog_.get(), left()) != RD_KAFKA_RESP_ERR_NO_ERROR)
      spdlog::warn("kafka consumer: {} changelog records not acknowledged at revocation",
                   rd_kafka_outq_len(changelog_.get()));
    ++generation_;
    snapshots_.clear();
  }

  // Counted in dead_letter_failed (not as a read error), logged, kept for health().
  void dead_letter_error(std::string text) {
    spdlog::error("kafka consumer: {}", text);
    last_error_.set(std::move(text));
  }

  // Logged and kept for health(); counted in changelog_failed where a write failed.
  void changelog_error(std::string text) {
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
    ++self->rebalances_;
    // Served inside one of poll_batch()'s polls: what it took before belongs to the assignment
    // being left, so it is applied (and its offsets stored) before the revocation commits.
    self->apply_polled();
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

  // Messages one poll_batch() takes at most: enough to amortise the store's lock and clock read
  // (series_store::apply_batch), few enough to keep a poll's memory and latency small.
  static constexpr std::size_t kMaxPoll = 512;

  consumer_options options_;
  consumer_handler* handler_ = nullptr;
  // The poll being collected and its records and rejections; consumer thread only.
  std::vector<message_ptr> polled_;
  std::vector<rd_kafka_message_t*> batch_;  // take_batch()'s array, reused
  std::uint64_t rebalances_ = 0;            // rebalance callbacks served; consumer thread only
  std::vector<record> polled_records_;
  std::vector<std::optional<rejection>> rejected_;
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
  queue_ptr queue_;  // rk_'s consumer queue
  topic_ptr topic_;
  std::thread thread_;
  std::unique_ptr<health_monitor> health_;
  handle_ptr dlq_;  // the dead-letter producer; null without a dead-letter topic
  // The changelog: producer (null without a changelog topic), its topic, the restore reader.
  handle_ptr changelog_;
  topic_ptr changelog_topic_;
  handle_ptr changelog_reader_;
  int changelog_partitions_ = 0;  // 0 until the changelog is known to exist; consumer thread only
  std::uint64_t generation_ = 0;  // assignments and revocations; consumer thread only
  std::map<std::int32_t, snapshot_state> snapshots_;  // consumer thread only
  std::chrono::steady_clock::time_point next_snapshot_;
  std::atomic<std::uint64_t> changelog_written_{0};
  std::atomic<std::uint64_t> changelog_failed_{0};
  std::atomic<std::uint64_t> changelog_restored_{0};
  std::atomic<double> last_restore_seconds_{0};
};

}  // namespace

util::result<std::unique_ptr<transport::consumer>> make_kafka_consumer(consumer_options options) {
  return kafka_consumer::create(std::move(options));
}

}  // namespace mca::transport::kafka
