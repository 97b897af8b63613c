#include "auth/rate_limit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace mca::auth {
namespace {

using namespace std::chrono_literals;

// A clock the test moves by hand.
struct fake_clock {
  std::shared_ptr<std::atomic<std::int64_t>> ns = std::make_shared<std::atomic<std::int64_t>>(1);
  clock_ns fn() const {
    return [ns = ns] { return ns->load(); };
  }
  void advance(std::chrono::nanoseconds d) const { ns->fetch_add(d.count()); }
};

int admitted(bucket_table& t, std::string_view key, int n) {
  int ok = 0;
  for (int i = 0; i < n; ++i) ok += t.take(key).admitted ? 1 : 0;
  return ok;
}

TEST(auth_bucket, admits_a_burst_of_one_seconds_worth_then_refuses) {
  fake_clock c;
  bucket_table t(10, 100, c.fn());
  EXPECT_EQ(t.burst(), 10);
  EXPECT_EQ(admitted(t, "a", 100), 10);
}

TEST(auth_bucket, with_ten_per_second_refuses_at_least_half_of_100_back_to_back_requests) {
  fake_clock c;
  bucket_table t(10, 100, c.fn());
  int refused = 0;
  for (int i = 0; i < 100; ++i) {
    refused += t.take("a").admitted ? 0 : 1;
    c.advance(20ms);  // 100 requests over two seconds: the burst of 10, then about 20 more
  }
  EXPECT_GE(refused, 50);
  EXPECT_LE(refused, 72);
}

TEST(auth_bucket, refills_at_the_rate) {
  fake_clock c;
  bucket_table t(10, 100, c.fn());
  EXPECT_EQ(admitted(t, "a", 10), 10);
  EXPECT_FALSE(t.take("a").admitted);
  c.advance(100ms);
  EXPECT_TRUE(t.take("a").admitted);
  EXPECT_FALSE(t.take("a").admitted);
  c.advance(10s);  // never more than the burst
  EXPECT_EQ(admitted(t, "a", 100), 10);
}

TEST(auth_bucket, tells_how_long_to_wait_in_whole_seconds_at_least_one) {
  fake_clock c;
  bucket_table slow(0.25, 100, c.fn());  // one token per 4 s; burst at least 1
  EXPECT_EQ(slow.burst(), 1);
  EXPECT_TRUE(slow.take("a").admitted);
  auto r = slow.take("a");
  EXPECT_FALSE(r.admitted);
  EXPECT_EQ(r.retry_after, 4s);
  bucket_table fast(1000, 100, c.fn());
  admitted(fast, "a", 1000);
  EXPECT_EQ(fast.take("a").retry_after, 1s);
}

TEST(auth_bucket, keys_are_independent) {
  fake_clock c;
  bucket_table t(2, 100, c.fn());
  EXPECT_EQ(admitted(t, "a", 5), 2);
  EXPECT_EQ(admitted(t, "b", 5), 2);
}

TEST(auth_bucket, a_batch_larger_than_the_burst_passes_from_a_full_bucket_and_is_paid_back) {
  fake_clock c;
  bucket_table t(100, 10, c.fn());
  EXPECT_TRUE(t.take("app", 1000).admitted);  // 10 s of metrics at once, from a full bucket
  auto r = t.take("app", 1);
  EXPECT_FALSE(r.admitted);
  EXPECT_EQ(r.retry_after, 10s);  // the debt of 900 plus the one asked for, at 100/s
  c.advance(9s);
  EXPECT_FALSE(t.take("app", 1).admitted);
  c.advance(1s);
  EXPECT_TRUE(t.take("app", 1).admitted);
}

TEST(auth_bucket, a_refused_request_takes_nothing) {
  fake_clock c;
  bucket_table t(1, 10, c.fn());
  EXPECT_TRUE(t.take("a").admitted);
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(t.take("a").admitted);
  c.advance(1s);
  EXPECT_TRUE(t.take("a").admitted);
}

TEST(auth_bucket_table, holds_at_most_its_bound_however_many_keys_arrive) {
  fake_clock c;
  bucket_table t(1, 100, c.fn());
  for (int i = 0; i < 100; ++i) t.take("client-" + std::to_string(i));
  EXPECT_EQ(t.size(), 100u);  // at the bound
  EXPECT_EQ(t.evictions(), 0u);
  t.take("client-100");  // just past it
  EXPECT_EQ(t.size(), 100u);
  EXPECT_EQ(t.evictions(), 1u);
  for (int i = 101; i < 10'000; ++i) t.take("client-" + std::to_string(i));
  EXPECT_EQ(t.size(), 100u);
}

TEST(auth_bucket_table, evicts_the_least_recently_used) {
  fake_clock c;
  bucket_table t(1, 2, c.fn());
  EXPECT_TRUE(t.take("a").admitted);
  EXPECT_TRUE(t.take("b").admitted);
  EXPECT_FALSE(t.take("a").admitted);  // a is now the most recent
  EXPECT_TRUE(t.take("c").admitted);   // evicts b
  EXPECT_FALSE(t.take("a").admitted);  // a kept its empty bucket
  EXPECT_TRUE(t.take("b").admitted);   // b starts again
}

TEST(auth_bucket_table, forgets_buckets_that_have_refilled_without_counting_an_eviction) {
  fake_clock c;
  bucket_table t(10, 1000, c.fn());
  for (int i = 0; i < 100; ++i) t.take("client-" + std::to_string(i));
  EXPECT_EQ(t.size(), 100u);
  c.advance(1s);  // every bucket is full again: each later call drops one
  for (int i = 0; i < 200; ++i) t.take("steady");
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.evictions(), 0u);
}

TEST(auth_bucket_table, is_safe_from_many_threads) {
  bucket_table t(1'000'000, 64);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int th = 0; th < 4; ++th) {
    threads.emplace_back([&, th] {
      for (int i = 0; i < 20'000; ++i) {
        ok += t.take("k" + std::to_string((i * 7 + th) % 200)).admitted ? 1 : 0;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(t.size(), 64u);
  EXPECT_GT(ok.load(), 0);
}

}  // namespace
}  // namespace mca::auth
