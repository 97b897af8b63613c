// The service's own metrics, in a prometheus-cpp registry, plus an extension point for counters
// that other modules already keep (pipeline, transport, store) and that are read at scrape time.
//
// Thread-safe: prometheus-cpp families and the registry are; the collectable list has its own
// lock. A self_metrics object is created by app/ and shared by reference (it must outlive every
// handler that records into it).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

namespace mca::exposition {

class self_metrics {
 public:
  self_metrics();
  self_metrics(const self_metrics&) = delete;
  self_metrics& operator=(const self_metrics&) = delete;

  // Counts one HTTP request in mca_http_requests_total{route,method,status} and observes its
  // duration in mca_http_request_duration_seconds{route}. `route` must be the route template
  // ("/api/v2/app/{app_id}/metrics"), never the raw path, so label cardinality stays bounded.
  // The instruments of a (route, method, status) are looked up in the registry once and then
  // kept (up to request_cache_limit of them; later ones go to the registry every time), so a
  // request costs a shared lock, a hash and two atomic updates.
  void observe_request(std::string_view route, std::string_view method, int status,
                       std::chrono::duration<double> elapsed);

  // Adds a source of families evaluated at every render(), after the registry's own. The caller
  // keeps no obligation: the pointer is shared. Family names must be unique across sources and
  // must not start with "client_metric_" (that prefix belongs to the series store).
  void add_collectable(std::shared_ptr<prometheus::Collectable> collectable);

  // Appends everything in text format 0.0.4 (prometheus::TextSerializer).
  void render(std::string& out) const;

  // For instruments of other modules that fit the registry better than a collectable.
  prometheus::Registry& registry() { return *registry_; }

  // Buckets of mca_http_request_duration_seconds: 0.5 ms to 10 s.
  static const std::vector<double>& duration_buckets();

  // At most this many (route, method, status) entries are cached.
  static constexpr std::size_t request_cache_limit = 4096;
  std::size_t request_cache_size() const;

 private:
  struct request_key {
    std::string_view route;
    std::string_view method;
    int status;
    bool operator==(const request_key&) const = default;
  };
  struct request_key_hash {
    std::size_t operator()(const request_key& k) const;
  };
  struct request_instruments {
    prometheus::Counter* requests;
    prometheus::Histogram* duration;
  };
  // The cache's keys view strings it owns (held in cache_strings_, which never shrinks).
  request_instruments instruments_for(std::string_view route, std::string_view method, int status);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& durations_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;  // guarded by mu_
  mutable std::shared_mutex cache_mu_;
  std::unordered_map<request_key, request_instruments, request_key_hash> cache_;  // cache_mu_
  std::vector<std::unique_ptr<std::string>> cache_strings_;                       // cache_mu_
};

// A collectable whose families are computed by `collect` at every scrape. `collect` runs on the
// scraping thread and must be thread-safe itself (read atomics or take its own lock).
std::shared_ptr<prometheus::Collectable> make_collectable(
    std::function<std::vector<prometheus::MetricFamily>()> collect);

}  // namespace mca::exposition
