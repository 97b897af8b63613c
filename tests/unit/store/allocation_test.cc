// The write path of a held series allocates nothing: it is found by the hash of its spelling,
// without sanitising the name or building its labels (which cost an allocation per label and
// per name on every apply before). Counts every operator new of this test binary while enabled.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "store/series_store.h"

namespace {
std::atomic<bool> counting{false};
std::atomic<std::size_t> allocations{0};
}  // namespace

// Every replaceable form this binary can reach (the nothrow one serves std::stable_sort's
// buffer), so what is allocated here is always freed here (ASan checks that it matches).
void* counted_new(std::size_t n) noexcept {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}
void* operator new(std::size_t n) {
  if (void* p = counted_new(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = counted_new(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_new(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace mca::store {
namespace {

TEST(series_store_allocation, updating_a_held_series_allocates_nothing) {
  util::manual_clock clock;
  series_store store({.max_series = 100, .max_series_per_app = 100, .ttl_ms = 60'000}, clock);
  // A spelling that sanitising changes (name and keys), tags out of label order.
  model::metric m{"http.requests-total", 1, 1000, {{"z-zone", "eu"}, {"a.host", "server1"}}, "p"};
  model::metric plain{"cpu_usage", 1, 1000, {{"host", "server1"}}, "p"};
  ASSERT_EQ(store.apply("app", m, 0, clock.now_ms()), apply_result::inserted);
  ASSERT_EQ(store.apply("app", plain, 0, clock.now_ms()), apply_result::inserted);
  const sample batch[] = {{"app", &m, 0, clock.now_ms()}, {"app", &plain, 0, clock.now_ms()}};

  counting = true;
  for (int i = 0; i < 100; ++i) {
    m.timestamp_ms = plain.timestamp_ms = 2000 + i;
    store.apply("app", m, 0, clock.now_ms());
    store.apply("app", plain, 1, clock.now_ms());
    store.apply_batch(batch);
  }
  counting = false;
  EXPECT_EQ(allocations.load(), 0u);
  EXPECT_EQ(store.stats().series, 2u);
}

}  // namespace
}  // namespace mca::store
