// The seam between the pipeline and a message log. Two implementations: transport/embedded (a
// bounded in-process log, the default on a bare machine) and transport/kafka (librdkafka). The
// handlers and the pipeline only see these interfaces, so Kafka slots in without touching them.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "util/health.h"
#include "util/probe.h"
#include "util/result.h"

namespace mca::transport {

enum class errc {
  queue_full = 1,   // local queue is full: back-pressure, retry later (503 + Retry-After)
  delivery_failed,  // the log refused or lost the message (503)
  timed_out,        // not acknowledged within the delivery deadline (503)
  unavailable,      // not connected / not started / shutting down (503)
};
const std::error_category& category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), category()}; }

// One record to produce. `value` is the Confluent-framed Avro body; `app_id` travels as header.
struct message {
  std::string key;
  std::string value;
  std::string app_id;
  std::int64_t timestamp_ms = 0;  // record timestamp (receive time)
};

// Called exactly once per send(): success only when *every* message of the batch is durably
// stored by the log (for Kafka: a successful delivery report for each, acks=all); otherwise the
// first error.
//
// Threading: it runs either on a transport thread (Kafka: the producer's poll thread, or the
// thread of whoever watches completion_fd(), in serve_completions(); never inside send()) or on
// the caller's thread before send() returns (the embedded log, whose append is the
// acknowledgement: no thread hop on the one-metric path). A caller must be correct both ways: it
// must not hold a lock send()'s callback takes, and the callback must not block.
using delivery_callback = std::function<void(util::result<void>)>;

struct producer_stats {
  std::uint64_t sent = 0;        // messages acknowledged by the log
  std::uint64_t failed = 0;      // messages whose delivery failed
  std::uint64_t queue_full = 0;  // sends refused for back-pressure
  std::int64_t queue_depth = 0;  // messages waiting for acknowledgement
  std::int64_t queue_capacity = 0;
  // From the Kafka client's periodic statistics (0 for the embedded log): mean broker
  // round-trip time and request transmit/receive errors since start.
  double broker_rtt_ms = 0;
  std::uint64_t broker_errors = 0;
};

// Thread-safe.
class producer {
 public:
  virtual ~producer() = default;
  // Hands a batch to the log. Never blocks the caller. An empty batch completes at once.
  virtual void send(std::vector<message> batch, delivery_callback done) = 0;
  // `n` empty messages for the next send(). A producer that keeps the records it was sent (the
  // embedded log) hands back the strings of records it is done with, emptied but with their
  // capacity, so a caller that writes into them (assign, append) allocates nothing when the new
  // bytes fit. Each string is empty whatever it held before; the timestamp is 0. The default
  // makes `n` new ones.
  virtual std::vector<message> spare_messages(std::size_t n) { return std::vector<message>(n); }
  // Waits up to `deadline` for outstanding messages; returns how many are still not delivered.
  virtual std::size_t flush(std::chrono::milliseconds deadline) = 0;
  virtual producer_stats stats() const = 0;
  virtual util::health health() = 0;

  // Completions served by the caller's event loop (optional). A producer whose acknowledgements
  // arrive on another thread may offer a descriptor that turns readable when completions wait.
  // Once completion_fd() was called the producer stops waiting for them on its own thread (it
  // only serves leftovers every 100 ms, e.g. after the loop stopped, and flush() serves the
  // rest); the caller reads the descriptor when readable (an eventfd: 8 bytes) and then calls
  // serve_completions(), which runs the ready delivery callbacks on the caller's thread. This
  // spares one thread hand-off per send on the way back. -1: not offered (the callbacks run on
  // the producer's own thread, or inline as the embedded log's do).
  virtual int completion_fd() { return -1; }
  virtual void serve_completions() {}
};

// One consumed record. Views are valid only during the on_record call.
struct record {
  std::string_view key;
  std::string_view value;
  std::string_view app_id;  // from the `app_id` header; empty when the record has none
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::int64_t timestamp_ms = 0;
};

// Why a record was not applied. A consumer with a dead-letter topic copies such a record there,
// with these as headers.
struct rejection {
  std::string_view reason;      // a short word with static lifetime, e.g. "bad_magic"
  std::int32_t schema_id = -1;  // the writer schema id of the frame; -1 when it has none
};

// One entry of a partition's changelog as read back at assignment: the newest value of a key
// (keys whose newest record is a tombstone are left out). Views valid during on_restore only.
struct changelog_entry {
  std::string_view key;
  std::string_view value;
};

// One record for a partition's changelog, as on_snapshot returns it.
struct changelog_write {
  std::string key;
  std::optional<std::string> value;  // nullopt: a tombstone (the key's state is gone)
};

// What on_restore asks of the consumer.
struct restore_result {
  // The lowest offset of the partition whose record the handler needs replayed; -1 when it needs
  // none beyond what the consumer replays anyway (the TTL position and the floor it was given).
  std::int64_t replay_from = -1;
};

// Receives what a consumer reads. Called from the consumer's own thread, one call at a time.
//
// The restore and snapshot hooks serve state that must survive the process (aggregates): a
// consumer of a durable log (Kafka) keeps one changelog partition per source partition, calls
// on_snapshot periodically and on_restore at assignment. A log that restarts empty with the
// process (the embedded one) never calls them: there is nothing to restore from. The defaults
// hold no state.
class consumer_handler {
 public:
  virtual ~consumer_handler() = default;
  // Applies one record; returns why when it could not (it is then skipped, never retried).
  virtual std::optional<rejection> on_record(const record& r) = 0;
  // Applies the records one poll returned, in log order (views valid during the call only), and
  // sets rejected[i] to why rs[i] could not be applied (left empty when it was applied);
  // `rejected` is rs.size() long and empty on entry. The default calls on_record() for each; a
  // handler may apply them together (the store takes a poll under one lock hold). When it
  // returns, every record of `rs` is applied or rejected: the consumer may commit past them.
  virtual void on_records(std::span<const record> rs,
                          std::span<std::optional<rejection>> rejected) {
    for (std::size_t i = 0; i < rs.size(); ++i) rejected[i] = on_record(rs[i]);
  }
  virtual void on_assigned(std::span<const std::int32_t> partitions) = 0;
  // After this returns, the records of these partitions belong to another consumer.
  virtual void on_revoked(std::span<const std::int32_t> partitions) = 0;

  // At assignment, before `partition` is positioned and before on_assigned: the entries of its
  // changelog and the floor, the offset below which every record of a key absent from `entries`
  // is already accounted for (the cut of the last complete snapshot; 0 when there is none, or the
  // changelog could not be read completely: then every record is replayed from the beginning).
  virtual restore_result on_restore(std::int32_t partition,
                                    std::span<const changelog_entry> entries, std::int64_t floor) {
    (void)partition, (void)entries, (void)floor;
    return {};
  }
  // Periodically, for each assigned partition: what changed since the last call, to be written
  // to the partition's changelog. Everything the records below the consumer's current position
  // of `partition` did must be in what this and earlier calls returned.
  virtual std::vector<changelog_write> on_snapshot(std::int32_t partition) {
    (void)partition;
    return {};
  }
  // A write of what on_snapshot returned failed: the next on_snapshot must return every state of
  // the partition again.
  virtual void on_snapshot_failed(std::int32_t partition) { (void)partition; }

  // A partition being rebuilt at assignment. From on_rebuilding (first thing at assignment,
  // before on_restore) until on_rebuilt, what the handler holds of the partition is a restored
  // snapshot plus part of the replay: behind what its previous owner already showed, so a
  // counter shown then would go down. on_rebuilt(p) comes once p was read up to where it ended
  // at assignment, or at once when there was nothing to replay or its end could not be read; a
  // partition revoked before that gets on_revoked instead. A log that restarts empty with the
  // process has nothing to rebuild and never calls them.
  virtual void on_rebuilding(std::span<const std::int32_t> partitions) { (void)partitions; }
  virtual void on_rebuilt(std::int32_t partition) { (void)partition; }
};

struct consumer_stats {
  std::uint64_t records = 0;  // records read from the log
  std::int64_t lag = 0;       // records behind the end of the log (sum over partitions)
  std::uint64_t errors = 0;   // read errors reported by the log (logged, then skipped)
  // Rejected records copied to the dead-letter topic, and copies that failed (Kafka only).
  std::uint64_t dead_lettered = 0;
  std::uint64_t dead_letter_failed = 0;
  // The changelog (Kafka only): records written (states, tombstones, markers) and writes that
  // failed; entries read back at assignment and how long the last restore took.
  std::uint64_t changelog_written = 0;
  std::uint64_t changelog_failed = 0;
  std::uint64_t changelog_restored = 0;
  double last_restore_seconds = 0;
  std::vector<std::int32_t> assigned;
};

// Thread-safe start/stop; runs its own thread between them.
class consumer {
 public:
  virtual ~consumer() = default;
  virtual void start(consumer_handler& handler) = 0;
  virtual void stop() = 0;
  virtual consumer_stats stats() const = 0;
  virtual util::health health() = 0;
};

// Every implementation's self-metrics: mca_transport_* for a producer; mca_consumer_*,
// mca_changelog_records_total, mca_changelog_restored_total and
// mca_changelog_last_restore_seconds for a consumer. Each probe reports its health too: the
// producer's as /health's "transport", the consumer's as "consumer".
std::shared_ptr<util::probe> make_probe(producer& p);
std::shared_ptr<util::probe> make_probe(consumer& c);

}  // namespace mca::transport

template <>
struct std::is_error_code_enum<mca::transport::errc> : std::true_type {};
