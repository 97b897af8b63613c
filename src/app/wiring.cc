#include "app/wiring.h"

#include <condition_variable>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>
#include <boost/beast/http/verb.hpp>

#include "api/access.h"
#include "api/docs_routes.h"
#include "api/routes.h"
#include "auth/client_address.h"
#include "auth/key_store.h"
#include "avro/metric_codec.h"
#include "config/kafka_properties.h"
#include "exposition/page.h"
#include "exposition/process_metrics.h"
#include "http/server.h"
#include "pipeline/consume.h"
#include "pipeline/ingest.h"
#include "pipeline/service_front.h"
#include "registry/confluent.h"
#include "registry/registry.h"
#include "store/series_store.h"
#include "transport/embedded/embedded_log.h"
#include "transport/kafka/kafka_transport.h"
#include "util/secret.h"

namespace mca::app {
namespace {

// Loopback: 127.0.0.0/8, ::1, or the name localhost.
bool is_loopback_host(const std::string& host) {
  if (host == "localhost") return true;
  auto a = auth::parse_address(host);
  return a && a->is_loopback();
}

class service final : public application {
 public:
  service(const config::config& cfg, avro::schema schema, avro::schema schema_v2)
      : cfg_(cfg),
        schema_(std::move(schema)),
        schema_v2_(std::move(schema_v2)),
        store_(cfg.store, util::real_clock()),
        admission_({.store = cfg.store,
                    .max_app_bytes = cfg.store.max_series_bytes_per_app,
                    .max_total_bytes = cfg.store.max_series_bytes,
                    .max_profile_id_bytes = cfg.ingest.max_profile_id_bytes}) {}

  util::result<void> init() {
    if (auto r = init_access(); !r) return r;
    if (cfg_.embedded_registry()) {
      registry_ = registry::make_embedded(schema_, schema_v2_);
    } else {
      auto r = registry::make_confluent(config::registry_options(cfg_, schema_, schema_v2_));
      if (!r) return r.error();
      registry_ = std::move(*r);
    }

    if (cfg_.embedded_transport()) {
      auto pair = transport::embedded::make_embedded_transport(cfg_.embedded.log_capacity);
      producer_ = std::move(pair.prod);
      consumer_ = std::move(pair.cons);
      spdlog::info("transport: embedded in-process log (capacity {} records)",
                   cfg_.embedded.log_capacity);
    } else {
      auto clients = config::make_kafka_clients(cfg_);
      if (!clients)
        return util::error(std::make_error_code(std::errc::invalid_argument),
                           clients.error().message);
      for (const auto& line : config::describe_properties(clients->producer.properties))
        spdlog::debug("kafka: {}", line);
      auto p = transport::kafka::make_kafka_producer(std::move(clients->producer));
      if (!p) return p.error();
      producer_ = std::move(*p);
      auto c = transport::kafka::make_kafka_consumer(std::move(clients->consumer));
      if (!c) return c.error();
      consumer_ = std::move(*c);
      const auto& k = cfg_.kafka.consumer;
      spdlog::info("transport: kafka {} topic {} group {}{}{}",
                   util::mask_url_userinfo(cfg_.kafka.bootstrap_servers), cfg_.kafka.topic,
                   k.group_id,
                   k.group_instance_id.empty() ? std::string() : " instance " + k.group_instance_id,
                   k.dlq_topic.empty() ? std::string() : " dead-letter topic " + k.dlq_topic);
      spdlog::info("aggregates: snapshots every {} ms to changelog {}", k.snapshot_interval.count(),
                   k.changelog_topic);
    }

    ingest_.emplace(cfg_.ingest, *registry_, *producer_, util::real_clock(), &admission_);
    consume_.emplace(schema_, schema_v2_, *registry_, store_, cfg_.store.ttl_ms);

    add_probes();
    front_ = pipeline::make_front(*ingest_, *consume_, store_, *registry_, *producer_, probes_);
    services_.emplace(api::services{
        cfg_.routes, *front_, util::real_clock(),
        [this](std::string& out) { exposition::render_page(store_, self_, cfg_.exposition, out); },
        &*access_});
    api::add_routes(router_, *services_);
    // The docs are open, but they count against the per-client limit like every non-probe route.
    http::router docs;
    api::add_docs_routes(docs);
    for (const auto& r : docs.routes()) {
      router_.add(r.method, r.pattern, r.name,
                  api::guarded(*access_, api::route_access::open, r.h));
    }
    return {};
  }

  // Every module's probe, registered once: its self-metrics on /prometheus-metrics and, where
  // it reports one, its component of /health (in this order). The HTTP server's probe joins in
  // start(), when the server exists.
  void add_probes() {
    self_.add_collectable(exposition::make_process_collectable());
    for (auto& p : {transport::make_probe(*producer_), registry::make_probe(*registry_),
                    transport::make_probe(*consumer_), pipeline::make_probe(*consume_),
                    pipeline::make_probe(*ingest_), pipeline::make_probe(admission_),
                    store::make_probe(store_), api::make_probe(*access_)})
      add_probe(p);
  }

  void add_probe(std::shared_ptr<util::probe> p) {
    self_.add_collectable(p);
    probes_.push_back(std::move(p));
  }

  util::result<void> init_access() {
    const auto& a = cfg_.access;
    api::access_options o;
    auto invalid = [](std::string m) {
      return util::error(std::make_error_code(std::errc::invalid_argument), std::move(m));
    };
    if (!a.api_keys_file.empty()) {
      auto keys = auth::key_store::open(a.api_keys_file);
      if (!keys) return invalid("API_KEYS_FILE " + keys.error().message);
      spdlog::info("access: {} API keys from {}; ingest, read and scrape need a key",
                   (*keys)->current()->size(), a.api_keys_file);
      o.keys = std::move(*keys);
    } else if (!is_loopback_host(cfg_.http.host)) {
      spdlog::warn(
          "access: API_KEYS_FILE is not set and HOST {} is not a loopback address: anyone who "
          "can reach the port can write and read every app's metrics",
          cfg_.http.host);
    }
    auto trusted = auth::cidr_set::parse(a.trusted_proxies);
    if (!trusted) return invalid("TRUSTED_PROXIES: " + trusted.error().message);
    o.trusted_proxies = std::move(*trusted);
    o.limits = a;
    access_.emplace(std::move(o));
    return {};
  }

  std::vector<std::string> route_table() const override {
    std::vector<std::string> out;
    for (const auto& r : router_.routes()) {
      out.push_back(std::string(boost::beast::http::to_string(r.method)) + " " + r.pattern);
    }
    return out;
  }

  util::result<void> start() override {
    http::server_options o = cfg_.http;  // the settings' part of the server's options
    // Connections are file descriptors: the soft limit goes up to the hard one, and the cap
    // stays below it so accept() never fails for want of a descriptor.
    const auto open_files = http::raise_open_files_limit();
    if (o.max_connections == 0)
      o.max_connections = http::default_max_connections(open_files ? open_files : 1024);
    // The transport answers (success or timeout) within the delivery timeout; the HTTP deadline
    // is a backstop a little later, so a client never waits forever.
    o.handler_timeout = cfg_.kafka.producer.delivery_timeout + std::chrono::milliseconds(5'000);
    o.on_complete = [this](std::string_view route, http::verb method, unsigned status,
                           std::chrono::duration<double> elapsed) {
      self_.observe_request(route.empty() ? "unmatched" : route,
                            boost::beast::http::to_string(method), static_cast<int>(status),
                            elapsed);
    };
    const auto max_connections = o.max_connections;
    server_ = std::make_unique<http::server>(std::move(o), router_);
    add_probe(http::make_probe(*server_));
    try {
      server_->start();
    } catch (const std::invalid_argument& e) {
      return util::error(std::make_error_code(std::errc::invalid_argument), e.what());
    } catch (const std::exception& e) {
      return util::error(std::make_error_code(std::errc::address_in_use),
                         "cannot listen on " + cfg_.http.host + ":" +
                             std::to_string(cfg_.http.port) + ": " + e.what());
    }
    // Kafka's acknowledgements are served on the HTTP I/O threads: a delivery report then
    // completes its request where the response is written, one thread hand-off fewer per
    // request than through the producer's own thread (docs/PERFORMANCE.md, "Hand-offs").
    if (const int fd = producer_->completion_fd(); fd >= 0)
      server_->watch(fd, [p = producer_.get()] { p->serve_completions(); });
    consumer_->start(*consume_);
    maintenance_ = std::thread([this] { maintain(); });
    spdlog::info("listening on {}://{}:{} ({} mode, at most {} connections{})",
                 cfg_.http.tls.cert_file.empty() ? "http" : "https", cfg_.http.host,
                 server_->port(),
                 cfg_.app_env == config::environment::development ? "development" : "production",
                 max_connections,
                 cfg_.http.tls.client_ca_file.empty() ? "" : ", client certificates required");
    return {};
  }

  std::uint16_t port() const override { return server_ ? server_->port() : 0; }

  util::result<void> reload_tls() override {
    if (!server_ || cfg_.http.tls.cert_file.empty()) return {};
    auto r = server_->reload_tls();
    if (r) {
      spdlog::info("tls: reloaded {} and {}", cfg_.http.tls.cert_file, cfg_.http.tls.key_file);
    } else {
      spdlog::error("tls: reload failed, keeping the previous certificate: {}", r.error().message);
    }
    return r;
  }

  void reload() override {
    access_->reload();
    (void)reload_tls();  // logs its own outcome
  }

  void stop() override {
    const auto deadline = std::chrono::milliseconds(cfg_.http.shutdown_timeout_ms);
    if (server_) server_->stop(deadline);
    if (producer_) {
      if (auto left = producer_->flush(deadline); left > 0) {
        spdlog::error("shutdown: {} messages were not delivered before the deadline", left);
      }
    }
    if (consumer_) consumer_->stop();
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (maintenance_.joinable()) maintenance_.join();
  }

  ~service() override {
    if (maintenance_.joinable()) stop();
  }

 private:
  // Expires series past their TTL once a second (and the admission's record of them, which keeps
  // each a few seconds longer than the store).
  void maintain() {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; })) {
      lock.unlock();
      store_.expire();
      admission_.expire(util::real_clock().now_ms());
      lock.lock();
    }
  }

  const config::config cfg_;
  const avro::schema schema_;     // v1, the seed's: gauges
  const avro::schema schema_v2_;  // v2 (v1 + type): counters and histograms
  store::series_store store_;
  pipeline::series_admission admission_;
  std::unique_ptr<registry::schema_registry> registry_;
  std::unique_ptr<transport::producer> producer_;
  std::unique_ptr<transport::consumer> consumer_;
  std::optional<pipeline::ingest> ingest_;
  std::optional<pipeline::consume> consume_;
  exposition::self_metrics self_;
  std::optional<api::access_control> access_;
  std::unique_ptr<pipeline::front> front_;
  std::optional<api::services> services_;
  util::probe_list probes_;  // complete before the server starts; the front reads it
  http::router router_;
  std::unique_ptr<http::server> server_;
  std::thread maintenance_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
};

}  // namespace

util::result<std::unique_ptr<application>> build(const config::config& cfg) {
  auto schema = avro::schema::load_metric_schema(cfg.registry.schema_file);
  if (!schema) {
    return util::error(std::make_error_code(std::errc::invalid_argument),
                       "schema " + cfg.registry.schema_file + ": " + schema.error().message);
  }
  auto schema_v2 = avro::schema::load_typed_metric_schema(cfg.registry.schema_v2_file);
  if (!schema_v2) {
    return util::error(std::make_error_code(std::errc::invalid_argument),
                       "schema " + cfg.registry.schema_v2_file + ": " + schema_v2.error().message);
  }
  auto app = std::make_unique<service>(cfg, std::move(*schema), std::move(*schema_v2));
  if (auto r = app->init(); !r) return r.error();
  return std::unique_ptr<application>(std::move(app));
}

}  // namespace mca::app
