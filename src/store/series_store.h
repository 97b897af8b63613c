// The in-memory series store the consumer fills and the exposition reads.
//
// Thread-safe: one reader/writer lock. apply()/apply_batch() (the consumer thread), expire() and
// drop_partition() take it exclusively; reads (for_each_sorted, app_series) share it; stats()
// takes no lock. Memory is bounded by max_series (see README.md for the bytes per series).
//
// Identity is model::series_key (app_id, exposition name, sanitised sorted labels): names or tag
// keys that sanitise alike are one series. A series is found first by a hash of the spelling it
// was last written with (no sanitising on the update path); only a spelling not seen before is
// sanitised. Names, app ids, profile ids, label names and whole tag sets are interned; series
// live in a slab and are indexed by an open-addressing table. The exposition order is kept per
// metric family as a sorted run that new series join at the next read.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/metric.h"
#include "util/clock.h"

namespace mca::store {

struct store_limits {
  std::size_t max_series = 1'000'000;       // across all apps
  std::size_t max_series_per_app = 10'000;  // per app_id
  std::int64_t ttl_ms = 900'000;            // 0 = never expire
};

enum class apply_result {
  inserted,        // new series (or replaced one past its TTL that expire() had not swept yet)
  updated,         // newer (or equal) timestamp replaced the sample
  stale,           // older than the held sample: ignored (newest timestamp wins)
  dropped_global,  // new series over max_series: dropped and counted
  dropped_app,     // new series over max_series_per_app: dropped and counted
};

// One series as held: labels already sanitised and sorted by label name.
struct series {
  std::string app_id;
  std::string exposition_name;     // client_metric_<sanitised>
  std::string original_name;       // as the client sent it (HELP text, JSON API)
  std::vector<model::tag> labels;  // (label_name, value), sorted by label_name
  std::vector<model::tag> tags;    // original tags as received (JSON API)
  double value = 0;
  std::int64_t timestamp_ms = 0;  // the metric's own timestamp
  std::int64_t ingest_ms = 0;     // record timestamp of the last update (TTL runs from it)
  std::string profile_id;
  std::int32_t partition = 0;
};

// A label as the exposition sees it: (label name, value), views into the store.
using label_view = std::pair<std::string_view, std::string_view>;

// One series as for_each_sorted() shows it: views into the store, valid during the visit only.
struct series_view {
  std::string_view app_id;
  std::string_view exposition_name;    // client_metric_<sanitised>
  std::string_view original_name;      // as last written
  std::span<const label_view> labels;  // sanitised, sorted by label name
  double value = 0;
  std::int64_t timestamp_ms = 0;
  std::int64_t ingest_ms = 0;
  std::string_view profile_id;
  std::int32_t partition = 0;
};

// One sample of a batch for apply_batch(): the arguments of apply().
struct sample {
  std::string_view app_id;
  const model::metric* metric = nullptr;
  std::int32_t partition = 0;
  std::int64_t ingest_ms = 0;
};

struct store_stats {
  std::size_t series = 0;  // held, including any past TTL that expire() has not swept yet
  std::uint64_t dropped_global = 0;
  std::uint64_t dropped_app = 0;
  std::uint64_t stale = 0;
  std::uint64_t expired = 0;
};

class series_store {
 public:
  series_store(store_limits limits, const util::clock& clock);
  ~series_store();
  series_store(const series_store&) = delete;
  series_store& operator=(const series_store&) = delete;

  // Applies one sample. `ingest_ms` is the record timestamp; a record already older than the TTL
  // is still applied and expires at the next expire() call. Newest metric timestamp wins; on equal
  // timestamps the later apply() wins. A new series over a cap is dropped (and counted); an update
  // of an existing series is always applied. Tags whose keys sanitise to the same label (only
  // possible for records that skipped validate()) keep the first.
  apply_result apply(std::string_view app_id, const model::metric& m, std::int32_t partition,
                     std::int64_t ingest_ms);

  // Applies a batch (one consumer poll) under one lock hold and one clock read, in order: the
  // same results as calling apply() for each sample. `results` is empty or batch.size() long.
  void apply_batch(std::span<const sample> batch, std::span<apply_result> results = {});

  // Removes every series last written from `partition` (partition revoked).
  std::size_t drop_partition(std::int32_t partition);

  // Removes series whose ingest_ms is older than now - ttl. Returns how many. No-op when ttl 0.
  std::size_t expire();

  // Copies of one app's series, sorted by (exposition_name, labels). Expired series excluded.
  // Scans every series under the shared lock: O(all series).
  std::vector<series> app_series(std::string_view app_id) const;

  // Visits every live series in deterministic order: by exposition_name, then app_id, then labels.
  // All series of one exposition_name are visited consecutively (one metric family). The visitor
  // must not call back into the store and must not keep the views. Holds the shared lock for the
  // walk, so writers wait for it and readers do not: keep the visitor cheap. The first walk after
  // new series arrived sorts them into their family's run (O(new log new + family size)).
  void for_each_sorted(const std::function<void(const series_view&)>& visit) const;

  store_stats stats() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace mca::store
