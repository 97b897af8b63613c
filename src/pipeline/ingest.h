// The ingest path: validate and normalise each metric, encode it as a Confluent-framed Avro
// record with the registry's schema id (a gauge: v1, the seed's record; a counter or histogram:
// v2, with its `type`), produce the batch, and complete once the transport has
// acknowledged every accepted metric. Nothing is reported accepted that the log does not hold.
//
// Thread-safe: submit() is called concurrently from HTTP threads; it never blocks.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "model/metric.h"
#include "pipeline/admission.h"
#include "pipeline/batch.h"
#include "registry/registry.h"
#include "transport/transport.h"
#include "util/clock.h"
#include "util/probe.h"
#include "util/result.h"

namespace mca::pipeline {

struct ingest_stats {
  std::uint64_t accepted = 0;  // metrics acknowledged by the transport
  std::uint64_t rejected = 0;  // metrics refused by validation
  std::uint64_t failed = 0;    // metrics whose batch the transport refused or lost (503)
  std::uint64_t clamped = 0;   // accepted metrics whose future timestamp became the receive time
};

class ingest {
 public:
  // `admission`, when given (the service always gives one), decides per item whether the store
  // will hold its series; without it every valid metric is produced (unit tests of the codec
  // path).
  ingest(model::limits limits, registry::schema_registry& registry, transport::producer& producer,
         const util::clock& clock, series_admission* admission = nullptr);

  using callback = submit_callback;

  // Validates `b` (model::validate), sets future timestamps to the receive time
  // (model::clamp_to_receive_time), asks the admission which series the store will hold (the
  // others are rejected with field "series" or "name"), and when at least one metric is left
  // produces them; `done` is called exactly
  // once (possibly on a transport thread): with the outcome when every valid metric is delivered
  // (accepted == 0 means nothing was valid and nothing was produced), or with the transport's or
  // registry's error.
  void submit(std::string_view app_id, batch b, callback done);

  ingest_stats stats() const;

 private:
  const model::limits limits_;
  registry::schema_registry& registry_;
  transport::producer& producer_;
  const util::clock& clock_;
  series_admission* admission_;
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> clamped_{0};
  std::atomic<std::uint64_t> rejected_{0};
  std::atomic<std::uint64_t> failed_{0};
};

// mca_ingest_metrics_total{result} and mca_ingest_timestamps_clamped_total.
std::shared_ptr<util::probe> make_probe(const ingest& in);

}  // namespace mca::pipeline
