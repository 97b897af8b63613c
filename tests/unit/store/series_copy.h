// What a store walk shows, copied out of the visit: the unit tests compare walks as values.
#pragma once

#include "store/series_store.h"

namespace mca::store::test {

// A copy of one visited series (the walk does not show the original tags: `tags` stays empty).
inline series copy_of(const series_view& v) {
  series s;
  s.app_id = v.app_id;
  s.exposition_name = v.exposition_name;
  s.original_name = v.original_name;
  for (const auto& [name, value] : v.labels) s.labels.emplace_back(name, value);
  s.value = v.value;
  s.timestamp_ms = v.timestamp_ms;
  s.ingest_ms = v.ingest_ms;
  s.profile_id = v.profile_id;
  s.partition = v.partition;
  return s;
}

}  // namespace mca::store::test
