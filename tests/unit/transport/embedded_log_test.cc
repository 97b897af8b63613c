#include "transport/embedded/embedded_log.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

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

// Waits until the consumer has applied and handed back everything appended.
void wait_consumed(producer& p) {
  for (int i = 0; i < 5000 && p.stats().queue_depth != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(p.stats().queue_depth, 0);
}

TEST(embedded_log, hands_back_consumed_records_empty_with_their_capacity) {
  auto t = embedded::make_embedded_transport(100);
  recording_handler h;
  t.cons->start(h);
  t.prod->send({message{std::string(100, 'k'), std::string(200, 'v'), "app", 7}},
               [](util::result<void>) {});
  wait_consumed(*t.prod);
  auto spares = t.prod->spare_messages(3);
  ASSERT_EQ(spares.size(), 3u);
  for (const auto& m : spares) {
    EXPECT_EQ(m.key, "");
    EXPECT_EQ(m.value, "");
    EXPECT_EQ(m.app_id, "");
    EXPECT_EQ(m.timestamp_ms, 0);
  }
  // The one spent record's strings come back with their room; the other two are new.
  EXPECT_EQ(std::count_if(spares.begin(), spares.end(),
                          [](const message& m) {
                            return m.key.capacity() >= 100 && m.value.capacity() >= 200;
                          }),
            1);
  EXPECT_LT(t.prod->spare_messages(1).front().key.capacity(), 100u);  // handed back once only
  t.cons->stop();
}

TEST(embedded_log, a_reused_message_carries_only_what_was_written_into_it) {
  auto t = embedded::make_embedded_transport(100);
  recording_handler h;
  t.cons->start(h);
  std::vector<message> first(3,
                             message{std::string(60, 'K'), std::string(120, 'V'), "first-app", 1});
  t.prod->send(std::move(first), [](util::result<void>) {});
  wait_consumed(*t.prod);
  auto second = t.prod->spare_messages(3);
  for (std::size_t i = 0; i < second.size(); ++i) {
    second[i].key.append("k" + std::to_string(i));  // appended, as keys and frames are written
    second[i].value.append("v");
    second[i].app_id = "a";
    second[i].timestamp_ms = 2;
  }
  t.prod->send(std::move(second), [](util::result<void>) {});
  ASSERT_TRUE(h.wait_for_records(6));
  t.cons->stop();
  const auto records = h.records();
  ASSERT_EQ(records.size(), 6u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(records[3 + i].key, "k" + std::to_string(i));
    EXPECT_EQ(records[3 + i].value, "v");
    EXPECT_EQ(records[3 + i].app_id, "a");
    EXPECT_EQ(records[3 + i].timestamp_ms, 2);
  }
}

TEST(embedded_log, keeps_no_large_strings_as_spares) {
  // What the log holds between batches stays bounded whatever a client's records were.
  auto t = embedded::make_embedded_transport(100);
  recording_handler h;
  t.cons->start(h);
  t.prod->send({message{"k", std::string(4096, 'v'), "app", 1}}, [](util::result<void>) {});
  wait_consumed(*t.prod);
  EXPECT_LT(t.prod->spare_messages(1).front().value.capacity(), 4096u);
  t.cons->stop();
}

TEST(embedded_log, delivers_in_order_across_takes_while_appending) {
  // Records taken from the head of a longer backlog while more are appended stay in log order.
  auto t = embedded::make_embedded_transport(100'000);
  for (int i = 0; i < 20; ++i) {
    std::vector<message> batch(100, message{"k", "v", "app", 1});
    t.prod->send(std::move(batch), [](util::result<void>) {});
  }
  recording_handler h;
  t.cons->start(h);
  for (int i = 0; i < 30; ++i) {
    auto batch = t.prod->spare_messages(100);
    for (auto& m : batch) m.key.append("k");
    t.prod->send(std::move(batch), [](util::result<void>) {});
  }
  ASSERT_TRUE(h.wait_for_records(5000));
  t.cons->stop();
  const auto offsets = each_record(h, &owned_record::offset);
  ASSERT_EQ(offsets.size(), 5000u);
  for (std::size_t i = 0; i < offsets.size(); ++i)
    ASSERT_EQ(offsets[i], static_cast<std::int64_t>(i));
  EXPECT_EQ(t.prod->stats().sent, 5000u);
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
