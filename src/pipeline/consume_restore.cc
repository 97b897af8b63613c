// The consume handler's side of the changelog (transport.h: on_restore, on_snapshot,
// on_snapshot_failed): aggregate states of the store, encoded by aggregate_codec.h, keyed by
// model::series_key. Runs on the consumer thread like on_record.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "pipeline/aggregate_codec.h"
#include "pipeline/consume.h"

namespace mca::pipeline {

transport::restore_result consume::on_restore(std::int32_t partition,
                                              std::span<const transport::changelog_entry> entries,
                                              std::int64_t floor) {
  std::vector<store::aggregate_state> states;
  states.reserve(entries.size());
  std::size_t unreadable = 0;
  for (const auto& e : entries) {
    auto s = decode_state(e.value);
    if (s && (s->partition != partition || model::series_key(s->app_id, s->metric) != e.key)) {
      s = util::error(state_errc::invalid, "key or partition does not match the state");
    }
    if (!s) {
      ++unreadable;
      spdlog::warn(
          "consumer: partition {}: unreadable changelog state ({}), its series is "
          "rebuilt from the partition's records",
          partition, s.error().message);
      continue;
    }
    states.push_back(std::move(*s));
  }
  unreadable_states_.fetch_add(unreadable, std::memory_order_relaxed);
  restored_states_.fetch_add(states.size(), std::memory_order_relaxed);
  transport::restore_result r;
  // A state that could not be read is a series the floor would wrongly skip: without it, every
  // record of the partition counts again for series the store does not hold (floor 0, from the
  // beginning); the states read still skip what they include.
  if (unreadable > 0) {
    floor = 0;
    r.replay_from = 0;
  }
  // A restored state's records from its next offset on must be replayed. Past the TTL the store
  // skips the state, so its offset asks for nothing.
  const std::int64_t live_since = aggregate_ttl_ms_ > 0 ? clock_->now_ms() - aggregate_ttl_ms_ : 0;
  for (const auto& s : states) {
    if (aggregate_ttl_ms_ > 0 && s.ingest_ms < live_since) continue;
    if (r.replay_from < 0 || s.next_offset < r.replay_from) r.replay_from = s.next_offset;
  }
  store_.restore(partition, states, floor);
  return r;
}

std::vector<transport::changelog_write> consume::on_snapshot(std::int32_t partition) {
  std::vector<transport::changelog_write> out;
  // Tombstones first: a series that expired and came back within one interval ends up with its
  // new state, not deleted.
  for (auto& key : store_.take_expired(partition)) out.push_back({std::move(key), std::nullopt});
  for (const auto& s : store_.take_dirty(partition))
    out.push_back({model::series_key(s.app_id, s.metric), encode_state(s)});
  return out;
}

void consume::on_snapshot_failed(std::int32_t partition) { store_.mark_all_dirty(partition); }

}  // namespace mca::pipeline
