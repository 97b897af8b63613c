#include "pipeline/series_table.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <unordered_map>
#include <vector>

namespace mca::pipeline {
namespace {

using table = series_table<int>;

// `n` keys whose probes start at index entry `home` of a table with `t`'s capacity.
std::vector<std::uint64_t> keys_at(const table& t, std::size_t home, std::size_t n) {
  std::vector<std::uint64_t> out;
  for (std::uint64_t k = 1; out.size() < n; ++k)
    if (t.home(k) == home) out.push_back(k);
  return out;
}

TEST(series_table, finds_what_it_holds_and_nothing_else) {
  table t(42);
  EXPECT_EQ(t.find(7), table::npos);  // empty, no index yet
  EXPECT_EQ(t.capacity(), 0u);
  const auto a = t.insert(0);
  const auto b = t.insert(UINT64_MAX);
  t[a] = 1;
  t[b] = 2;
  EXPECT_EQ(t.find(0), a);
  EXPECT_EQ(t.find(UINT64_MAX), b);
  EXPECT_EQ(t.find(1), table::npos);
  EXPECT_EQ(t.key(b), UINT64_MAX);
  EXPECT_EQ(t[t.find(0)], 1);
  EXPECT_EQ(t.size(), 2u);
}

TEST(series_table, holds_three_quarters_of_its_index_and_doubles_past_it_keeping_ids) {
  table t(1);
  std::vector<std::uint32_t> ids;
  for (std::uint64_t k = 0; k < 12; ++k) {
    ids.push_back(t.insert(k * 1000));
    t[ids.back()] = static_cast<int>(k);
  }
  EXPECT_EQ(t.capacity(), 16u);  // 12 of 16: at the bound
  ids.push_back(t.insert(12'000));
  t[ids.back()] = 12;
  EXPECT_EQ(t.capacity(), 32u);  // the 13th doubles it
  for (std::uint64_t k = 0; k < 13; ++k) {
    EXPECT_EQ(t.find(k * 1000), ids[k]);  // the same ids after growth
    EXPECT_EQ(t[ids[k]], static_cast<int>(k));
  }
  for (std::uint64_t k = 13; k < 24; ++k) t.insert(k * 1000);
  EXPECT_EQ(t.capacity(), 32u);  // 24 of 32
  t.insert(24'000);
  EXPECT_EQ(t.capacity(), 64u);
  EXPECT_EQ(t.size(), 25u);
}

TEST(series_table, erasing_inside_a_run_of_collisions_keeps_the_rest_findable) {
  table t(7);
  t.insert(999'999);  // makes the index (16 entries)
  ASSERT_EQ(t.capacity(), 16u);
  // A run that wraps from the last entry to the first, and keys homed inside it.
  const auto last = keys_at(t, 15, 4);
  const auto first = keys_at(t, 0, 2);
  std::vector<std::uint32_t> ids;
  for (auto k : last) ids.push_back(t.insert(k));
  for (auto k : first) ids.push_back(t.insert(k));
  ASSERT_EQ(t.capacity(), 16u);
  t.erase(ids[1]);  // the middle of the wrapped run
  EXPECT_EQ(t.find(last[1]), table::npos);
  for (std::size_t i : {0, 2, 3}) EXPECT_EQ(t.find(last[i]), ids[i]);
  for (std::size_t i : {0, 1}) EXPECT_EQ(t.find(first[i]), ids[4 + i]);
  t.erase(ids[0]);  // the run's head
  for (std::size_t i : {2, 3}) EXPECT_EQ(t.find(last[i]), ids[i]);
  for (std::size_t i : {0, 1}) EXPECT_EQ(t.find(first[i]), ids[4 + i]);
  EXPECT_EQ(t.size(), 5u);
}

TEST(series_table, erased_ids_are_reused_and_not_held_meanwhile) {
  table t(3);
  const auto a = t.insert(10);
  const auto b = t.insert(20);
  t[a] = 5;
  t.erase(a);
  EXPECT_FALSE(t.held(a));
  EXPECT_TRUE(t.held(b));
  EXPECT_FALSE(t.held(t.end()));
  EXPECT_EQ(t.find(10), table::npos);
  const auto c = t.insert(30);
  EXPECT_EQ(c, a);     // the freed id
  EXPECT_EQ(t[c], 0);  // value-initialised, not the erased value
  EXPECT_EQ(t.find(30), c);
  std::size_t held = 0;
  for (std::uint32_t id = 0; id < t.end(); ++id) held += t.held(id);
  EXPECT_EQ(held, t.size());
}

TEST(series_table, the_seed_moves_where_keys_land) {
  table a(1), b(2);
  for (std::uint64_t k = 0; k < 12; ++k) {
    a.insert(k);
    b.insert(k);
  }
  int differ = 0;
  for (std::uint64_t k = 0; k < 64; ++k) differ += a.home(k) != b.home(k);
  EXPECT_GT(differ, 32);
}

// Random inserts, erases and finds over a small key space (long probe runs, many backward
// shifts) against std::unordered_map.
TEST(series_table, agrees_with_a_reference_map_under_random_inserts_and_erases) {
  std::mt19937_64 rng(12345);
  table t(rng());
  std::unordered_map<std::uint64_t, std::uint32_t> ref;
  for (int step = 0; step < 200'000; ++step) {
    const std::uint64_t k = rng() % 3000;
    const auto id = t.find(k);
    const auto it = ref.find(k);
    ASSERT_EQ(id == table::npos, it == ref.end()) << "step " << step;
    if (it != ref.end()) {
      ASSERT_EQ(id, it->second);
    }
    if (rng() % 3 == 0 && it != ref.end()) {
      t.erase(id);
      ref.erase(it);
    } else if (it == ref.end()) {
      ref[k] = t.insert(k);
      t[ref[k]] = static_cast<int>(k);
    }
  }
  ASSERT_EQ(t.size(), ref.size());
  for (const auto& [k, id] : ref) {
    ASSERT_TRUE(t.held(id));
    ASSERT_EQ(t.key(id), k);
    ASSERT_EQ(t[id], static_cast<int>(k));
  }
}

}  // namespace
}  // namespace mca::pipeline
