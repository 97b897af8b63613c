// Test helpers for the Kafka transport: librdkafka's in-process mock cluster (one per test, on
// ephemeral 127.0.0.1 ports) and polling with a deadline instead of sleeps; the handler that
// records what a consumer reports is support/recording_handler.h.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <sys/types.h>

#include "support/recording_handler.h"
#include "transport/transport.h"

namespace mca::test {

// Polls `done` until it holds or `timeout` passes; returns its last value.
inline bool eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

inline std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The threads of this process: id -> name (/proc/self/task/<id>/comm).
inline std::map<pid_t, std::string> threads_of_this_process() {
  std::map<pid_t, std::string> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(e.path() / "comm");
    std::string name;
    std::getline(comm, name);
    out.emplace(static_cast<pid_t>(std::stol(e.path().filename().string())), name);
  }
  return out;
}

// The threads whose name starts with `prefix` that were not in `before`.
inline std::vector<pid_t> new_threads_named(std::string_view prefix,
                                            const std::map<pid_t, std::string>& before) {
  std::vector<pid_t> out;
  for (const auto& [id, name] : threads_of_this_process())
    if (!before.contains(id) && name.starts_with(prefix)) out.push_back(id);
  return out;
}

// A mock Kafka cluster owned by a private client handle. Not thread-safe; tests drive it from
// the test thread.
class mock_cluster {
 public:
  explicit mock_cluster(int brokers = 1) {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk_) throw std::runtime_error(err);
    mc_ = rd_kafka_mock_cluster_new(rk_, brokers);
    if (!mc_) throw std::runtime_error("rd_kafka_mock_cluster_new failed");
  }
  ~mock_cluster() {
    rd_kafka_mock_cluster_destroy(mc_);
    rd_kafka_destroy(rk_);
  }
  mock_cluster(const mock_cluster&) = delete;
  mock_cluster& operator=(const mock_cluster&) = delete;

  std::string bootstrap_servers() const { return rd_kafka_mock_cluster_bootstraps(mc_); }
  void create_topic(const std::string& topic, int partitions) {
    if (rd_kafka_mock_topic_create(mc_, topic.c_str(), partitions, 1) != RD_KAFKA_RESP_ERR_NO_ERROR)
      throw std::runtime_error("mock topic create failed");
  }
  rd_kafka_mock_cluster_t* get() { return mc_; }

  // Produces one record with a plain librdkafka producer (no app_id header unless given) and
  // waits for its delivery; returns false when it was not delivered.
  bool produce_raw(const std::string& topic, std::int32_t partition, const std::string& key,
                   const std::string& value, std::int64_t timestamp_ms) {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap_servers().c_str(), err, sizeof err);
    rd_kafka_t* p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!p) return false;
    const auto e =
        rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                          RD_KAFKA_V_KEY(key.data(), key.size()),
                          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_TIMESTAMP(timestamp_ms), RD_KAFKA_V_END);
    const bool ok = e == RD_KAFKA_RESP_ERR_NO_ERROR && rd_kafka_flush(p, 10'000) == 0 &&
                    rd_kafka_outq_len(p) == 0;
    rd_kafka_destroy(p);
    return ok;
  }

 private:
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_mock_cluster_t* mc_ = nullptr;
};

}  // namespace mca::test
