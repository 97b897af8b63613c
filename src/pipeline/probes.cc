// The pipeline's self-metrics: ingest results, admission refusals and holdings, consume counts.
#include "pipeline/admission.h"
#include "pipeline/consume.h"
#include "pipeline/ingest.h"

namespace mca::pipeline {

using util::counter_family;
using util::gauge_family;

std::shared_ptr<util::probe> make_probe(const ingest& in) {
  return util::probe_from([&in](util::families& f) {
    const auto is = in.stats();
    f.push_back(counter_family("mca_ingest_metrics_total",
                               "Metrics received by the ingest route, by result",
                               {{{{"result", "accepted"}}, static_cast<double>(is.accepted)},
                                {{{"result", "rejected"}}, static_cast<double>(is.rejected)},
                                {{{"result", "failed"}}, static_cast<double>(is.failed)}}));
    f.push_back(
        counter_family("mca_ingest_timestamps_clamped_total",
                       "Accepted metrics whose future timestamp was set to the receive time",
                       static_cast<double>(is.clamped)));
  });
}

std::shared_ptr<util::probe> make_probe(const series_admission& admission) {
  return util::probe_from([&admission](util::families& f) {
    const auto as = admission.stats();
    f.push_back(counter_family(
        "mca_ingest_series_refused_total",
        "Metrics rejected in the answer because the store would not hold their series, by reason",
        util::by_enum<refusal>(
            "reason", 0, kRefusalKinds, [](refusal r) { return to_string(r); },
            [&](std::size_t i) { return as.refused[i]; })));
    f.push_back(gauge_family("mca_admission_series",
                             "Series the ingest side counts as held (written within the TTL)",
                             static_cast<double>(as.series)));
    f.push_back(gauge_family("mca_admission_series_bytes",
                             "Bytes counted for those series (MAX_SERIES_BYTES budget)",
                             static_cast<double>(as.bytes)));
  });
}

std::shared_ptr<util::probe> make_probe(const consume& c) {
  return util::probe_from([&c](util::families& f) {
    const auto cs = c.stats();
    f.push_back(counter_family("kafka_metrics_consumed_total", "Total metrics consumed from Kafka",
                               static_cast<double>(cs.consumed)));
    f.push_back(counter_family(
        "mca_consumer_decode_errors_total",
        "Records skipped because they could not be decoded, by reason",
        util::by_enum<decode_error>(
            "reason", 0, kDecodeErrorKinds, [](decode_error e) { return to_string(e); },
            [&](std::size_t i) { return cs.decode_errors[i]; })));
    f.push_back(counter_family(
        "mca_changelog_unreadable_states_total",
        "Changelog states that could not be read back (corrupt, truncated, unknown format, key "
        "mismatch): their partition was replayed from the beginning instead",
        static_cast<double>(cs.unreadable_states)));
  });
}

}  // namespace mca::pipeline
