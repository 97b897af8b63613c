// The index of the store's slots and of the admission's series record (pipeline/series_table.h):
// it holds ids, not values, so what it indexes keeps its place when the table grows or erases.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#define MCA_ID_TABLE_HOT inline __attribute__((always_inline))

namespace mca::store {

// Open addressing with linear probing over (id, 32-bit hash) pairs; the caller says whether an id
// is the one it looks for. Deletion shifts the following entries back, so there are no
// tombstones. 8 bytes per entry, at most 3/4 full.
class id_table {
 public:
  static constexpr std::uint32_t npos = std::numeric_limits<std::uint32_t>::max();

  // Fetches the entries where `hash` would be found into the cache.
  MCA_ID_TABLE_HOT void prefetch(std::uint32_t hash) const {
    if (!entries_.empty()) __builtin_prefetch(&entries_[hash & (entries_.size() - 1)]);
  }
  // The first id held under `hash` (a candidate only: not compared), npos when none.
  MCA_ID_TABLE_HOT std::uint32_t first(std::uint32_t hash) const {
    if (entries_.empty()) return npos;
    const std::size_t mask = entries_.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
      const entry& e = entries_[i];
      if (e.id == npos || e.hash == hash) return e.id;
    }
  }
  template <class Eq>
  MCA_ID_TABLE_HOT std::uint32_t find(std::uint32_t hash, Eq&& eq) const {
    if (entries_.empty()) return npos;
    const std::size_t mask = entries_.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
      const entry& e = entries_[i];
      if (e.id == npos) return npos;
      if (e.hash == hash && eq(e.id)) return e.id;
    }
  }
  void insert(std::uint32_t hash, std::uint32_t id) {
    if ((size_ + 1) * 4 > entries_.size() * 3) grow();
    const std::size_t mask = entries_.size() - 1;
    std::size_t i = hash & mask;
    while (entries_[i].id != npos) i = (i + 1) & mask;
    entries_[i] = {id, hash};
    ++size_;
  }
  void erase(std::uint32_t hash, std::uint32_t id) {
    if (entries_.empty()) return;
    const std::size_t mask = entries_.size() - 1;
    std::size_t i = hash & mask;
    for (;; i = (i + 1) & mask) {
      if (entries_[i].id == npos) return;  // not there
      if (entries_[i].id == id && entries_[i].hash == hash) break;
    }
    for (std::size_t j = i;;) {
      j = (j + 1) & mask;
      if (entries_[j].id == npos) break;
      const std::size_t home = entries_[j].hash & mask;
      // Entry j may move to the hole at i unless its home lies cyclically in (i, j].
      const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (stays) continue;
      entries_[i] = entries_[j];
      i = j;
    }
    entries_[i] = entry{};
    --size_;
  }
  std::size_t size() const { return size_; }
  // Entries (a power of two, 0 before the first insert).
  std::size_t capacity() const { return entries_.size(); }

 private:
  struct entry {
    std::uint32_t id = npos;
    std::uint32_t hash = 0;
  };
  void grow() {
    std::vector<entry> old(std::max<std::size_t>(16, entries_.size() * 2));
    old.swap(entries_);
    const std::size_t mask = entries_.size() - 1;
    for (const entry& e : old) {
      if (e.id == npos) continue;
      std::size_t i = e.hash & mask;
      while (entries_[i].id != npos) i = (i + 1) & mask;
      entries_[i] = e;
    }
  }
  std::vector<entry> entries_;
  std::size_t size_ = 0;
};

}  // namespace mca::store

#undef MCA_ID_TABLE_HOT
