// A producer that records what it is given and completes each send as the test says: at once
// with success, with an error, or later when the test calls complete_all(). The transport
// contract (transport.h) lets the delivery callback run on the caller's thread (the embedded log)
// or on a transport thread (Kafka): `callbacks` picks which one this fake uses, so a test can run
// its pipeline both ways.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "transport/transport.h"

namespace mca::test {

// Where the fake runs delivery callbacks.
enum class callback_thread {
  caller,     // inside send() (or complete_all()), like the embedded log
  transport,  // on the fake's own thread, after send() returned, like Kafka's poll thread
};

inline const char* to_string(callback_thread t) {
  return t == callback_thread::caller ? "caller" : "transport";
}

class fake_producer final : public transport::producer {
 public:
  enum class mode { succeed, fail, hold };
  mode behaviour = mode::succeed;
  transport::errc failure = transport::errc::delivery_failed;

  explicit fake_producer(callback_thread callbacks = callback_thread::caller)
      : callbacks_(callbacks) {
    if (callbacks_ == callback_thread::transport) worker_ = std::thread([this] { serve(); });
  }
  ~fake_producer() override {
    if (!worker_.joinable()) return;
    {
      std::lock_guard lock(mu_);
      closing_ = true;
    }
    cv_.notify_all();
    worker_.join();  // runs what is queued first
  }

  void send(std::vector<transport::message> batch, transport::delivery_callback done) override {
    std::unique_lock lock(mu_);
    for (auto& m : batch) sent.push_back(m);
    if (behaviour == mode::hold) {
      held_.push_back(std::move(done));
      return;
    }
    const auto b = behaviour;
    lock.unlock();
    complete(std::move(done), b == mode::succeed
                                  ? util::result<void>()
                                  : util::result<void>(util::error(failure, "fake failure")));
  }
  void complete_all() {
    std::vector<transport::delivery_callback> held;
    {
      std::lock_guard lock(mu_);
      held.swap(held_);
    }
    for (auto& d : held) complete(std::move(d), util::result<void>());
  }
  std::size_t flush(std::chrono::milliseconds) override { return 0; }
  transport::producer_stats stats() const override { return {}; }
  util::health health() override { return {true, "ok", {}}; }

  std::vector<transport::message> sent;
  // The thread the last callback ran on.
  std::thread::id last_callback_thread() const {
    std::lock_guard lock(mu_);
    return last_thread_;
  }

 private:
  void complete(transport::delivery_callback done, util::result<void> r) {
    if (callbacks_ == callback_thread::caller) {
      note_thread();
      done(std::move(r));
      return;
    }
    {
      std::lock_guard lock(mu_);
      queue_.emplace_back(std::move(done), std::move(r));
    }
    cv_.notify_all();
  }

  void serve() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;
      auto [done, r] = std::move(queue_.front());
      queue_.pop_front();
      last_thread_ = std::this_thread::get_id();
      lock.unlock();
      done(std::move(r));
      lock.lock();
    }
  }

  void note_thread() {
    std::lock_guard lock(mu_);
    last_thread_ = std::this_thread::get_id();
  }

  const callback_thread callbacks_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<transport::delivery_callback> held_;
  std::deque<std::pair<transport::delivery_callback, util::result<void>>> queue_;
  std::thread::id last_thread_;
  bool closing_ = false;
  std::thread worker_;
};

}  // namespace mca::test
