// The Kafka implementation of transport::producer and transport::consumer, on librdkafka's C API.
//
// Both take the connection and security properties as a ready list of librdkafka properties
// (config::kafka_properties builds it from the KAFKA_* variables; this module does not depend on
// config). The properties a guarantee depends on are set here and cannot be overridden: the
// producer is idempotent with acks=all, the consumer assigns its own start offsets.
//
// Threads: a producer runs one thread serving delivery reports and one for health(); a consumer
// one polling thread (start to stop; SCHED_BATCH, as are its clients' broker threads) and one for
// health(). librdkafka's own log lines go to spdlog (logger "kafka"); secrets never appear.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "transport/transport.h"
#include "util/clock.h"
#include "util/result.h"

namespace mca::transport::kafka {

using property = std::pair<std::string, std::string>;

struct producer_options {
  // bootstrap.servers, security and pass-through properties, applied in order before the
  // settings below override them where they must (enable.idempotence, acks).
  std::vector<property> properties;
  // The topic produced to. No default here: the service's one default is KAFKA_TOPIC's, which
  // config::make_kafka_clients gives the producer and the consumer alike.
  std::string topic;
  // message.timeout.ms: a message not acknowledged within this fails with errc::timed_out. Keep
  // it shorter than the HTTP request deadline so the client gets a 503, not a dropped request.
  std::chrono::milliseconds delivery_timeout{10'000};
  std::chrono::duration<double, std::milli> linger{0};  // linger.ms (fractions allowed)
  // compression.type. zstd by measurement (README.md here): on metric records it puts ~30% fewer
  // bytes on the wire and disk than lz4 for a difference in producer CPU lost in the noise.
  // "lz4", "gzip", "snappy", "none" also work.
  std::string compression = "zstd";
  // Local queue limits (queue.buffering.max.messages / .kbytes). A send beyond them fails at
  // once with errc::queue_full: back-pressure the HTTP layer turns into 503 + Retry-After.
  int queue_max_messages = 100'000;
  int queue_max_kbytes = 64 * 1024;
  std::chrono::milliseconds statistics_interval{5'000};  // statistics.interval.ms; 0 = off
  // health(): broker metadata is refreshed on a background thread this often, each request
  // waiting at most health_timeout; health() itself only reads the last result.
  std::chrono::milliseconds health_interval{5'000};
  std::chrono::milliseconds health_timeout{2'000};
};

// Creates a connected-on-demand producer (librdkafka connects in the background). Fails only on
// properties librdkafka rejects (unknown name, invalid value: the message names the property,
// never a secret value). Thread-safe as transport::producer says. Destroying it purges what is
// still queued: every outstanding batch completes with errc::unavailable; call flush() first.
util::result<std::unique_ptr<transport::producer>> make_kafka_producer(producer_options options);

struct consumer_options {
  std::vector<property> properties;  // as for the producer
  std::string topic;                 // consumed from; as for the producer, no default here
  std::string group_id = "metrics-collection-api";  // group.id
  // On assignment each partition starts at the first record with timestamp >= now - ttl
  // (offsets for times); 0 = from the beginning. A partition with no such record starts at its
  // end. When the broker cannot answer, the partition starts at the beginning (the store's TTL
  // drops what is too old; nothing live is missed). The service passes the store's TTL
  // (METRIC_TTL_SECONDS, config::make_kafka_clients), so no second default lives here.
  std::chrono::seconds ttl{0};
  const util::clock* clock = &util::real_clock();  // for `now`; not owned, outlives the consumer
  std::chrono::milliseconds poll_timeout{100};     // how long one poll waits for a record
  // A fetch is answered once fetch_min_bytes are there or after fetch_wait_max (fetch.min.bytes,
  // fetch.wait.max.ms). librdkafka's defaults (1 byte) answer a fetch for every record written,
  // which on a busy topic costs the broker and this process a fetch round per produce request;
  // these let a record reach the store up to fetch_wait_max later (docs/PERFORMANCE.md, "Kafka
  // path CPU per metric"). Pass-through properties override them.
  std::chrono::milliseconds fetch_wait_max{50};
  int fetch_min_bytes = 256 * 1024;
  // queued.min.messages: librdkafka stops fetching while the consumer's queue holds this many
  // records, and in 2.0 looks again only when its broker thread next wakes, up to a second
  // later. Its default (100,000: under two fetch answers of a busy topic) stalled the replay of
  // a backlog (an assignment, a restart) that way again and again, with the consumer thread
  // idle (docs/PERFORMANCE.md, "Consume: one batch call per poll, no fetch stalls"). Raised,
  // what is prefetched is bounded by queued.max.messages.kbytes alone (librdkafka's default,
  // 64 MiB, which it ranks above this; unchanged).
  int queued_min_messages = 1'000'000;
  std::chrono::milliseconds offsets_timeout{5'000};      // offsets-for-times request on assignment
  std::chrono::milliseconds statistics_interval{5'000};  // consumer lag comes from statistics
  std::chrono::milliseconds health_interval{5'000};
  std::chrono::milliseconds health_timeout{2'000};
  // Failover: a member that stops heartbeating loses its partitions after session_timeout.
  std::chrono::milliseconds session_timeout{6'000};     // session.timeout.ms
  std::chrono::milliseconds heartbeat_interval{1'500};  // heartbeat.interval.ms
  // group.instance.id (static membership); empty = dynamic. A static member that restarts within
  // session_timeout gets its partitions back without a rebalance of the group.
  std::string group_instance_id;
  // On stop(): a dynamic member always leaves the group (its partitions move at once). A static
  // member stays (the rolling-restart case) unless this is set (the scale-down case).
  bool leave_group_on_stop = false;
  // Dead-letter topic; empty = rejected records are only counted. A record the handler rejects
  // is produced there unchanged (key, value, timestamp, headers) plus the headers dlq_reason,
  // dlq_topic, dlq_partition, dlq_offset and dlq_schema_id (when the frame had one). Its source
  // offset is committed only after the copy is acknowledged, and a record below the group's
  // committed offset (a replay after a rebalance) is not copied again.
  std::string dlq_topic;
  std::chrono::milliseconds dlq_delivery_timeout{30'000};
  // Changelog topic; empty = none (the handler's restore and snapshot hooks are never called).
  // Created at the first assignment when missing: cleanup.policy=compact, the partition count and
  // replication factor of `topic`. Partition p holds what the handler's on_snapshot(p) returned,
  // keyed as it said, and one marker record (a key starting with a NUL byte) whose value is the
  // cut: the position of p when the snapshot was taken, written once every record of that
  // snapshot was acknowledged. At assignment the consumer reads each partition's changelog to its
  // end, calls on_restore(p, entries, cut) and starts p at the lowest of the TTL position, the
  // cut and what on_restore asked for; without a marker (or when the changelog cannot be read)
  // at the beginning, with floor 0.
  std::string changelog_topic;
  std::chrono::milliseconds snapshot_interval{5'000};  // how often on_snapshot is asked
  // A changelog record not acknowledged within this fails (the snapshot is then written again).
  std::chrono::milliseconds changelog_delivery_timeout{30'000};
  // At revocation (rebalance, shutdown) one last snapshot is written and waited for this long at
  // most; what is not acknowledged by then costs the next owner replay, never a wrong count.
  std::chrono::milliseconds final_snapshot_timeout{5'000};
  // Reading the changelogs of an assignment; past this the partitions not read to their end are
  // replayed from the beginning, with floor 0.
  std::chrono::milliseconds restore_timeout{120'000};
};

// Creates a consumer of `topic` in group `group_id`; it joins the group on start(). Committed
// offsets are not used as start positions (the TTL decides). Works with the eager assignors
// (range, the default, and roundrobin); refuses cooperative-sticky. Fails only on that or on
// properties librdkafka rejects. Thread-safe as transport::consumer says; start() at most once. The
// handler given to start() is called until stop() returns (the destructor stops), so it must
// outlive that.
util::result<std::unique_ptr<transport::consumer>> make_kafka_consumer(consumer_options options);

}  // namespace mca::transport::kafka
