// The service's routes: one handler per route, each a function from request to response that
// calls the pipeline's front (pipeline/front.h: ingest, app view, readiness) or renders the
// exposition page. The route table is also what --list-routes
// prints and what the OpenAPI route test compares with api/openapi.yaml.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "api/access.h"
#include "http/server.h"
#include "model/metric.h"
#include "pipeline/front.h"
#include "util/clock.h"

namespace mca::api {

// What the routes take from the settings (MAX_BATCH_METRICS, RETRY_AFTER_SECONDS,
// ALLOWED_APP_IDS): the config tree's `routes` section, so these are the settings' defaults.
struct route_options {
  std::size_t max_batch_metrics = 1000;  // most metrics in one POST (more: 413)
  std::chrono::seconds retry_after{1};   // Retry-After on 503
  // The apps this service takes; empty = any valid app_id. Others get 404.
  std::vector<std::string> allowed_app_ids;
};

// What the handlers use: the route options, and what the app owns and keeps alive until the
// server has stopped.
struct services : route_options {
  pipeline::front& pipeline;
  const util::clock& clock;
  // Appends the whole Prometheus text (client series, then self-metrics).
  std::function<void(std::string&)> render_metrics;
  // Keys and rate limits; null = every route open and unlimited.
  access_control* access = nullptr;
};

// GET /api/v2/app/{app_id}/metrics pages: at most this many series per page (and the default).
inline constexpr std::size_t kMaxPageSeries = 1000;

// Registers every API route (not the docs routes: see docs_routes.h), each behind
// s.access (when set) with its route_access.
void add_routes(http::router& r, services& s);

}  // namespace mca::api
