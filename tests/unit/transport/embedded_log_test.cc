#include "transport/embedded/embedded_log.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

namespace mca::transport {
namespace {

// Collects what the consumer delivers; waits with a deadline instead of sleeping.
class collecting_handler final : public consumer_handler {
 public:
  std::optional<rejection> on_record(const record& r) override {
    std::lock_guard lock(mu_);
    keys_.emplace_back(r.key);
    apps_.emplace_back(r.app_id);
    offsets_.push_back(r.offset);
    cv_.notify_all();
    return std::nullopt;
  }
  void on_records(std::span<const record> rs,
                  std::span<std::optional<rejection>> rejected) override {
    {
      std::lock_guard lock(mu_);
      polls_.push_back(rs.size());
    }
    consumer_handler::on_records(rs, rejected);
  }
  void on_assigned(std::span<const std::int32_t> p) override {
    std::lock_guard lock(mu_);
    assigned_.assign(p.begin(), p.end());
  }
  void on_revoked(std::span<const std::int32_t> p) override {
    std::lock_guard lock(mu_);
    revoked_.assign(p.begin(), p.end());
  }
  bool wait_for(std::size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return keys_.size() >= n; });
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> keys_, apps_;
  std::vector<std::int64_t> offsets_;
  std::vector<std::size_t> polls_;  // records per on_records() call
  std::vector<std::int32_t> assigned_, revoked_;
};

std::vector<message> batch_of(std::initializer_list<const char*> keys) {
  std::vector<message> out;
  for (auto k : keys) out.push_back({k, std::string("v-") + k, "app", 1});
  return out;
}

TEST(embedded_log, acknowledges_a_batch_and_delivers_it_in_order) {
  auto t = embedded::make_embedded_transport(100);
  collecting_handler h;
  t.cons->start(h);
  bool acked = false;
  t.prod->send(batch_of({"a", "b", "c"}), [&](util::result<void> r) { acked = r.has_value(); });
  EXPECT_TRUE(acked);
  ASSERT_TRUE(h.wait_for(3));
  t.cons->stop();
  EXPECT_EQ(h.keys_, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(h.apps_, (std::vector<std::string>{"app", "app", "app"}));
  EXPECT_EQ(h.offsets_, (std::vector<std::int64_t>{0, 1, 2}));
  EXPECT_EQ(h.assigned_, (std::vector<std::int32_t>{0}));
  EXPECT_EQ(h.revoked_, (std::vector<std::int32_t>{0}));
  EXPECT_EQ(t.prod->stats().sent, 3u);
}

TEST(embedded_log, refuses_a_whole_batch_that_would_exceed_capacity) {
  auto t = embedded::make_embedded_transport(2);  // no consumer running: nothing drains
  std::optional<util::result<void>> first, second;
  t.prod->send(batch_of({"a"}), [&](util::result<void> r) { first = r; });
  t.prod->send(batch_of({"b", "c"}), [&](util::result<void> r) { second = r; });
  ASSERT_TRUE(first && second);
  EXPECT_TRUE(first->has_value());
  ASSERT_FALSE(second->has_value());
  EXPECT_EQ(second->error().code, errc::queue_full);
  EXPECT_EQ(t.prod->stats().queue_depth, 1);
  EXPECT_EQ(t.prod->stats().queue_full, 1u);

  collecting_handler h;
  t.cons->start(h);
  ASSERT_TRUE(h.wait_for(1));
  t.cons->stop();
  EXPECT_EQ(h.keys_, (std::vector<std::string>{"a"}));  // nothing of the refused batch
}

TEST(embedded_log, empty_batch_completes_at_once) {
  auto t = embedded::make_embedded_transport(1);
  bool called = false;
  t.prod->send({}, [&](util::result<void> r) { called = r.has_value(); });
  EXPECT_TRUE(called);
}

TEST(embedded_log, stop_consumes_what_was_already_acknowledged) {
  auto t = embedded::make_embedded_transport(1000);
  collecting_handler h;
  t.cons->start(h);
  for (int i = 0; i < 100; ++i) t.prod->send(batch_of({"k"}), [](util::result<void>) {});
  t.cons->stop();
  EXPECT_EQ(h.keys_.size(), 100u);
}

TEST(embedded_log, hands_over_each_read_in_one_call_of_at_most_512_records) {
  // What one read of the log takes is applied as one store batch by the consume handler.
  auto t = embedded::make_embedded_transport(2000);
  for (int i = 0; i < 10; ++i) {
    std::vector<message> batch(100, message{"k", "v", "app", 1});
    t.prod->send(std::move(batch), [](util::result<void>) {});
  }
  collecting_handler h;
  t.cons->start(h);
  ASSERT_TRUE(h.wait_for(1000));
  t.cons->stop();
  EXPECT_EQ(h.polls_, (std::vector<std::size_t>{512, 488}));
  for (std::size_t i = 0; i < h.offsets_.size(); ++i)
    EXPECT_EQ(h.offsets_[i], static_cast<std::int64_t>(i));
}

TEST(embedded_log, health_reports_kind_and_queue) {
  auto t = embedded::make_embedded_transport(10);
  auto h = t.prod->health();
  EXPECT_TRUE(h.ok);
  EXPECT_EQ(h.info.at("kind").as_string(), "embedded");
  EXPECT_EQ(h.info.at("queue_capacity").as_int64(), 10);
}

}  // namespace
}  // namespace mca::transport
