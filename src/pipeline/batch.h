// What goes into the ingest path and what comes out of it: a parsed batch and its outcome. The
// API builds the one and answers the other (through pipeline/front.h); ingest.h does the work.
#pragma once

#include <cstddef>
#include <functional>
#include <utility>
#include <vector>

#include "model/metric.h"
#include "util/result.h"

namespace mca::pipeline {

// A parsed batch: items that parsed (index = position in the request) and items that did not.
struct batch {
  std::vector<std::pair<std::size_t, model::metric>> items;
  std::vector<model::field_error> rejected;
};

// A thread's spent batch, kept for the next request parsed on that thread: its items' strings and
// tag vectors keep their capacity, so a parse that writes into them (api::parse_ingest_body)
// allocates nothing per item for a batch shaped like the last. One per thread, and only a batch
// whose strings and vectors hold at most kSpareBatchBytes (the default MAX_BODY_BYTES; a batch
// of 1,000 metrics like the benchmark's holds about 350 KiB) is kept: no client can make a thread
// hold more than that between its requests.
inline constexpr std::size_t kSpareBatchBytes = 1024 * 1024;

namespace detail {
inline thread_local batch spare_batch;
}  // namespace detail

// The thread's spare batch (empty the first time); `rejected` is empty, `items` holds the last
// batch's items, to be overwritten.
inline batch take_spare_batch() {
  batch b = std::move(detail::spare_batch);
  b.rejected.clear();
  return b;
}

// The heap bytes `b`'s items hold (their capacity), up to just past `limit`.
inline std::size_t held_bytes(const batch& b, std::size_t limit) {
  std::size_t n = b.items.capacity() * sizeof(b.items[0]);
  for (const auto& [index, m] : b.items) {
    if (n > limit) break;
    n += m.name.capacity() + m.profile_id.capacity() + m.tags.capacity() * sizeof(model::tag);
    for (const auto& [key, value] : m.tags) n += key.capacity() + value.capacity();
  }
  return n;
}

// Keeps `b` as the thread's spare (once nothing refers to its items any more), unless it holds
// more than kSpareBatchBytes: then it is freed and the next parse starts afresh.
inline void keep_spare_batch(batch&& b) {
  if (held_bytes(b, kSpareBatchBytes) <= kSpareBatchBytes) detail::spare_batch = std::move(b);
}

struct outcome {
  std::size_t accepted = 0;
  std::vector<model::field_error> rejected;  // sorted by index
};

// How a submitted batch completes: its outcome, or the transport's or registry's error.
using submit_callback = std::function<void(util::result<outcome>)>;

}  // namespace mca::pipeline
