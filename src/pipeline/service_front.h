// The service's pipeline::front over its parts (for the app's wiring; the API sees front.h only).
#pragma once

#include <memory>

#include "pipeline/consume.h"
#include "pipeline/front.h"
#include "pipeline/ingest.h"
#include "registry/registry.h"
#include "store/series_store.h"
#include "transport/transport.h"
#include "util/probe.h"

namespace mca::pipeline {

// Ingest goes to `in`; the app view and its counters come from `store` and `c`; readiness from
// `producer` and `registry`; health from the probes in `probes` that report one (the app's one
// list of probes, complete before the first request). All of them must outlive the front.
std::unique_ptr<front> make_front(ingest& in, consume& c, store::series_store& store,
                                  registry::schema_registry& registry,
                                  transport::producer& producer, const util::probe_list& probes);

}  // namespace mca::pipeline
