// The series store as it was before the flat-table rewrite (std::set per shard, sanitising on
// every apply), kept unchanged as the oracle of the differential test and the baseline of the
// store micro-benchmarks. Not used by the service.
#include "reference/reference_store.h"

#include <algorithm>
#include <array>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <unordered_map>
#include <utility>

namespace mca::store {
namespace {

constexpr std::size_t shard_count = 16;

// What identifies a series, as views, so apply() can look a series up without building one.
struct identity {
  std::string_view exposition_name;
  std::string_view app_id;
  const std::vector<model::tag>* labels;
};

int compare_labels(const std::vector<model::tag>& a, const std::vector<model::tag>& b) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (int c = a[i].first.compare(b[i].first); c != 0) return c;
    if (int c = a[i].second.compare(b[i].second); c != 0) return c;
  }
  return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
}

// The exposition order: exposition_name, then app_id, then labels.
int compare(const identity& a, const identity& b) {
  if (int c = a.exposition_name.compare(b.exposition_name); c != 0) return c;
  if (int c = a.app_id.compare(b.app_id); c != 0) return c;
  return compare_labels(*a.labels, *b.labels);
}

identity identity_of(const series& s) { return {s.exposition_name, s.app_id, &s.labels}; }

// A set element. Only the sample fields are written after insertion; the identity fields the set
// is ordered by never change, which is what makes `mutable` safe here.
struct node {
  mutable series s;
};

struct node_less {
  using is_transparent = void;
  bool operator()(const node& a, const node& b) const {
    return compare(identity_of(a.s), identity_of(b.s)) < 0;
  }
  bool operator()(const node& a, const identity& b) const {
    return compare(identity_of(a.s), b) < 0;
  }
  bool operator()(const identity& a, const node& b) const {
    return compare(a, identity_of(b.s)) < 0;
  }
};

// FNV-1a over the bytes of model::series_key(), without building the key.
struct key_hash {
  std::uint64_t h = 14695981039346656037ull;
  void bytes(std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
  }
  void zero() { h *= 1099511628211ull; }
};

std::uint64_t hash_of(const identity& id) {
  key_hash k;
  k.bytes(id.app_id);
  k.zero();
  k.bytes(id.exposition_name);
  for (const auto& [label, value] : *id.labels) {
    k.zero();
    k.bytes(label);
    k.zero();
    k.bytes(value);
  }
  return k.h;
}

// The low FNV bits are weak; fold the high half in.
std::size_t shard_of(std::uint64_t hash) {
  return static_cast<std::size_t>((hash ^ (hash >> 32)) % shard_count);
}

// Sanitised labels sorted by label name. validate() rejects keys that collide after sanitising,
// but records from other producers on the topic did not pass it: keep the first of a collision so
// the exposition never carries one label twice.
std::vector<model::tag> labels_of(const std::vector<model::tag>& tags) {
  std::vector<model::tag> labels;
  labels.reserve(tags.size());
  for (const auto& [key, value] : tags) labels.emplace_back(model::label_name(key), value);
  std::stable_sort(labels.begin(), labels.end(),
                   [](const model::tag& a, const model::tag& b) { return a.first < b.first; });
  labels.erase(
      std::unique(labels.begin(), labels.end(),
                  [](const model::tag& a, const model::tag& b) { return a.first == b.first; }),
      labels.end());
  return labels;
}

}  // namespace

struct reference_store::impl {
  struct shard {
    using set = std::set<node, node_less>;

    // The hash index finds a series in about one probe; a lookup in the ordered set alone costs
    // a cache miss per tree level, which dominated apply().
    set::iterator find(std::uint64_t hash, const identity& id) const {
      auto [first, last] = index.equal_range(hash);
      for (; first != last; ++first) {
        if (compare(identity_of(first->second->s), id) == 0) return first->second;
      }
      return series.end();
    }
    set::iterator erase(set::iterator it) {
      auto [first, last] = index.equal_range(hash_of(identity_of(it->s)));
      for (; first != last; ++first) {
        if (first->second == it) {
          index.erase(first);
          break;
        }
      }
      return series.erase(it);
    }

    mutable std::shared_mutex mu;
    set series;                                                   // exposition order
    std::unordered_multimap<std::uint64_t, set::iterator> index;  // hash_of(identity) -> series
  };

  impl(store_limits l, const util::clock& c) : limits(l), clock(c) {}

  bool expired(std::int64_t ingest_ms, std::int64_t now_ms) const {
    return limits.ttl_ms > 0 && ingest_ms < now_ms - limits.ttl_ms;
  }

  // Removes the series `doomed` selects from every shard; returns how many. Counts are released
  // while the shard is still locked, so no insert ever sees a count higher than the truth.
  template <class Pred>
  std::size_t remove_if(Pred doomed) {
    std::size_t removed = 0;
    std::map<std::string, std::size_t, std::less<>> per_app;
    for (auto& sh : shards) {
      std::unique_lock lock(sh.mu);
      per_app.clear();
      for (auto it = sh.series.begin(); it != sh.series.end();) {
        if (doomed(it->s)) {
          auto [pos, fresh] = per_app.try_emplace(it->s.app_id, 0);
          ++pos->second;
          it = sh.erase(it);
          generation.fetch_add(1, std::memory_order_relaxed);
        } else {
          ++it;
        }
      }
      if (per_app.empty()) continue;
      std::lock_guard counts(counts_mu);
      for (const auto& [app, n] : per_app) {
        auto c = app_counts.find(app);
        if (c->second == n) {
          app_counts.erase(c);
        } else {
          c->second -= n;
        }
        total.fetch_sub(n, std::memory_order_relaxed);
        removed += n;
      }
    }
    return removed;
  }

  // Each shard's set is already in exposition order, so a k-way merge of the shards gives the
  // global order without sorting. Caller holds every shard lock (shared is enough).
  std::shared_ptr<const std::vector<const series*>> merge_shards() const {
    auto order = std::make_shared<std::vector<const series*>>();
    using iter = std::set<node, node_less>::const_iterator;
    struct cursor {
      iter at, end;
    };
    std::vector<cursor> heap;
    heap.reserve(shard_count);
    std::size_t size = 0;
    for (const auto& sh : shards) {
      size += sh.series.size();
      if (!sh.series.empty()) heap.push_back({sh.series.begin(), sh.series.end()});
    }
    order->reserve(size);
    // std heap is a max-heap: "greater" puts the smallest series on top.
    const auto greater = [](const cursor& a, const cursor& b) {
      return compare(identity_of(a.at->s), identity_of(b.at->s)) > 0;
    };
    std::make_heap(heap.begin(), heap.end(), greater);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), greater);
      cursor& c = heap.back();
      order->push_back(&c.at->s);
      if (++c.at == c.end) {
        heap.pop_back();
      } else {
        std::push_heap(heap.begin(), heap.end(), greater);
      }
    }
    return order;
  }

  const store_limits limits;
  const util::clock& clock;
  std::array<shard, shard_count> shards;

  // Admission of new series: both caps are checked and taken under one lock so they are exact
  // under concurrency. Only new series take it; updates never do.
  std::mutex counts_mu;
  std::map<std::string, std::size_t, std::less<>> app_counts;  // guarded by counts_mu
  std::atomic<std::size_t> total{0};                           // written under counts_mu

  // Bumped under a shard's exclusive lock whenever a series is inserted or erased (not when a
  // sample is updated): the exposition order changes only then, so scrapes between such changes
  // reuse the last merged order instead of merging again.
  std::atomic<std::uint64_t> generation{0};
  std::mutex snapshot_mu;
  std::shared_ptr<const std::vector<const series*>> snapshot;  // guarded by snapshot_mu
  std::uint64_t snapshot_generation = 0;                       // guarded by snapshot_mu

  std::atomic<std::uint64_t> dropped_global{0};
  std::atomic<std::uint64_t> dropped_app{0};
  std::atomic<std::uint64_t> stale{0};
  std::atomic<std::uint64_t> expired_count{0};
};

reference_store::reference_store(store_limits limits, const util::clock& clock)
    : impl_(std::make_unique<impl>(limits, clock)) {}

reference_store::~reference_store() = default;

apply_result reference_store::apply(std::string_view app_id, const model::metric& m,
                                    std::int32_t partition, std::int64_t ingest_ms) {
  std::vector<model::tag> labels = labels_of(m.tags);
  std::string name = model::exposition_name(m.name);
  const identity id{name, app_id, &labels};
  const std::uint64_t hash = hash_of(id);
  auto& sh = impl_->shards[shard_of(hash)];

  std::unique_lock lock(sh.mu);
  if (auto it = sh.find(hash, id); it != sh.series.end()) {
    series& s = it->s;
    // A series past its TTL but not yet swept is gone as far as readers know: replace it whatever
    // its timestamp, as a fresh insert would.
    const bool was_expired = impl_->expired(s.ingest_ms, impl_->clock.now_ms());
    if (!was_expired && m.timestamp_ms < s.timestamp_ms) {
      impl_->stale.fetch_add(1, std::memory_order_relaxed);
      return apply_result::stale;
    }
    s.value = m.value;
    s.timestamp_ms = m.timestamp_ms;
    s.ingest_ms = ingest_ms;
    s.partition = partition;
    if (s.original_name != m.name) s.original_name = m.name;
    if (s.tags != m.tags) s.tags = m.tags;
    if (s.profile_id != m.profile_id) s.profile_id = m.profile_id;
    if (was_expired) {
      impl_->expired_count.fetch_add(1, std::memory_order_relaxed);
      return apply_result::inserted;
    }
    return apply_result::updated;
  }

  {
    std::lock_guard counts(impl_->counts_mu);
    if (impl_->total.load(std::memory_order_relaxed) >= impl_->limits.max_series) {
      impl_->dropped_global.fetch_add(1, std::memory_order_relaxed);
      return apply_result::dropped_global;
    }
    auto c = impl_->app_counts.find(app_id);
    if (c == impl_->app_counts.end()) {
      if (impl_->limits.max_series_per_app == 0) {
        impl_->dropped_app.fetch_add(1, std::memory_order_relaxed);
        return apply_result::dropped_app;
      }
      impl_->app_counts.emplace(std::string(app_id), 1);
    } else if (c->second >= impl_->limits.max_series_per_app) {
      impl_->dropped_app.fetch_add(1, std::memory_order_relaxed);
      return apply_result::dropped_app;
    } else {
      ++c->second;
    }
    impl_->total.fetch_add(1, std::memory_order_relaxed);
  }

  series s;
  s.app_id = app_id;
  s.exposition_name = std::move(name);
  s.original_name = m.name;
  s.labels = std::move(labels);
  s.tags = m.tags;
  s.value = m.value;
  s.timestamp_ms = m.timestamp_ms;
  s.ingest_ms = ingest_ms;
  s.profile_id = m.profile_id;
  s.partition = partition;
  const auto inserted = sh.series.insert(node{std::move(s)}).first;
  sh.index.emplace(hash, inserted);
  impl_->generation.fetch_add(1, std::memory_order_relaxed);
  return apply_result::inserted;
}

std::size_t reference_store::drop_partition(std::int32_t partition) {
  return impl_->remove_if([partition](const series& s) { return s.partition == partition; });
}

std::size_t reference_store::expire() {
  if (impl_->limits.ttl_ms == 0) return 0;
  const std::int64_t now = impl_->clock.now_ms();
  const std::size_t n =
      impl_->remove_if([&](const series& s) { return impl_->expired(s.ingest_ms, now); });
  impl_->expired_count.fetch_add(n, std::memory_order_relaxed);
  return n;
}

std::vector<series> reference_store::app_series(std::string_view app_id) const {
  const std::int64_t now = impl_->clock.now_ms();
  std::vector<series> out;
  for (const auto& sh : impl_->shards) {
    std::shared_lock lock(sh.mu);
    for (const auto& n : sh.series) {
      if (n.s.app_id == app_id && !impl_->expired(n.s.ingest_ms, now)) out.push_back(n.s);
    }
  }
  // One app: the (exposition_name, app_id, labels) order is (exposition_name, labels).
  std::sort(out.begin(), out.end(), [](const series& a, const series& b) {
    return compare(identity_of(a), identity_of(b)) < 0;
  });
  return out;
}

void reference_store::for_each_sorted(const std::function<void(const series&)>& visit) const {
  // The shared locks are held for the whole walk: writers wait for it (the consumer only buffers
  // meanwhile), other readers do not. While they are held no series can be inserted or erased,
  // so `generation` is stable and the node addresses in a matching snapshot are valid.
  std::array<std::shared_lock<std::shared_mutex>, shard_count> locks;
  for (std::size_t i = 0; i < shard_count; ++i) {
    locks[i] = std::shared_lock(impl_->shards[i].mu);
  }
  const std::int64_t now = impl_->clock.now_ms();
  const std::uint64_t generation = impl_->generation.load(std::memory_order_relaxed);

  std::shared_ptr<const std::vector<const series*>> order;
  {
    std::lock_guard lock(impl_->snapshot_mu);
    if (impl_->snapshot && impl_->snapshot_generation == generation) order = impl_->snapshot;
  }
  if (!order) {
    order = impl_->merge_shards();
    std::lock_guard lock(impl_->snapshot_mu);
    impl_->snapshot = order;
    impl_->snapshot_generation = generation;
  }
  // The walk is bound by cache misses (series live in scattered nodes, their strings on the
  // heap): fetch the series a few steps ahead, and their heap strings a little later.
  const std::vector<const series*>& v = *order;
  constexpr std::size_t node_ahead = 8;
  constexpr std::size_t data_ahead = 4;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i + node_ahead < v.size()) __builtin_prefetch(v[i + node_ahead]);
    if (i + data_ahead < v.size()) {
      const series* next = v[i + data_ahead];
      __builtin_prefetch(next->exposition_name.data());
      __builtin_prefetch(next->labels.data());
    }
    if (!impl_->expired(v[i]->ingest_ms, now)) visit(*v[i]);
  }
}

store_stats reference_store::stats() const {
  store_stats st;
  st.series = impl_->total.load(std::memory_order_relaxed);
  st.dropped_global = impl_->dropped_global.load(std::memory_order_relaxed);
  st.dropped_app = impl_->dropped_app.load(std::memory_order_relaxed);
  st.stale = impl_->stale.load(std::memory_order_relaxed);
  st.expired = impl_->expired_count.load(std::memory_order_relaxed);
  return st;
}

}  // namespace mca::store
