#include "reference/render_reference.h"

#include <functional>
#include <vector>

namespace mca::store {

void render_reference(const reference_store& store, const exposition::render_options& options,
                      std::string& out) {
  std::vector<label_view> labels;
  exposition::render_series(
      [&](const std::function<void(const series_view&)>& visit) {
        store.for_each_sorted([&](const series& s) {
          labels.clear();
          for (const auto& [k, v] : s.labels) labels.emplace_back(k, v);
          visit(series_view{s.app_id, s.exposition_name, s.original_name, labels, s.value,
                            s.timestamp_ms, s.ingest_ms, s.profile_id, s.partition});
        });
      },
      options, out);
}

}  // namespace mca::store
