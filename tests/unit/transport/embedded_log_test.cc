#include "transport/embedded/embedded_log.h"

#include <gtest/gtest.h>

#include <type_traits>

#include "support/recording_handler.h"

namespace mca::transport {
namespace {

using test::recording_handler;
using owned_record = recording_handler::owned_record;

// One field of every record the handler was given, in order.
template <class Field>
auto each_record(const recording_handler& h, Field field) {
  std::vector<std::decay_t<decltype(std::declval<recording_handler::owned_record>().*field)>> out;
  for (const auto& r : h.records()) out.push_back(r.*field);
  return out;
}

std::vector<message> batch_of(std::initializer_list<const char*> keys) {
  std::vector<message> out;
  for (auto k : keys) out.push_back({k, std::string("v-") + k, "app", 1});
  return out;
}

TEST(embedded_log, acknowledges_a_batch_and_delivers_it_in_order) {
  auto t = embedded::make_embedded_transport(100);
  recording_handler h;
  t.cons->start(h);
  bool acked = false;
  t.prod->send(batch_of({"a", "b", "c"}), [&](util::result<void> r) { acked = r.has_value(); });
  EXPECT_TRUE(acked);
  ASSERT_TRUE(h.wait_for_records(3));
  t.cons->stop();
  EXPECT_EQ(each_record(h, &owned_record::key), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(each_record(h, &owned_record::app_id), (std::vector<std::string>{"app", "app", "app"}));
  EXPECT_EQ(each_record(h, &owned_record::offset), (std::vector<std::int64_t>{0, 1, 2}));
  EXPECT_EQ(h.assigned(), (std::vector<std::vector<std::int32_t>>{{0}}));
  EXPECT_EQ(h.revoked(), (std::vector<std::vector<std::int32_t>>{{0}}));
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

  recording_handler h;
  t.cons->start(h);
  ASSERT_TRUE(h.wait_for_records(1));
  t.cons->stop();
  EXPECT_EQ(each_record(h, &owned_record::key),
            (std::vector<std::string>{"a"}));  // nothing of the refused batch
}

TEST(embedded_log, empty_batch_completes_at_once) {
  auto t = embedded::make_embedded_transport(1);
  bool called = false;
  t.prod->send({}, [&](util::result<void> r) { called = r.has_value(); });
  EXPECT_TRUE(called);
}

TEST(embedded_log, stop_consumes_what_was_already_acknowledged) {
  auto t = embedded::make_embedded_transport(1000);
  recording_handler h;
  t.cons->start(h);
  for (int i = 0; i < 100; ++i) t.prod->send(batch_of({"k"}), [](util::result<void>) {});
  t.cons->stop();
  EXPECT_EQ(h.records().size(), 100u);
}

TEST(embedded_log, hands_over_each_read_in_one_call_of_at_most_512_records) {
  // What one read of the log takes is applied as one store batch by the consume handler.
  auto t = embedded::make_embedded_transport(2000);
  for (int i = 0; i < 10; ++i) {
    std::vector<message> batch(100, message{"k", "v", "app", 1});
    t.prod->send(std::move(batch), [](util::result<void>) {});
  }
  recording_handler h;
  t.cons->start(h);
  ASSERT_TRUE(h.wait_for_records(1000));
  t.cons->stop();
  EXPECT_EQ(h.polls(), (std::vector<std::size_t>{512, 488}));
  const auto offsets = each_record(h, &owned_record::offset);
  for (std::size_t i = 0; i < offsets.size(); ++i)
    EXPECT_EQ(offsets[i], static_cast<std::int64_t>(i));
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
