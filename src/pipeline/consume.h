// The consume path: a transport::consumer_handler that unframes each record, decodes it with the
// writer schema its id names (the fast decoder for our own two schemas: v1 is a gauge, v2 carries
// its type; avro-c schema resolution against v2 for any other), and applies it to the store. A
// record that cannot be decoded is counted by reason, returned as a rejection (the transport may
// dead-letter it) and skipped: it never stalls or stops the consumer.
//
// on_record(s)/on_assigned/on_revoked run on the consumer thread; stats() from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "avro/metric_codec.h"
#include "registry/registry.h"
#include "store/series_store.h"
#include "transport/transport.h"
#include "util/clock.h"
#include "util/probe.h"

namespace mca::pipeline {

// Why a record was skipped.
enum class decode_error {
  bad_magic,          // not the Confluent framing
  truncated,          // shorter than a frame, or the body ends early
  corrupt,            // malformed Avro body
  unknown_schema,     // the registry does not know the id (or is unreachable)
  resolution_failed,  // writer schema cannot be read as Metric
  invalid,            // decoded, but not a usable metric (empty name, a type we do not know)
};
inline constexpr std::size_t kDecodeErrorKinds = 6;
std::string_view to_string(decode_error e);

struct consume_stats {
  std::uint64_t consumed = 0;  // records applied to the store (kafka_metrics_consumed_total)
  // Aggregate states read back from the changelog at assignment: restored, and rejected as
  // unreadable (their series are then rebuilt from the partition's records).
  std::uint64_t restored_states = 0;
  std::uint64_t unreadable_states = 0;
  std::array<std::uint64_t, kDecodeErrorKinds> decode_errors{};
  std::uint64_t decode_errors_total() const;
};

// The app_id of records that carry no `app_id` header (written by other producers).
inline constexpr std::string_view kUnknownApp = "unknown";

// The changelog hooks (consume_restore.cc, src/pipeline/README.md) keep the store's counters and
// histograms across restarts and failovers; `aggregate_ttl_ms` (METRIC_TTL_SECONDS; 0 = never)
// tells which restored states are still live.
class consume final : public transport::consumer_handler {
 public:
  // `v1` and `v2`: our two versions of the Metric record (they must outlive this object).
  consume(const avro::schema& v1, const avro::schema& v2, registry::schema_registry& registry,
          store::series_store& store, std::int64_t aggregate_ttl_ms = 0,
          const util::clock& clock = util::real_clock());

  std::optional<transport::rejection> on_record(const transport::record& r) override;
  // Decodes the poll, then applies it to the store as one series_store::apply_batch().
  void on_records(std::span<const transport::record> rs,
                  std::span<std::optional<transport::rejection>> rejected) override;
  void on_assigned(std::span<const std::int32_t> partitions) override;
  // A partition being rebuilt is hidden from the reads (series_store::hide_partition) until it
  // was read to its end: a restored counter is never shown lower than before the takeover.
  void on_rebuilding(std::span<const std::int32_t> partitions) override;
  void on_rebuilt(std::int32_t partition) override;
  void on_revoked(std::span<const std::int32_t> partitions) override;
  transport::restore_result on_restore(std::int32_t partition,
                                       std::span<const transport::changelog_entry> entries,
                                       std::int64_t floor) override;
  std::vector<transport::changelog_write> on_snapshot(std::int32_t partition) override;
  void on_snapshot_failed(std::int32_t partition) override;

  consume_stats stats() const;

  // What on_record() reads from a record's value (consumer thread only, counts nothing): the
  // metric (v1: a gauge; v2 or resolved: its `type`), or why it cannot be applied. `schema_id` is
  // the frame's id, -1 when there is no frame.
  std::optional<decode_error> decode(std::string_view value, model::metric& out,
                                     std::int32_t& schema_id);

 private:
  // How to read records of one writer schema id.
  struct reader {
    std::optional<avro::wire_schema> fast;  // one of ours (id or text): the fast decoder
    std::optional<avro::resolving_decoder> resolver;
    std::optional<decode_error> failure;  // the id cannot be read
  };
  const reader& reader_for(avro::schema_id id);
  // Decodes and normalises one record into `m`; counts and returns why when it cannot.
  std::optional<transport::rejection> prepare(const transport::record& r, model::metric& m);
  static std::string_view app_of(const transport::record& r) {
    return r.app_id.empty() ? kUnknownApp : r.app_id;
  }
  void count(decode_error e);

  const avro::schema& v1_;
  const avro::schema& v2_;
  registry::schema_registry& registry_;
  store::series_store& store_;
  std::map<std::int32_t, reader> readers_;  // consumer thread only
  // on_records' decoded metrics and the samples pointing into them; consumer thread only, kept
  // between polls so their capacity is reused.
  std::vector<model::metric> metrics_;
  std::vector<store::sample> samples_;
  std::int64_t aggregate_ttl_ms_ = 0;
  const util::clock* clock_;
  std::atomic<std::uint64_t> consumed_{0};
  std::atomic<std::uint64_t> restored_states_{0};
  std::atomic<std::uint64_t> unreadable_states_{0};
  std::array<std::atomic<std::uint64_t>, kDecodeErrorKinds> errors_{};
};

// kafka_metrics_consumed_total (the seed's name), mca_consumer_decode_errors_total{reason},
// mca_changelog_unreadable_states_total.
std::shared_ptr<util::probe> make_probe(const consume& c);

}  // namespace mca::pipeline
