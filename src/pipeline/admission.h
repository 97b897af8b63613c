// Series admission at ingest: what this instance knows about the series the store will hold, so a
// metric whose series would be refused (per-app or service-wide cap or byte budget) or whose name
// would merge with another name of the same app is rejected *in the answer*, with its index,
// field and reason, instead of being accepted and silently dropped by the store later.
//
// The record: per app, every series key admitted within the TTL (a 64-bit hash of
// model::series_key, its weight and when it was last written) and every exposition name with the
// original name that holds it. A series is forgotten `ttl + grace` after its last write: later
// than the store expires it (the store's TTL runs from the same receive time, and its sweep runs
// once a second), so the record always counts at least what the store holds and an admitted
// series is never one the store drops.
//
// A batch's new series are *pending* until the transport answers: settle(delivered=true) keeps
// them, settle(false) (503) gives their budget back, unless another batch wrote the same series
// meanwhile. An updated series (already known) costs nothing and is always admitted.
//
// On the embedded transport this instance is the only writer: the answer is exact. On Kafka with
// N replicas, each instance counts the series *it* admitted: with sticky routing by app_id (all of
// an app's writes reach one instance) the answer is exact too; with round-robin routing each
// instance admits up to the caps on its own, so an app can reach N x MAX_SERIES_PER_APP series
// cluster-wide and a consumer's store may still drop (counted in
// mca_store_dropped_series_total). README "Honest answers" spells this out.
//
// Types: one Prometheus family has one type (model::metric_type). A metric is refused with field
// "type" when a name it would use is written with another type within the TTL, by this app or
// (the exposition merges apps into one family per name) by another app on this instance. The
// names a metric uses: its exposition name itself (the series identity, whatever the type), and
// the names it is exposed under: a gauge `client_metric_<n>`, a counter `client_metric_<n>_total`,
// a histogram `client_metric_<n>` with `_bucket`, `_sum`, `_count`. So gauge `x` vs counter `x`,
// gauge `x_total` vs counter `x`, gauge `x_sum` vs histogram `x`, histogram `x_total` vs counter
// `x` collide; counter `x_sum` vs histogram `x` do not. Like names, these claims are pending until
// settle() and forgotten ttl + grace after their last write. With replicas, another instance's
// claims are not seen here (as with the caps, see above).
//
// Weight of a series (bytes counted against MAX_SERIES_BYTES_PER_APP and MAX_SERIES_BYTES): the
// series key (app id, exposition name, label names and values), plus the original name and tags,
// plus the largest profileId the limits allow, plus kSeriesOverheadBytes for the store's nodes and
// indexes. It is an estimate of what the store holds per series, deliberately on the high side.
//
// Thread-safe: one mutex; admit() takes it once per batch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/buckets.h"
#include "model/metric.h"
#include "store/series_store.h"
#include "util/probe.h"

namespace mca::pipeline {

struct admission_limits {
  // The store's caps, TTL and bucket layouts (MAX_SERIES, MAX_SERIES_PER_APP: 0 = no cap;
  // METRIC_TTL_SECONDS: 0 = never forget): what the store will hold is what is admitted.
  store::store_limits store;
  std::size_t max_app_bytes = 0;    // MAX_SERIES_BYTES_PER_APP (0 = no budget)
  std::size_t max_total_bytes = 0;  // MAX_SERIES_BYTES, all apps (0 = no budget)
  // Counted in every series' weight.
  std::size_t max_profile_id_bytes = model::limits{}.max_profile_id_bytes;
  std::int64_t grace_ms = 5'000;  // kept this much longer than the store keeps it
};

// Bytes counted per series on top of its strings: the store's set node, hash index entry, vectors.
inline constexpr std::size_t kSeriesOverheadBytes = 512;

// Why a metric was not admitted.
enum class refusal {
  app_series,      // the app holds MAX_SERIES_PER_APP series
  global_series,   // the service holds MAX_SERIES series
  app_bytes,       // the app's series would weigh more than MAX_SERIES_BYTES_PER_APP
  global_bytes,    // all series would weigh more than MAX_SERIES_BYTES
  name_collision,  // another original name of the app has the same exposition name
  type_conflict,   // a name the metric uses is written with another type (this app or another)
};
inline constexpr std::size_t kRefusalKinds = 6;
std::string_view to_string(refusal r);

struct admission_stats {
  std::size_t apps = 0;
  std::size_t series = 0;   // admitted and not yet forgotten, pending included
  std::size_t exposed = 0;  // the Prometheus series they expose (what the series caps count)
  std::size_t bytes = 0;    // their weight
  std::uint64_t refused[kRefusalKinds] = {};
};

class series_admission {
 public:
  explicit series_admission(admission_limits limits);
  ~series_admission();
  series_admission(const series_admission&) = delete;
  series_admission& operator=(const series_admission&) = delete;

  static constexpr std::size_t kUngrouped = static_cast<std::size_t>(-1);

  // One item of a batch: its index in the request and the validated, normalised metric.
  struct candidate {
    std::size_t index;
    const model::metric* m;
    std::string_view key;  // model::series_key(app_id, *m)
    // model::exposition_name(m->name) when the caller has it already; empty: admit() makes it.
    std::string_view exposition = {};
    // The index (in the items given to admit()) of the first item with the same name
    // (model::first_with_same_name), when the caller has grouped the batch by name already.
    // admit() checks the grouping (each item's head is at or before it, is its own head and has
    // its name) and groups the items itself when any item is kUngrouped or fails the check.
    std::size_t same_name = kUngrouped;
  };

  // What admit() decided: `refused` lists the rejected items (index, field, reason); the rest are
  // admitted. Hand the ticket back to settle() exactly once.
  //
  // A batch holds each name and claim it writes once, however many of its items use it (a
  // batch of 100 metrics with 10 names writes 10 names): `pending` counts batches, not items.
  struct ticket {
    std::string app_id;
    // The entries (ids in the app's series record) this batch wrote, pending until settle: the
    // pending count keeps them in place, so settle() needs no look-up.
    std::vector<std::uint32_t> series;
    std::vector<std::string> names;   // exposition names this batch wrote (pending until settle)
    std::vector<std::string> claims;  // type claims this batch wrote (pending until settle)
    std::vector<model::field_error> refused;
    std::vector<bool> admitted;  // per candidate, in order
  };

  ticket admit(std::string_view app_id, std::span<const candidate> items, std::int64_t now_ms);

  // The transport's answer for the ticket's batch: delivered keeps its new series; otherwise they
  // are forgotten unless another batch has written them since.
  void settle(ticket& t, bool delivered);

  // Forgets series and names not written for ttl + grace. Cheap to call often (once a second).
  void expire(std::int64_t now_ms);

  // The weight counted for a series (see above).
  std::size_t weight(std::string_view key, const model::metric& m) const;

  admission_stats stats() const;

 private:
  struct impl;
  struct checks;  // the checks of admit(), one function each
  std::unique_ptr<impl> impl_;
};

// mca_ingest_series_refused_total{reason}, mca_admission_series, mca_admission_series_bytes.
std::shared_ptr<util::probe> make_probe(const series_admission& admission);

}  // namespace mca::pipeline
