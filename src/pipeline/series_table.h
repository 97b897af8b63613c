// The admission's per-app series record: values keyed by a 64-bit series hash, held in a vector
// of nodes whose index (the id) stays the same until the node is erased, whatever is inserted or
// erased meanwhile, so a ticket can hold ids and settle() reaches its entries without a look-up.
// The ids are indexed by the store's open-addressing table (store/id_table.h: linear probing,
// 8 bytes per entry, at most 3/4 full, doubling past that, no tombstones). Erased ids are reused
// by later inserts.
//
// The index's 32-bit hash mixes the key with a seed (random per admission): the keys are
// std::hash of client-chosen series keys, so without it a client could aim many series at one
// probe run.
//
// Bounds: at most 2^32 - 2 values (ids are 32-bit; insert() throws std::length_error past that).
// Not thread-safe (the admission's mutex guards it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "store/id_table.h"

namespace mca::pipeline {

template <class V>
class series_table {
 public:
  static constexpr std::uint32_t npos = store::id_table::npos;
  static constexpr std::size_t max_size = npos - 1;

  explicit series_table(std::uint64_t seed = 0) : seed_(seed) {}

  // The id holding `key`, npos when none.
  std::uint32_t find(std::uint64_t key) const {
    return index_.find(hash(key), [&](std::uint32_t id) { return nodes_[id].key == key; });
  }

  // A new value-initialised value for `key`, which the table must not hold; its id.
  std::uint32_t insert(std::uint64_t key) {
    if (index_.size() >= max_size) throw std::length_error("series_table: too many values");
    std::uint32_t id;
    if (!free_.empty()) {
      id = free_.back();
      free_.pop_back();
      nodes_[id] = node{key, true, V{}};
    } else {
      id = static_cast<std::uint32_t>(nodes_.size());
      nodes_.push_back(node{key, true, V{}});
    }
    index_.insert(hash(key), id);
    return id;
  }

  // Erases the value of `id` (held); the id may be handed out again by insert().
  void erase(std::uint32_t id) {
    index_.erase(hash(nodes_[id].key), id);
    nodes_[id] = node{};
    free_.push_back(id);
  }

  V& operator[](std::uint32_t id) { return nodes_[id].value; }
  const V& operator[](std::uint32_t id) const { return nodes_[id].value; }
  std::uint64_t key(std::uint32_t id) const { return nodes_[id].key; }
  // Whether `id` holds a value. Ids are below end(): walk them with held() to visit every value.
  bool held(std::uint32_t id) const { return id < nodes_.size() && nodes_[id].used; }
  std::uint32_t end() const { return static_cast<std::uint32_t>(nodes_.size()); }

  std::size_t size() const { return index_.size(); }
  bool empty() const { return index_.size() == 0; }
  // Entries of the index (a power of two, 0 before the first insert).
  std::size_t capacity() const { return index_.capacity(); }
  // The index entry where a probe for `key` starts (for tests: keys that collide).
  std::size_t home(std::uint64_t key) const {
    return capacity() == 0 ? 0 : hash(key) & (capacity() - 1);
  }

 private:
  struct node {
    std::uint64_t key = 0;
    bool used = false;
    V value{};
  };

  std::uint32_t hash(std::uint64_t key) const {
    const unsigned __int128 r = static_cast<unsigned __int128>(key ^ seed_) * 0x9E3779B97F4A7C15ull;
    const auto h = static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
    return static_cast<std::uint32_t>(h ^ (h >> 32));
  }

  std::uint64_t seed_;
  std::vector<node> nodes_;
  std::vector<std::uint32_t> free_;
  store::id_table index_;
};

}  // namespace mca::pipeline
