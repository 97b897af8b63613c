// Records the largest single heap allocation made while a probe is active, so tests can show a
// hostile length prefix is never turned into an allocation. The global operator new/delete
// replacement lives in decoder_robustness_test.cc (one per binary).
#pragma once

#include <atomic>
#include <cstddef>

namespace mca::avro::test {

struct alloc_stats {
  std::atomic<bool> active{false};
  std::atomic<std::size_t> largest{0};
};
alloc_stats& allocations();

// RAII: records allocations from construction to destruction.
class alloc_probe {
 public:
  alloc_probe() {
    allocations().largest = 0;
    allocations().active = true;
  }
  ~alloc_probe() { allocations().active = false; }
  std::size_t largest() const { return allocations().largest.load(); }
};

}  // namespace mca::avro::test
