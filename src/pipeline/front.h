// What the HTTP API sees of everything below it: ingest, an app's view, and readiness and health.
// The API's handlers use this and nothing else: this header includes nothing of the store, the
// registry or the transport, so the handlers can be tested against a fake and the layers below
// change without touching them. The service's front is built by make_front (service_front.h).
//
// Thread-safe: every call may come from any HTTP thread; none blocks.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/series.h"
#include "pipeline/batch.h"
#include "util/probe.h"

namespace mca::pipeline {

// One series as the app view lists it.
using series = model::series;

// The consumer side, as GET /api/v2/app/{app_id}/metrics reports it.
struct consumer_counters {
  std::uint64_t consumed = 0;
  std::uint64_t decode_errors = 0;
  std::uint64_t series = 0;
  std::uint64_t dropped_series = 0;
};

// The components behind the service, as /health lists them: one per registered probe that
// reports its health, in the order the app registered them.
using components = std::vector<util::component_health>;

// Ready to accept metrics: the transport takes writes and our schema has an id.
struct readiness {
  bool ready = false;
  std::string transport;  // the transport's status word
  bool schema_registered = false;
};

class front {
 public:
  virtual ~front() = default;
  // ingest::submit: `done` is called exactly once, possibly on a transport thread.
  virtual void submit(std::string_view app_id, batch b, submit_callback done) = 0;
  // The series `app_id` holds, in no particular order.
  virtual std::vector<series> app_series(std::string_view app_id) const = 0;
  virtual consumer_counters counters() const = 0;
  virtual components health() = 0;
  virtual readiness ready() = 0;
};

}  // namespace mca::pipeline
