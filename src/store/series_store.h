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

#include "model/buckets.h"
#include "model/metric.h"
#include "model/series.h"
#include "util/clock.h"
#include "util/probe.h"

namespace mca::store {

struct store_limits {
  std::size_t max_series = 1'000'000;       // across all apps
  std::size_t max_series_per_app = 10'000;  // per app_id
  std::int64_t ttl_ms = 900'000;            // 0 = never expire
  // The bucket layout a new histogram series takes (by its name); it keeps it until it expires.
  model::bucket_layouts buckets;
};

// What a series counts against max_series and max_series_per_app: the Prometheus series it
// exposes. A gauge or counter is one; a histogram is one per bound plus +Inf, _sum and _count.
inline std::size_t exposed_series(model::metric_type type, std::size_t bounds) {
  return type == model::metric_type::histogram ? bounds + 3 : 1;
}

enum class apply_result {
  inserted,        // new series (or replaced one past its TTL that expire() had not swept yet)
  updated,         // newer (or equal) timestamp replaced the sample
  stale,           // older than the held sample: ignored (newest timestamp wins)
  dropped_global,  // new series over max_series: dropped and counted
  dropped_app,     // new series over max_series_per_app: dropped and counted
  type_conflict,   // the series or its exposition family is held with another type: dropped
  replayed,        // an aggregate record below the series' next offset (or the partition's
                   // floor): already counted, skipped
};

// One series as held: what the service lists (labels already sanitised and sorted by label
// name), and when and from which partition it was last written.
struct series : model::series {
  std::int64_t ingest_ms = 0;  // record timestamp of the last update (TTL runs from it)
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
  model::metric_type type = model::metric_type::gauge;
  // Aggregates, as in model::series (counter: value == sum). Views valid during the visit only.
  double sum = 0;
  std::uint64_t count = 0;
  std::span<const double> bounds;
  std::span<const std::uint64_t> buckets;  // non-cumulative, bounds.size() + 1
};

// One gauge series as render_walk() shows it: views valid during the visit only.
struct gauge_row {
  std::string_view exposition_name;  // the same view (same data pointer) for a whole family
  std::string_view app_id;           // interned: equal app ids are the same view
  std::string_view original_name;    // interned, as last written
  std::string_view label_text;       // what the walk's label_format wrote for the series' labels
  double value = 0;
};

// Writes the labels of a series (sanitised, sorted by label name) as a reader wants them kept
// pre-rendered. Must depend on the labels alone.
using label_format = void (*)(std::span<const label_view> labels, std::string& out);

// What render_walk() calls, in for_each_sorted()'s order.
class render_visitor {
 public:
  virtual void gauge(const gauge_row& row) = 0;
  virtual void series(const series_view& view) = 0;  // counters and histograms
 protected:
  ~render_visitor() = default;
};

// One sample of a batch for apply_batch(): the arguments of apply().
struct sample {
  std::string_view app_id;
  const model::metric* metric = nullptr;
  std::int32_t partition = 0;
  std::int64_t ingest_ms = 0;
  std::int64_t offset = -1;  // the record's offset in its partition; -1: none, always applied
};

// One counter or histogram series, as the changelog holds it.
struct aggregate_state {
  std::string app_id;
  model::metric metric;  // name, tags (original), profile_id, type, timestamp_ms; value unused
  std::int32_t partition = 0;
  std::int64_t ingest_ms = 0;          // last update (TTL runs from it)
  double sum = 0;                      // counter: the total; histogram: sum of observations
  std::uint64_t count = 0;             // histogram: observations (counter: records applied)
  std::vector<double> bounds;          // histogram: upper bounds (no +Inf); counter: empty
  std::vector<std::uint64_t> buckets;  // histogram: NON-cumulative, bounds.size() + 1 (last=+Inf)
  std::int64_t next_offset = 0;        // records of this series below this offset are included

  bool operator==(const aggregate_state&) const = default;
};

struct store_stats {
  std::size_t series = 0;   // held, including any past TTL that expire() has not swept yet
  std::size_t exposed = 0;  // the Prometheus series they expose (what the caps count)
  std::uint64_t dropped_global = 0;
  std::uint64_t dropped_app = 0;
  std::uint64_t stale = 0;
  std::uint64_t expired = 0;
  std::uint64_t type_conflicts = 0;  // records dropped: series or family held with another type
  std::uint64_t replayed = 0;        // aggregate records skipped as already counted (offsets)
};

class series_store {
 public:
  series_store(store_limits limits, const util::clock& clock);
  ~series_store();
  series_store(const series_store&) = delete;
  series_store& operator=(const series_store&) = delete;

  // Applies one sample. `ingest_ms` is the record timestamp; a record already older than the TTL
  // is still applied and expires at the next expire() call. Gauges: newest metric timestamp wins;
  // on equal timestamps the later apply() wins. Counters add `value` (a non-negative increment,
  // which the caller has checked); histograms count `value` as one observation in the first
  // bucket whose bound is >= it (NaN: +Inf). A new series over a cap is dropped (and counted); an
  // update of an existing series is always applied. A series or family held with another type
  // drops the sample (type_conflict). Tags whose keys sanitise to the same label (only possible
  // for records that skipped validate()) keep the first.
  //
  // `offset` (the record's offset in `partition`, -1 for none) makes aggregates exactly-once over
  // a replay: a record at offset x is applied only when x >= the series' next_offset (then
  // next_offset = x + 1), or, for a series the store does not hold, when x >= the partition's
  // floor (restore()). Skipped records return `replayed`. Gauges ignore offsets.
  apply_result apply(std::string_view app_id, const model::metric& m, std::int32_t partition,
                     std::int64_t ingest_ms, std::int64_t offset = -1);

  // Applies a batch (one consumer poll) under one lock hold and one clock read, in order: the
  // same results as calling apply() for each sample. `results` is empty or batch.size() long.
  void apply_batch(std::span<const sample> batch, std::span<apply_result> results = {});

  // Removes every series last written from `partition` (partition revoked), and the partition's
  // floor, dirty marks and expired keys, and shows it again if hidden.
  std::size_t drop_partition(std::int32_t partition);

  // Hides the series last written from `partition` from every read (render_walk,
  // for_each_sorted, app_series) until show_partition(): a partition being rebuilt at assignment,
  // whose restored and partly replayed series are behind what was shown before. Writes are
  // unaffected. A partition number outside 0..65535 is ignored.
  void hide_partition(std::int32_t partition);
  void show_partition(std::int32_t partition);

  // Removes series whose ingest_ms is older than now - ttl. Returns how many. No-op when ttl 0.
  // Expired aggregates are remembered for take_expired().
  std::size_t expire();

  // --- snapshots (the aggregate changelog) ---------------------------------------------------
  // The aggregates of `partition` changed since the last call (applied, restored ones excepted,
  // or marked by mark_all_dirty), with their next_offset; clears their dirty marks.
  std::vector<aggregate_state> take_dirty(std::int32_t partition);
  // model::series_key of the aggregates of `partition` that expired (were swept) since the last
  // call.
  std::vector<std::string> take_expired(std::int32_t partition);
  // Marks every aggregate of `partition` dirty (after a failed changelog write).
  void mark_all_dirty(std::int32_t partition);
  // Loads aggregates of `partition` (read back from the changelog) and sets its floor: a record
  // of a series the store does not hold is applied only from offset `floor` on. States past the
  // TTL, of type gauge, or malformed (bounds not a layout, buckets not bounds + 1) are skipped; a
  // state replaces a held series only when its next_offset is not lower. Caps apply as to new
  // series; restored states are not dirty.
  void restore(std::int32_t partition, std::span<const aggregate_state> states, std::int64_t floor);

  // Copies of one app's series, sorted by (exposition_name, labels). Expired series excluded.
  // Scans every series under the shared lock: O(all series).
  std::vector<series> app_series(std::string_view app_id) const;

  // Visits every live series in deterministic order: by exposition_name, then app_id, then labels.
  // All series of one exposition_name are visited consecutively (one metric family). The visitor
  // must not call back into the store and must not keep the views. Holds the shared lock for the
  // walk, so writers wait for it and readers do not: keep the visitor cheap. The first walk after
  // new series arrived sorts them into their family's run (O(new log new + family size)).
  void for_each_sorted(const std::function<void(const series_view&)>& visit) const;

  // for_each_sorted() for a renderer: the same series in the same order, but a gauge family is
  // shown as rows whose labels come pre-rendered by `format`. The store keeps that text per
  // family in exposition order beside the family's run (built at the first walk, merged when
  // series join or leave), so a walk reads it sequentially and touches only each series' slot
  // (value, TTL) at random. Counters and histograms are shown as series_views. Walks with
  // another `format` than the last one rebuild the text. Same locking as for_each_sorted().
  void render_walk(label_format format, render_visitor& visit) const;

  store_stats stats() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// mca_store_*: series held and exposed, dropped by a cap, expired, stale, type conflicts, replays.
std::shared_ptr<util::probe> make_probe(const series_store& store);

}  // namespace mca::store
