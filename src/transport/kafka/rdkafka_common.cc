#include "transport/kafka/rdkafka_common.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>

#include <sched.h>

#include <spdlog/spdlog.h>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "transport/transport.h"
#include "util/secret.h"

namespace mca::transport::kafka {
namespace {

spdlog::level::level_enum spdlog_level(int syslog_level) {
  switch (syslog_level) {
    case 0:  // emerg
    case 1:  // alert
    case 2:  // crit
      return spdlog::level::critical;
    case 3:
      return spdlog::level::err;
    case 4:
      return spdlog::level::warn;
    case 5:  // notice
    case 6:
      return spdlog::level::info;
    default:
      return spdlog::level::debug;
  }
}

void log_cb(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  spdlog::log(spdlog_level(level), "kafka {} {}: {}", rk ? rd_kafka_name(rk) : "-", fac, buf);
}

std::int64_t int_or(const boost::json::object& o, std::string_view key, std::int64_t fallback) {
  if (auto* v = o.if_contains(key); v && v->is_number()) return v->to_number<std::int64_t>();
  return fallback;
}

rd_kafka_resp_err_t on_thread_start(rd_kafka_t*, rd_kafka_thread_type_t type, const char*, void*) {
  if (type == RD_KAFKA_THREAD_BROKER) run_as_batch_thread();
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

rd_kafka_resp_err_t on_new(rd_kafka_t* rk, const rd_kafka_conf_t*, void*, char*, std::size_t) {
  return rd_kafka_interceptor_add_on_thread_start(rk, "mca-threads", on_thread_start, nullptr);
}

// handle_callbacks::broker_thread, reached through the interceptor's opaque (a function pointer
// passed as void*, as dlsym does) and called with the handle's own opaque.
using broker_thread_hook = void (*)(void*, bool);

void report_broker_thread(rd_kafka_t* rk, rd_kafka_thread_type_t type, void* hook, bool started) {
  if (type == RD_KAFKA_THREAD_BROKER)
    reinterpret_cast<broker_thread_hook>(hook)(rd_kafka_opaque(rk), started);
}

rd_kafka_resp_err_t on_broker_thread_start(rd_kafka_t* rk, rd_kafka_thread_type_t type, const char*,
                                           void* hook) {
  report_broker_thread(rk, type, hook, true);
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

rd_kafka_resp_err_t on_broker_thread_exit(rd_kafka_t* rk, rd_kafka_thread_type_t type, const char*,
                                          void* hook) {
  report_broker_thread(rk, type, hook, false);
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

rd_kafka_resp_err_t on_new_reporting(rd_kafka_t* rk, const rd_kafka_conf_t*, void* hook, char*,
                                     std::size_t) {
  if (auto e = rd_kafka_interceptor_add_on_thread_start(rk, "mca-broker-threads",
                                                        on_broker_thread_start, hook))
    return e;
  return rd_kafka_interceptor_add_on_thread_exit(rk, "mca-broker-threads", on_broker_thread_exit,
                                                 hook);
}

}  // namespace

void run_as_batch_thread() {
  sched_param p{};
  // pid 0: the calling thread. Moving between SCHED_OTHER and SCHED_BATCH needs no privilege;
  // should it fail anyway the thread simply keeps the default policy.
  (void)sched_setscheduler(0, SCHED_BATCH, &p);
}

util::result<void> set_property(rd_kafka_conf_t* conf, const std::string& name,
                                const std::string& value) {
  std::array<char, 512> err{};
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err.data(), err.size()) ==
      RD_KAFKA_CONF_OK)
    return {};
  std::string message = "Kafka property " + name + " rejected";
  if (!util::is_secret_name(name)) message += ": " + util::mask_url_userinfo(err.data());
  return util::error(errc::unavailable, std::move(message));
}

util::result<conf_ptr> make_conf(
    const std::vector<std::pair<std::string, std::string>>& properties) {
  conf_ptr conf(rd_kafka_conf_new());
  for (const auto& [name, value] : properties) {
    if (auto r = set_property(conf.get(), name, value); !r) return r.error();
  }
  return conf;
}

void install_logging(rd_kafka_conf_t* conf) { rd_kafka_conf_set_log_cb(conf, log_cb); }

util::result<handle_ptr> make_handle(
    rd_kafka_type_t type, const std::vector<std::pair<std::string, std::string>>& properties,
    const handle_callbacks& callbacks, std::string_view what) {
  auto conf = make_conf(properties);
  if (!conf) return conf.error();
  rd_kafka_conf_t* c = conf->get();
  install_logging(c);
  if (callbacks.batch_threads)
    rd_kafka_conf_interceptor_add_on_new(c, "mca-threads", on_new, nullptr);
  if (callbacks.broker_thread)
    rd_kafka_conf_interceptor_add_on_new(c, "mca-broker-threads", on_new_reporting,
                                         reinterpret_cast<void*>(callbacks.broker_thread));
  rd_kafka_conf_set_opaque(c, callbacks.opaque);
  if (callbacks.delivery) rd_kafka_conf_set_dr_msg_cb(c, callbacks.delivery);
  if (callbacks.rebalance) rd_kafka_conf_set_rebalance_cb(c, callbacks.rebalance);
  if (callbacks.error) rd_kafka_conf_set_error_cb(c, callbacks.error);
  if (callbacks.statistics) rd_kafka_conf_set_stats_cb(c, callbacks.statistics);
  std::array<char, 512> err{};
  handle_ptr rk(rd_kafka_new(type, c, err.data(), err.size()));
  if (!rk) return util::error(errc::unavailable, std::string(what) + ": " + err.data());
  (void)conf->release();  // rd_kafka_new took it
  return rk;
}

util::result<topic_ptr> make_topic(rd_kafka_t* rk, const std::string& name) {
  topic_ptr topic(rd_kafka_topic_new(rk, name.c_str(), nullptr));
  if (!topic)
    return util::error(errc::unavailable,
                       "Kafka topic " + name + ": " + rd_kafka_err2str(rd_kafka_last_error()));
  return topic;
}

void last_error::set(std::string e) {
  std::lock_guard lock(mu_);
  error_ = std::move(e);
}

std::string last_error::get() const {
  std::lock_guard lock(mu_);
  return error_;
}

util::result<client_statistics> parse_statistics(std::string_view json, std::string_view topic) {
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(json, ec);
  if (ec || !doc.is_object())
    return util::error(errc::unavailable, "malformed librdkafka statistics: " + ec.message());
  const auto& root = doc.get_object();

  client_statistics s;
  s.queue_depth = int_or(root, "msg_cnt", 0);

  if (auto* brokers = root.if_contains("brokers"); brokers && brokers->is_object()) {
    double rtt_sum_us = 0;
    int rtt_count = 0;
    for (const auto& [name, b] : brokers->get_object()) {
      if (!b.is_object()) continue;
      const auto& broker = b.get_object();
      s.tx_errors +=
          static_cast<std::uint64_t>(std::max<std::int64_t>(0, int_or(broker, "txerrs", 0)));
      s.rx_errors +=
          static_cast<std::uint64_t>(std::max<std::int64_t>(0, int_or(broker, "rxerrs", 0)));
      // Bootstrap and internal entries (nodeid -1) never carry requests of their own.
      if (int_or(broker, "nodeid", -1) < 0) continue;
      if (auto* rtt = broker.if_contains("rtt"); rtt && rtt->is_object()) {
        const std::int64_t avg = int_or(rtt->get_object(), "avg", 0);
        if (avg > 0) {
          rtt_sum_us += static_cast<double>(avg);
          ++rtt_count;
        }
      }
    }
    if (rtt_count > 0) s.broker_rtt_ms = rtt_sum_us / rtt_count / 1000.0;
  }

  if (auto* topics = root.if_contains("topics"); topics && topics->is_object()) {
    if (auto* t = topics->get_object().if_contains(topic); t && t->is_object()) {
      if (auto* parts = t->get_object().if_contains("partitions"); parts && parts->is_object()) {
        for (const auto& [id, p] : parts->get_object()) {
          if (id == "-1" || !p.is_object()) continue;  // -1: the unassigned-messages queue
          const auto& part = p.get_object();
          if (auto* desired = part.if_contains("desired");
              desired && desired->is_bool() && !desired->get_bool())
            continue;
          // The stored offset follows what the application was handed; the committed one lags
          // by up to the commit interval.
          std::int64_t lag = int_or(part, "consumer_lag_stored", -1);
          if (lag < 0) lag = int_or(part, "consumer_lag", -1);
          if (lag < 0) continue;
          s.consumer_lag = std::max<std::int64_t>(s.consumer_lag, 0) + lag;
        }
      }
    }
  }
  return s;
}

util::health probe_metadata(rd_kafka_t* rk, rd_kafka_topic_t* topic,
                            std::chrono::milliseconds timeout) {
  util::health h;
  h.info["kind"] = "kafka";
  h.info["topic"] = rd_kafka_topic_name(topic);
  const rd_kafka_metadata_t* raw = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, topic, &raw, to_timeout_ms(timeout));
  metadata_ptr md(raw);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    h.status = "unreachable";
    h.info["brokers"] = 0;
    h.info["partitions"] = 0;
    h.info["error"] = rd_kafka_err2str(err);
    return h;
  }
  h.info["brokers"] = md->broker_cnt;
  int partitions = 0;
  std::string topic_error;
  for (int i = 0; i < md->topic_cnt; ++i) {
    partitions += md->topics[i].partition_cnt;
    if (md->topics[i].err != RD_KAFKA_RESP_ERR_NO_ERROR)
      topic_error = rd_kafka_err2str(md->topics[i].err);
  }
  h.info["partitions"] = partitions;
  if (!topic_error.empty() || partitions == 0) {
    h.status = "degraded";
    h.info["error"] = topic_error.empty() ? "topic has no partitions" : topic_error;
    return h;
  }
  h.ok = true;
  h.status = "ok";
  return h;
}

health_monitor::health_monitor(std::function<util::health()> probe,
                               std::chrono::milliseconds interval)
    : probe_(std::move(probe)), interval_(interval) {
  current_.status = "connecting";
  current_.info["kind"] = "kafka";
  thread_ = std::thread([this] { run(); });
}

health_monitor::~health_monitor() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

util::health health_monitor::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

void health_monitor::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    util::health h = probe_();
    lock.lock();
    current_ = std::move(h);
    cv_.wait_for(lock, interval_, [this] { return stopping_; });
  }
}

int to_timeout_ms(std::chrono::milliseconds d) {
  return static_cast<int>(std::clamp<std::int64_t>(d.count(), 0, std::numeric_limits<int>::max()));
}

}  // namespace mca::transport::kafka
