// The previous series store, kept as a test oracle and benchmark baseline: same contract as
// store::series_store (see src/store/series_store.h), a std::set per shard, labels and names
// sanitised on every apply. The differential test (tests/unit/store) feeds both the same inputs
// and compares everything they expose.
#pragma once

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "store/series_store.h"

namespace mca::store {

class reference_store {
 public:
  reference_store(store_limits limits, const util::clock& clock);
  ~reference_store();
  reference_store(const reference_store&) = delete;
  reference_store& operator=(const reference_store&) = delete;

  apply_result apply(std::string_view app_id, const model::metric& m, std::int32_t partition,
                     std::int64_t ingest_ms);
  std::size_t drop_partition(std::int32_t partition);
  std::size_t expire();
  std::vector<series> app_series(std::string_view app_id) const;
  void for_each_sorted(const std::function<void(const series&)>& visit) const;
  store_stats stats() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace mca::store
