#include "pipeline/ingest.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <thread>

#include "avro/metric_codec.h"
#include "support/fake_transport.h"
#include "support/recording_handler.h"
#include "support/seed.h"
#include "support/support.h"
#include "transport/embedded/embedded_log.h"

namespace mca::pipeline {
namespace {

// Waits for the one answer of a submit (on whichever thread the transport completes it).
class answer {
 public:
  std::function<void(util::result<outcome>)> callback() {
    return [p = promise_](util::result<outcome> r) { p->set_value(std::move(r)); };
  }
  bool ready() const {
    return future_.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  }
  util::result<outcome> get() {
    if (future_.wait_for(std::chrono::seconds(30)) != std::future_status::ready)
      return util::error(transport::errc::timed_out, "no answer within 30 s");
    return future_.get();
  }

 private:
  std::shared_ptr<std::promise<util::result<outcome>>> promise_ =
      std::make_shared<std::promise<util::result<outcome>>>();
  std::future<util::result<outcome>> future_ = promise_->get_future();
};

// Every test runs with the delivery callback on the caller's thread (the embedded log) and on a
// transport thread (Kafka): the transport contract allows both.
class ingest_test : public ::testing::TestWithParam<test::callback_thread> {
 protected:
  ingest_test()
      : schema_(avro::schema::load_metric_schema(test::schema_file()).value()),
        registry_(registry::make_embedded(
            schema_, avro::schema::load_typed_metric_schema(test::schema_v2_file()).value())),
        clock_(1'700'000'000'000),
        producer_(GetParam()),
        ingest_(model::limits{}, *registry_, producer_, clock_) {}

  static util::result<outcome> submit_to(ingest& in, batch b) {
    answer a;
    in.submit("my-app", std::move(b), a.callback());
    return a.get();
  }
  util::result<outcome> submit(batch b) { return submit_to(ingest_, std::move(b)); }

  avro::schema schema_;
  std::unique_ptr<registry::schema_registry> registry_;
  util::manual_clock clock_;
  test::fake_producer producer_;
  ingest ingest_;
};

// The two threads the transport contract allows for the delivery callback.
const auto kCallbackThreads =
    ::testing::Values(test::callback_thread::caller, test::callback_thread::transport);
std::string thread_name(const ::testing::TestParamInfo<test::callback_thread>& info) {
  return test::to_string(info.param);
}

INSTANTIATE_TEST_SUITE_P(callback_on, ingest_test, kCallbackThreads, thread_name);

TEST_P(ingest_test, produces_framed_avro_keyed_by_series_with_app_header) {
  batch b;
  b.items.emplace_back(0, test::seed_metric());
  auto r = submit(std::move(b));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->accepted, 1u);
  EXPECT_TRUE(r->rejected.empty());
  ASSERT_EQ(producer_.sent.size(), 1u);
  const auto& msg = producer_.sent[0];
  EXPECT_EQ(msg.app_id, "my-app");
  EXPECT_EQ(msg.timestamp_ms, clock_.now_ms());
  auto m = test::seed_metric();
  model::normalise(m);
  EXPECT_EQ(msg.key, model::series_key("my-app", m));
  auto framed = avro::unframe(msg.value);
  ASSERT_TRUE(framed);
  EXPECT_EQ(framed->id.value, 1);
  auto decoded = avro::decode(framed->body);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, m);
}

// Once the batch's records are framed nothing refers to its items: the submitting thread keeps the
// batch as its spare, for the next parse to write into (the records are unchanged by it).
TEST_P(ingest_test, gives_its_batch_back_as_the_threads_spare) {
  (void)take_spare_batch();
  batch b;
  b.items.emplace_back(0, test::seed_metric());
  b.items.emplace_back(1, test::seed_metric());
  b.items[1].second.name = "other";
  auto r = submit(std::move(b));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->accepted, 2u);
  auto spare = take_spare_batch();
  ASSERT_EQ(spare.items.size(), 2u);
  EXPECT_EQ(spare.items[1].second.name, "other");
  EXPECT_TRUE(spare.rejected.empty());
  spare.items[0].second.name = "overwritten";
  ASSERT_EQ(producer_.sent.size(), 2u);
  auto m = test::seed_metric();
  model::normalise(m);
  EXPECT_EQ(avro::decode(avro::unframe(producer_.sent[0].value)->body).value(), m);
}

// A batch holding more than kSpareBatchBytes is freed, not kept: what a thread holds between
// requests stays bounded whatever a client sent.
TEST_P(ingest_test, keeps_no_spare_batch_larger_than_the_bound) {
  (void)take_spare_batch();
  batch b;
  for (std::size_t i = 0; i < 40; ++i) {
    b.items.emplace_back(i, test::seed_metric());
    b.items.back().second.tags.emplace_back("big", std::string(32 * 1024, 'x'));
  }
  ASSERT_GT(held_bytes(b, kSpareBatchBytes), kSpareBatchBytes);
  auto r = submit(std::move(b));
  ASSERT_TRUE(r);
  EXPECT_TRUE(take_spare_batch().items.empty());
}

TEST_P(ingest_test, lists_invalid_items_by_index_and_produces_the_rest) {
  batch b;
  b.items.emplace_back(0, test::seed_metric());
  auto bad = test::seed_metric();
  bad.name.clear();
  b.items.emplace_back(2, bad);
  b.rejected.push_back({1, "value", "must be a number"});
  auto r = submit(std::move(b));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->accepted, 1u);
  ASSERT_EQ(r->rejected.size(), 2u);
  EXPECT_EQ(r->rejected[0].index, 1u);
  EXPECT_EQ(r->rejected[1].index, 2u);
  EXPECT_EQ(r->rejected[1].field, "name");
  EXPECT_EQ(producer_.sent.size(), 1u);
}

TEST_P(ingest_test, produces_nothing_when_no_item_is_valid) {
  batch b;
  auto bad = test::seed_metric();
  bad.profile_id.clear();
  b.items.emplace_back(0, bad);
  auto r = submit(std::move(b));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->accepted, 0u);
  EXPECT_EQ(r->rejected.size(), 1u);
  EXPECT_TRUE(producer_.sent.empty());
}

TEST_P(ingest_test, transport_failure_is_an_error_and_nothing_is_counted_accepted) {
  producer_.behaviour = test::fake_producer::mode::fail;
  producer_.failure = transport::errc::queue_full;
  batch b;
  b.items.emplace_back(0, test::seed_metric());
  auto r = submit(std::move(b));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, transport::errc::queue_full);
  EXPECT_EQ(ingest_.stats().accepted, 0u);
  EXPECT_EQ(ingest_.stats().failed, 1u);
}

TEST_P(ingest_test, completes_only_when_the_transport_acknowledges) {
  producer_.behaviour = test::fake_producer::mode::hold;
  batch b;
  b.items.emplace_back(0, test::seed_metric());
  b.items.emplace_back(1, test::seed_metric());
  answer got;
  ingest_.submit("my-app", std::move(b), got.callback());
  EXPECT_FALSE(got.ready());
  producer_.complete_all();
  auto r = got.get();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->accepted, 2u);
  EXPECT_EQ(ingest_.stats().accepted, 2u);
  // The answer came on the thread the transport completed on.
  const bool on_caller = producer_.last_callback_thread() == std::this_thread::get_id();
  EXPECT_EQ(on_caller, GetParam() == test::callback_thread::caller);
}

TEST_P(ingest_test, timestamp_too_far_in_the_future_is_rejected) {
  batch b;
  auto m = test::seed_metric();
  m.timestamp_ms = clock_.now_ms() + 3'600'001;
  b.items.emplace_back(0, m);
  auto r = submit(std::move(b));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->rejected.size(), 1u);
  EXPECT_EQ(r->rejected[0].field, "timestamp");
}

TEST_P(ingest_test, a_future_timestamp_is_produced_as_the_receive_time) {
  batch b;
  auto m = test::seed_metric();
  m.value = 666;
  m.timestamp_ms = clock_.now_ms() + 3'500'000;
  b.items.emplace_back(0, m);
  auto r = submit(std::move(b));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->accepted, 1u);
  ASSERT_EQ(producer_.sent.size(), 1u);
  auto decoded = avro::decode(avro::unframe(producer_.sent[0].value)->body);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->timestamp_ms, clock_.now_ms());
  EXPECT_EQ(ingest_.stats().clamped, 1u);
}

class ingest_admission_test : public ingest_test {
 protected:
  series_admission admission_{{.store = {.max_series = 100, .max_series_per_app = 2}}};
  ingest with_admission_{model::limits{}, *registry_, producer_, clock_, &admission_};

  util::result<outcome> submit_admitted(batch b) {
    return submit_to(with_admission_, std::move(b));
  }
};

INSTANTIATE_TEST_SUITE_P(callback_on, ingest_admission_test, kCallbackThreads, thread_name);

TEST_P(ingest_admission_test, series_the_store_would_refuse_are_rejected_in_the_answer) {
  batch b;
  for (int i = 0; i < 4; ++i) {
    auto m = test::seed_metric();
    m.name = "m" + std::to_string(i);
    b.items.emplace_back(i, m);
  }
  auto r = submit_admitted(std::move(b));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->accepted, 2u);
  ASSERT_EQ(r->rejected.size(), 2u);
  EXPECT_EQ(r->rejected[0].index, 2u);
  EXPECT_EQ(r->rejected[0].field, "series");
  EXPECT_EQ(producer_.sent.size(), 2u);
  EXPECT_EQ(with_admission_.stats().rejected, 2u);
}

TEST_P(ingest_admission_test, every_admitted_record_is_keyed_by_its_series) {
  // Admitted items before and after a refused one: each keeps its own key, so one series always
  // lands on one partition.
  batch b;
  for (int i = 0; i < 4; ++i) {
    auto m = test::seed_metric();
    m.name = i == 1 ? "m0" : "m" + std::to_string(i);  // items 0 and 1: one series
    b.items.emplace_back(i, m);
  }
  auto r = submit_admitted(std::move(b));
  ASSERT_TRUE(r);
  ASSERT_EQ(producer_.sent.size(), 3u);  // m0, m0, m2 (m3 is a third series: refused)
  for (const auto& msg : producer_.sent) EXPECT_FALSE(msg.key.empty());
  auto m = test::seed_metric();
  m.name = "m0";
  EXPECT_EQ(producer_.sent[0].key, model::series_key("my-app", m));
  EXPECT_EQ(producer_.sent[1].key, model::series_key("my-app", m));
  m.name = "m2";
  EXPECT_EQ(producer_.sent[2].key, model::series_key("my-app", m));
}

// Over the embedded log, keys and frames are written into the strings of records it consumed
// (transport::producer::spare_messages): every record must be byte for byte what a fresh message
// would hold, whatever the reused one held before (longer keys, longer frames, other apps), also
// when admission refuses items in the middle of a batch.
TEST(ingest_over_reused_messages, produces_exactly_the_records_of_fresh_messages) {
  auto schema = avro::schema::load_metric_schema(test::schema_file()).value();
  auto registry = registry::make_embedded(
      schema, avro::schema::load_typed_metric_schema(test::schema_v2_file()).value());
  util::manual_clock clock(1'700'000'000'000);
  const admission_limits limits{.store = {.max_series = 100, .max_series_per_app = 8}};

  auto log = transport::embedded::make_embedded_transport(1000);
  test::recording_handler consumed;
  log.cons->start(consumed);
  series_admission reused_admission{limits};
  ingest reused(model::limits{}, *registry, *log.prod, clock, &reused_admission);

  test::fake_producer fresh_producer;
  series_admission fresh_admission{limits};
  ingest fresh(model::limits{}, *registry, fresh_producer, clock, &fresh_admission);

  // Long strings first, then shorter and longer ones, more and fewer items, two apps, a counter,
  // and series past the app's cap (refused between admitted items).
  const std::size_t lengths[] = {200, 3, 90, 1, 40, 120};
  const std::size_t sizes[] = {5, 7, 2, 9, 4, 6};
  std::size_t expected = 0;
  for (std::size_t round = 0; round < std::size(lengths); ++round) {
    batch b;
    for (std::size_t i = 0; i < sizes[round]; ++i) {
      auto m = test::seed_metric();
      m.name = "m" + std::to_string(i % 3) + std::string(lengths[round] / 4, 'n');
      m.tags = {{"host", std::string(lengths[round], static_cast<char>('a' + i))}};
      if (i == 2) m.type = model::metric_type::counter;
      m.value = static_cast<double>(round * 10 + i);
      b.items.emplace_back(i, m);
    }
    const char* app = round % 2 == 0 ? "app-with-a-longer-name" : "a";
    answer a_reused, a_fresh;
    reused.submit(app, b, a_reused.callback());
    fresh.submit(app, std::move(b), a_fresh.callback());
    auto r = a_reused.get();
    auto f = a_fresh.get();
    ASSERT_TRUE(r && f);
    EXPECT_EQ(r->accepted, f->accepted);
    ASSERT_EQ(r->rejected.size(), f->rejected.size());
    for (std::size_t i = 0; i < r->rejected.size(); ++i)
      EXPECT_EQ(r->rejected[i].index, f->rejected[i].index);
    expected += r->accepted;
    ASSERT_TRUE(consumed.wait_for_records(expected));
    // Until the log has handed the records back, so the next round writes over them.
    for (int i = 0; i < 5000 && log.prod->stats().queue_depth != 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  log.cons->stop();
  const auto records = consumed.records();
  ASSERT_EQ(records.size(), fresh_producer.sent.size());
  EXPECT_GT(records.size(), 10u);
  EXPECT_LT(records.size(), 33u);  // some were refused
  for (std::size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].key, fresh_producer.sent[i].key) << i;
    EXPECT_EQ(records[i].value, fresh_producer.sent[i].value) << i;
    EXPECT_EQ(records[i].app_id, fresh_producer.sent[i].app_id) << i;
    EXPECT_EQ(records[i].timestamp_ms, fresh_producer.sent[i].timestamp_ms) << i;
  }
}

TEST_P(ingest_admission_test, a_batch_the_transport_refuses_leaves_no_series_counted) {
  producer_.behaviour = test::fake_producer::mode::fail;
  batch b;
  b.items.emplace_back(0, test::seed_metric());
  EXPECT_FALSE(submit_admitted(std::move(b)));
  EXPECT_EQ(admission_.stats().series, 0u);
}

TEST_P(ingest_admission_test, colliding_names_are_rejected_with_field_name) {
  batch b;
  for (const char* name : {"cpu.usage", "cpu_usage", "cpu-usage"}) {
    auto m = test::seed_metric();
    m.name = name;
    b.items.emplace_back(b.items.size(), m);
  }
  auto r = submit_admitted(std::move(b));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->accepted, 1u);
  ASSERT_EQ(r->rejected.size(), 2u);
  EXPECT_EQ(r->rejected[0].field, "name");
  EXPECT_EQ(r->rejected[1].field, "name");
}

// Ingest groups the valid items by name and hands admission that grouping: with an invalid item
// first (valid items' positions differ from their request indexes) and more than eight items,
// names interleaved, each refusal still names the right item and each record its own series.
TEST_P(ingest_test, admission_gets_each_items_own_name_group) {
  series_admission admission({});
  ingest in(model::limits{}, *registry_, producer_, clock_, &admission);
  batch b;
  auto bad = test::seed_metric();
  bad.name = "";
  b.items.emplace_back(0, bad);
  const std::vector<std::pair<const char*, model::metric_type>> items = {
      {"a", model::metric_type::gauge},   {"b", model::metric_type::gauge},
      {"a", model::metric_type::gauge},   {"b", model::metric_type::counter},
      {"x.y", model::metric_type::gauge}, {"x_y", model::metric_type::gauge},
      {"c", model::metric_type::counter}, {"b", model::metric_type::counter},
      {"c", model::metric_type::counter}, {"a", model::metric_type::gauge},
      {"x_y", model::metric_type::gauge}, {"d", model::metric_type::gauge}};
  for (const auto& [name, type] : items) {
    auto m = test::seed_metric();
    m.name = name;
    m.type = type;
    m.tags = {{"i", std::to_string(b.items.size())}};
    b.items.emplace_back(b.items.size(), m);
  }
  auto r = submit_to(in, std::move(b));
  ASSERT_TRUE(r);
  std::vector<std::string> rejected;
  for (const auto& e : r->rejected) rejected.push_back(std::to_string(e.index) + " " + e.field);
  // 0: no name; 4 and 8: "b" as a counter after the gauge; 6 and 11: "x_y" spelt like "x.y".
  EXPECT_EQ(rejected,
            (std::vector<std::string>{"0 name", "4 type", "6 name", "8 type", "11 name"}));
  EXPECT_EQ(r->accepted, 8u);
  ASSERT_EQ(producer_.sent.size(), 8u);
  std::size_t k = 0;
  for (std::size_t index : {1, 2, 3, 5, 7, 9, 10, 12}) {
    auto m = test::seed_metric();
    m.name = items[index - 1].first;
    m.tags = {{"i", std::to_string(index)}};
    EXPECT_EQ(producer_.sent[k++].key, model::series_key("my-app", m)) << index;
  }
}

std::string hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

// The seed example as the service has always produced it (tags sorted by key): magic byte 0,
// schema id 1 (the embedded registry's v1), then the seed schema's record. Written out by hand
// from the Avro spec, so it pins the bytes independently of the codec.
constexpr std::string_view kSeedGaugeFrameHex =
    "00"
    "00000001"
    "12"
    "6370755f7573616765"  // name "cpu_usage"
    "0000000000e05240"    // value 75.5, little-endian double
    "80f0fcaec25f"        // timestamp 1640995200000, zigzag varint
    "04"                  // one map block of 2 entries
    "16656e7669726f6e6d656e74"
    "1470726f64756374696f6e"  // environment: production
    "08686f7374"
    "0e73657276657231"    // host: server1
    "00"                  // end of the map
    "10757365722d313233"  // profileId "user-123"
    ;

TEST_P(ingest_test, a_gauge_is_produced_byte_for_byte_as_the_seed_record_with_the_v1_id) {
  for (bool explicit_type : {false, true}) {
    producer_.sent.clear();
    batch b;
    auto m = test::seed_metric();
    if (explicit_type) m.type = model::metric_type::gauge;
    b.items.emplace_back(0, m);
    ASSERT_TRUE(submit(std::move(b)));
    ASSERT_EQ(producer_.sent.size(), 1u);
    EXPECT_EQ(hex(producer_.sent[0].value), kSeedGaugeFrameHex);
  }
}

TEST_P(ingest_test, counters_and_histograms_are_framed_with_the_v2_id_and_body) {
  batch b;
  auto g = test::seed_metric();
  auto c = test::seed_metric();
  c.type = model::metric_type::counter;
  c.name = "requests";
  auto h = test::seed_metric();
  h.type = model::metric_type::histogram;
  h.name = "latency";
  b.items.emplace_back(0, g);
  b.items.emplace_back(1, c);
  b.items.emplace_back(2, h);
  auto r = submit(std::move(b));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->accepted, 3u);
  ASSERT_EQ(producer_.sent.size(), 3u);
  EXPECT_EQ(hex(producer_.sent[0].value), kSeedGaugeFrameHex);
  for (std::size_t i = 1; i < 3; ++i) {
    const auto& want = i == 1 ? c : h;
    auto framed = avro::unframe(producer_.sent[i].value);
    ASSERT_TRUE(framed);
    EXPECT_EQ(framed->id.value, registry::kEmbeddedV2Id.value);
    // v2's body: v1's, then the type string.
    auto m = want;
    model::normalise(m);
    std::string v1_body;
    avro::encode(m, v1_body);
    const std::string type(model::to_string(want.type));
    EXPECT_EQ(framed->body, v1_body + static_cast<char>(type.size() * 2) + type);
    EXPECT_EQ(avro::decode(framed->body, avro::wire_schema::v2).value(), m);
  }
}

}  // namespace
}  // namespace mca::pipeline
