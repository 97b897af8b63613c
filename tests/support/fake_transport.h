// A producer that records what it is given and completes each send as the test says: at once
// with success, with an error, or later when the test calls complete_all().
#pragma once

#include <mutex>
#include <optional>
#include <vector>

#include "transport/transport.h"

namespace mca::test {

class fake_producer final : public transport::producer {
 public:
  enum class mode { succeed, fail, hold };
  mode behaviour = mode::succeed;
  transport::errc failure = transport::errc::delivery_failed;

  void send(std::vector<transport::message> batch, transport::delivery_callback done) override {
    std::unique_lock lock(mu_);
    for (auto& m : batch) sent.push_back(m);
    if (behaviour == mode::hold) {
      held_.push_back(std::move(done));
      return;
    }
    auto b = behaviour;
    lock.unlock();
    if (b == mode::succeed)
      done(util::result<void>());
    else
      done(util::error(failure, "fake failure"));
  }
  void complete_all() {
    std::vector<transport::delivery_callback> held;
    {
      std::lock_guard lock(mu_);
      held.swap(held_);
    }
    for (auto& d : held) d(util::result<void>());
  }
  std::size_t flush(std::chrono::milliseconds) override { return 0; }
  transport::producer_stats stats() const override { return {}; }
  util::health health() override { return {true, "ok", {}}; }

  std::vector<transport::message> sent;

 private:
  std::mutex mu_;
  std::vector<transport::delivery_callback> held_;
};

}  // namespace mca::test
