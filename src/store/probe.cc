// The store's self-metrics: series held and exposed, and what it dropped, expired or skipped.
#include "store/series_store.h"

namespace mca::store {

std::shared_ptr<util::probe> make_probe(const series_store& store) {
  return util::probe_from([&store](util::families& f) {
    using util::counter_family;
    using util::gauge_family;
    const auto ss = store.stats();
    f.push_back(gauge_family("mca_store_series", "Series held in the store",
                             static_cast<double>(ss.series)));
    f.push_back(counter_family(
        "mca_store_dropped_series_total", "New series dropped by a cardinality cap, by cap",
        {{{{"reason", "max_series"}}, static_cast<double>(ss.dropped_global)},
         {{{"reason", "max_series_per_app"}}, static_cast<double>(ss.dropped_app)}}));
    f.push_back(counter_family("mca_store_expired_series_total",
                               "Series removed after METRIC_TTL_SECONDS",
                               static_cast<double>(ss.expired)));
    f.push_back(counter_family("mca_store_stale_samples_total",
                               "Samples ignored because the series held a newer timestamp",
                               static_cast<double>(ss.stale)));
    f.push_back(gauge_family(
        "mca_store_exposed_series",
        "Prometheus series the held series expose (a histogram: its buckets + 3); the caps "
        "count these",
        static_cast<double>(ss.exposed)));
    f.push_back(counter_family(
        "mca_store_type_conflicts_total",
        "Records dropped because their series or metric family is held with another type",
        static_cast<double>(ss.type_conflicts)));
    f.push_back(counter_family(
        "mca_store_replayed_records_total",
        "Counter and histogram records skipped as already counted (below the series' offset)",
        static_cast<double>(ss.replayed)));
  });
}

}  // namespace mca::store
