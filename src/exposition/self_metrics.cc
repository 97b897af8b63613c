#include "exposition/self_metrics.h"

#include <sstream>

#include <prometheus/text_serializer.h>

namespace mca::exposition {
namespace {

class function_collectable final : public prometheus::Collectable {
 public:
  explicit function_collectable(std::function<std::vector<prometheus::MetricFamily>()> collect)
      : collect_(std::move(collect)) {}
  std::vector<prometheus::MetricFamily> Collect() const override { return collect_(); }

 private:
  std::function<std::vector<prometheus::MetricFamily>()> collect_;
};

}  // namespace

const std::vector<double>& self_metrics::duration_buckets() {
  static const std::vector<double> buckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                              0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return buckets;
}

self_metrics::self_metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("mca_http_requests_total")
                    .Help("HTTP requests served, by route template, method and status")
                    .Register(*registry_)),
      durations_(prometheus::BuildHistogram()
                     .Name("mca_http_request_duration_seconds")
                     .Help("Time from request read to response written, by route template")
                     .Register(*registry_)) {}

std::size_t self_metrics::request_key_hash::operator()(const request_key& k) const {
  const std::hash<std::string_view> h;
  std::size_t seed = h(k.route);
  seed ^= h(k.method) + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
  seed ^= static_cast<std::size_t>(k.status) + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
  return seed;
}

self_metrics::request_instruments self_metrics::instruments_for(std::string_view route,
                                                                std::string_view method,
                                                                int status) {
  const request_key key{route, method, status};
  {
    std::shared_lock lock(cache_mu_);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  }
  // prometheus-cpp keeps a metric at one address until it is removed (never, here).
  request_instruments found{&requests_.Add({{"route", std::string(route)},
                                            {"method", std::string(method)},
                                            {"status", std::to_string(status)}}),
                            &durations_.Add({{"route", std::string(route)}}, duration_buckets())};
  std::unique_lock lock(cache_mu_);
  if (cache_.size() >= request_cache_limit || cache_.count(key)) return found;
  auto own = [this](std::string_view s) {
    return std::string_view(*cache_strings_.emplace_back(std::make_unique<std::string>(s)));
  };
  cache_.emplace(request_key{own(route), own(method), status}, found);
  return found;
}

void self_metrics::observe_request(std::string_view route, std::string_view method, int status,
                                   std::chrono::duration<double> elapsed) {
  const auto in = instruments_for(route, method, status);
  in.requests->Increment();
  in.duration->Observe(elapsed.count());
}

std::size_t self_metrics::request_cache_size() const {
  std::shared_lock lock(cache_mu_);
  return cache_.size();
}

void self_metrics::add_collectable(std::shared_ptr<prometheus::Collectable> collectable) {
  std::lock_guard lock(mu_);
  collectables_.push_back(std::move(collectable));
}

void self_metrics::render(std::string& out) const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  std::vector<std::shared_ptr<prometheus::Collectable>> sources;
  {
    // Collect outside the lock: a slow source must not block add_collectable().
    std::lock_guard lock(mu_);
    sources = collectables_;
  }
  for (const auto& source : sources) {
    auto more = source->Collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
  }
  std::ostringstream text;
  prometheus::TextSerializer().Serialize(text, families);
  out.append(std::move(text).str());
}

std::shared_ptr<prometheus::Collectable> make_collectable(
    std::function<std::vector<prometheus::MetricFamily>()> collect) {
  return std::make_shared<function_collectable>(std::move(collect));
}

}  // namespace mca::exposition
