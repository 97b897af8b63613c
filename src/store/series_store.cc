#include "store/series_store.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>
#include <random>
#include <shared_mutex>
#include <unordered_map>

#include "store/id_table.h"

namespace mca::store {
namespace {

constexpr std::uint32_t npos = std::numeric_limits<std::uint32_t>::max();
constexpr std::string_view family_prefix = "client_metric_";

// The same byte rules as model::exposition_name / model::label_name, applied without building
// strings where only a hash or a comparison is needed.
constexpr bool is_name_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == ':';
}

#define MCA_HOT inline __attribute__((always_inline))

// Byte equality without the out-of-line compare() call GCC leaves in the hot loops.
MCA_HOT bool same(std::string_view a, std::string_view b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

MCA_HOT std::uint64_t load64(const unsigned char* p) {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}
MCA_HOT std::uint64_t load32(const unsigned char* p) {
  std::uint32_t w;
  std::memcpy(&w, p, 4);
  return w;
}

// A seeded multiply-fold hash, eight bytes at a time. The seed is random per store, so a client
// cannot precompute series that collide in the tables (hash flooding).
class hasher {
 public:
  explicit hasher(std::uint64_t seed) : h_(seed) {}
  MCA_HOT void word(std::uint64_t w) { h_ = mix(h_ ^ w, k1); }
  // A string: its 8-byte words, then the last 0-7 bytes (overlapping loads) with the length
  // folded into the multiplier, so strings of different lengths never hash as one.
  MCA_HOT void bytes(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    std::size_t n = s.size();
    for (; n >= 8; p += 8, n -= 8) word(load64(p));
    last(p, n, s.size());
  }
  // The bytes of model::exposition_name(name) after its prefix, without building it: the same
  // words bytes() would hash for the sanitised string.
  MCA_HOT void sanitised_name(std::string_view name) {
    unsigned char buf[8];
    std::size_t k = 0;
    for (unsigned char c : name) {
      buf[k] = is_name_byte(c) ? c : '_';
      if (++k == 8) {
        word(load64(buf));
        k = 0;
      }
    }
    last(buf, k, name.size());
  }
  std::uint64_t finish() const { return mix(h_, k2); }

 private:
  MCA_HOT void last(const unsigned char* p, std::size_t n, std::size_t size) {
    std::uint64_t w = 0;
    if (n >= 4) {
      w = load32(p) | (load32(p + n - 4) << 32);
    } else if (n > 0) {
      w = p[0] | (std::uint64_t{p[n / 2]} << 8) | (std::uint64_t{p[n - 1]} << 16);
    }
    h_ = mix(h_ ^ w, k1 ^ (static_cast<std::uint64_t>(size) << 1));
  }
  static constexpr std::uint64_t k1 = 0x9E3779B97F4A7C15ull;
  static constexpr std::uint64_t k2 = 0xC2B2AE3D27D4EB4Full;
  MCA_HOT static std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
    const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
    return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
  }
  std::uint64_t h_;
};

std::uint32_t fold(std::uint64_t h) { return static_cast<std::uint32_t>(h ^ (h >> 32)); }

// The id for a new element of `items`: the last released one (from `free`), else a new one
// past the end, appended value-initialised.
template <class Items>
std::uint32_t reuse_or_append(Items& items, std::vector<std::uint32_t>& free) {
  if (free.empty()) {
    items.emplace_back();
    return static_cast<std::uint32_t>(items.size() - 1);
  }
  const std::uint32_t id = free.back();
  free.pop_back();
  return id;
}

// Reference-counted interned strings: id -> text, text -> id. `Extra` rides along (the family a
// raw name sanitises to, the label a raw key sanitises to, a family's sorted run).
template <class Extra>
class string_pool {
 public:
  struct entry {
    std::string text;
    std::uint32_t refs = 0;
    Extra extra{};
  };

  explicit string_pool(std::uint64_t seed) : seed_(seed) {}

  std::uint32_t find(std::string_view text) const {
    return index_.find(hash(text), [&](std::uint32_t id) { return entries_[id].text == text; });
  }
  // Returns the id of `text`, adding it when new; `created` says which. Takes one reference.
  std::uint32_t intern(std::string_view text, bool* created = nullptr) {
    const std::uint32_t h = hash(text);
    std::uint32_t id = index_.find(h, [&](std::uint32_t i) { return entries_[i].text == text; });
    if (created) *created = id == npos;
    if (id == npos) {
      id = reuse_or_append(entries_, free_);
      entries_[id].text.assign(text);
      index_.insert(h, id);
    }
    ++entries_[id].refs;
    return id;
  }
  void add_ref(std::uint32_t id) { ++entries_[id].refs; }
  // Drops one reference; returns true when that was the last (the entry is then free).
  bool release(std::uint32_t id) {
    entry& e = entries_[id];
    if (--e.refs > 0) return false;
    index_.erase(hash(e.text), id);
    e.text.clear();
    e.text.shrink_to_fit();
    e.extra = Extra{};
    free_.push_back(id);
    return true;
  }
  entry& operator[](std::uint32_t id) { return entries_[id]; }
  const entry& operator[](std::uint32_t id) const { return entries_[id]; }
  std::size_t slots() const { return entries_.size(); }

 private:
  std::uint32_t hash(std::string_view text) const {
    hasher h(seed_);
    h.bytes(text);
    return fold(h.finish());
  }
  std::uint64_t seed_;
  std::vector<entry> entries_;
  std::vector<std::uint32_t> free_;
  id_table index_;
};

struct no_extra {};

// A family's series in exposition order (app_id, then labels): `run` is sorted, `pending` holds
// series added since the last read, which sorts and merges them in. A gauge family that a
// render_walk() showed also keeps its series' labels as the walk's format wrote them, in run
// order: run[i]'s text ends at label_end[i] in label_text (where run[i - 1]'s ends it begins).
struct family_runs {
  std::vector<std::uint32_t> run;
  std::vector<std::uint32_t> pending;
  model::metric_type type = model::metric_type::gauge;  // one family has one type
  // label_text and label_end match `run`
  bool labels_kept = false;
  std::string label_text;
  std::vector<std::uint32_t> label_end;

  void forget_labels() {
    labels_kept = false;
    std::string().swap(label_text);
    std::vector<std::uint32_t>().swap(label_end);
  }

  // Takes the series `gone` says out of the run (and their text) and out of `pending`.
  template <class Gone>
  void erase(Gone gone) {
    std::erase_if(pending, gone);
    if (!labels_kept) {
      std::erase_if(run, gone);
      return;
    }
    std::size_t kept = 0;
    std::uint32_t begin = 0, written = 0;
    for (std::size_t i = 0; i < run.size(); ++i) {
      const std::uint32_t end = label_end[i];
      if (!gone(run[i])) {
        const std::uint32_t length = end - begin;
        if (written != begin)
          std::memmove(label_text.data() + written, label_text.data() + begin, length);
        written += length;
        run[kept] = run[i];
        label_end[kept] = written;
        ++kept;
      }
      begin = end;
    }
    run.resize(kept);
    label_end.resize(kept);
    label_text.resize(written);
    if (label_text.capacity() > 2 * label_text.size() + 4096) {  // give a large removal back
      label_text.shrink_to_fit();
      label_end.shrink_to_fit();
    }
  }
};

// An interned tag set: the tags as received (key ids and values, in order) and which of them form
// the sanitised labels in label order. One allocation:
//   header | key_ids[n] | value_end[n] | order[labels] (absent when the labels are the tags in
//   order) | value bytes
class tag_set {
 public:
  static tag_set* create(std::span<const std::uint32_t> keys, std::span<const model::tag> tags,
                         std::span<const std::uint32_t> order, bool in_order) {
    const auto n = static_cast<std::uint32_t>(tags.size());
    const auto labels = static_cast<std::uint32_t>(order.size());
    std::size_t chars = 0;
    for (const auto& t : tags) chars += t.second.size();
    const std::size_t words = 2 * std::size_t{n} + (in_order ? 0 : labels);
    void* mem = ::operator new(sizeof(tag_set) + words * sizeof(std::uint32_t) + chars);
    auto* ts = new (mem) tag_set;
    ts->size_ = n;
    ts->labels_ = labels;
    ts->in_order_ = in_order;
    std::uint32_t* w = ts->words();
    std::uint32_t end = 0;
    char* c = ts->chars();
    for (std::uint32_t i = 0; i < n; ++i) {
      w[i] = keys[i];
      std::memcpy(c + end, tags[i].second.data(), tags[i].second.size());
      end += static_cast<std::uint32_t>(tags[i].second.size());
      w[n + i] = end;
    }
    if (!in_order) std::copy(order.begin(), order.end(), w + 2 * n);
    return ts;
  }
  static void destroy(tag_set* ts) {
    ts->~tag_set();
    ::operator delete(ts);
  }

  MCA_HOT std::uint32_t size() const { return size_; }
  MCA_HOT std::uint32_t key(std::uint32_t i) const { return words()[i]; }
  MCA_HOT std::string_view value(std::uint32_t i) const {
    const std::uint32_t* w = words();
    const std::uint32_t begin = i == 0 ? 0 : w[size_ + i - 1];
    return {chars() + begin, w[size_ + i] - begin};
  }
  MCA_HOT std::uint32_t label_count() const { return labels_; }
  // The tag holding the i-th label (labels sorted by label name).
  MCA_HOT std::uint32_t label_tag(std::uint32_t i) const {
    return in_order_ ? i : words()[2 * size_ + i];
  }

  std::uint32_t refs = 0;

 private:
  std::uint32_t* words() { return reinterpret_cast<std::uint32_t*>(this + 1); }
  MCA_HOT const std::uint32_t* words() const {
    return reinterpret_cast<const std::uint32_t*>(this + 1);
  }
  char* chars() { return reinterpret_cast<char*>(words() + 2 * size_ + (in_order_ ? 0 : labels_)); }
  MCA_HOT const char* chars() const {
    return reinterpret_cast<const char*>(words() + 2 * size_ + (in_order_ ? 0 : labels_));
  }

  std::uint32_t size_ = 0;
  std::uint32_t labels_ = 0;
  bool in_order_ = true;
};

// One held series. `name` is the interned original name (which knows its family); `family` is
// kept here too because it never changes while `name` may (another spelling of the same series).
struct slot {
  union {
    double value = 0;   // gauge
    std::uint64_t agg;  // counter, histogram: its index in `aggregates`
  };
  std::int64_t timestamp_ms = 0;
  std::int64_t ingest_ms = 0;
  std::uint32_t app = npos;
  std::uint32_t name = npos;  // npos: the slot is free
  std::uint32_t family : 29 = 0;
  std::uint32_t type : 2 = 0;      // model::metric_type
  std::uint32_t two_keys : 1 = 0;  // indexed under its spelling's hash as well as its identity's
  std::uint32_t profile = npos;
  std::uint32_t tags = npos;  // tag set id
  std::int32_t partition = 0;
};
static_assert(sizeof(slot) == 48);

// Slots in fixed chunks: ids stay valid, growth never copies the held series.
class slab {
 public:
  static constexpr std::size_t chunk = 4096;
  slot& operator[](std::uint32_t id) { return chunks_[id / chunk][id % chunk]; }
  const slot& operator[](std::uint32_t id) const { return chunks_[id / chunk][id % chunk]; }
  std::uint32_t allocate() {
    if (!free_.empty()) {
      const std::uint32_t id = free_.back();
      free_.pop_back();
      return id;
    }
    if (end_ % chunk == 0) chunks_.push_back(std::make_unique<slot[]>(chunk));
    return end_++;
  }
  void release(std::uint32_t id) {
    (*this)[id] = slot{};
    free_.push_back(id);
  }
  std::uint32_t end() const { return end_; }

 private:
  std::vector<std::unique_ptr<slot[]>> chunks_;
  std::vector<std::uint32_t> free_;
  std::uint32_t end_ = 0;
};

// A counter or histogram series' values, beside its slot.
struct aggregate {
  double sum = 0;
  std::uint64_t count = 0;
  std::int64_t next_offset = 0;
  const std::vector<double>* bounds = nullptr;  // interned layout; null for a counter
  std::unique_ptr<std::uint64_t[]> buckets;     // bounds->size() + 1, non-cumulative
  bool dirty = false;                           // changed since the last take_dirty()
};

constexpr std::uint32_t type_bits(model::metric_type t) { return static_cast<std::uint32_t>(t); }

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() > suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// A label of an incoming sample on the slow path: its sanitised name and the tag it came from.
struct pending_label {
  std::string_view name;
  std::uint32_t tag;
};

}  // namespace

struct series_store::impl {
  impl(store_limits l, const util::clock& c)
      : limits(l),
        clock(c),
        seed(std::random_device{}() * 0x100000001B3ull ^ std::random_device{}()),
        apps(seed),
        names(seed),
        families(seed),
        profiles(seed),
        keys(seed),
        labels(seed) {}

  ~impl() {
    for (tag_set* ts : tag_sets)
      if (ts) tag_set::destroy(ts);
  }

  bool expired(std::int64_t ingest_ms, std::int64_t now_ms) const {
    return limits.ttl_ms > 0 && ingest_ms < now_ms - limits.ttl_ms;
  }

  // Shown by the reads: not expired, and not of a hidden partition (hide_partition). The
  // partition is looked at only while one is hidden: the render walk's steady state pays a test
  // of `hidden_count` per series, not a load from the end of its slot.
  bool shown(const slot& s, std::int64_t now_ms) const {
    if (expired(s.ingest_ms, now_ms)) return false;
    if (hidden_count == 0) [[likely]]
      return true;
    return s.partition < 0 || static_cast<std::size_t>(s.partition) >= hidden.size() ||
           !hidden[static_cast<std::size_t>(s.partition)];
  }

  std::string_view label_of_key(std::uint32_t key) const { return labels[keys[key].extra].text; }

  // --- hashes ---------------------------------------------------------------------------------
  // The spelling hash: app_id, name and tags exactly as written, in the order written.
  MCA_HOT std::uint32_t spelling_hash(std::string_view app, std::string_view name,
                                      const std::vector<model::tag>& tags) const {
    hasher h(seed);
    h.bytes(app);
    h.bytes(name);
    for (const auto& [k, v] : tags) {
      h.bytes(k);
      h.bytes(v);
    }
    return fold(h.finish());
  }
  std::uint32_t spelling_hash_of(const slot& s) const {
    hasher h(seed);
    h.bytes(apps[s.app].text);
    h.bytes(names[s.name].text);
    const tag_set& ts = *tag_sets[s.tags];
    for (std::uint32_t i = 0; i < ts.size(); ++i) {
      h.bytes(keys[ts.key(i)].text);
      h.bytes(ts.value(i));
    }
    return fold(h.finish());
  }
  // The identity hash: the same function over the sanitised name (without its prefix) and the
  // labels in label order. A series written in its canonical spelling (the usual case) hashes
  // alike both ways and needs one table entry.
  template <class Labels>
  std::uint32_t identity_hash(std::string_view app, std::string_view name_after_prefix,
                              Labels&& each_label) const {
    hasher h(seed);
    h.bytes(app);
    h.bytes(name_after_prefix);
    each_label([&](std::string_view label, std::string_view value) {
      h.bytes(label);
      h.bytes(value);
    });
    return fold(h.finish());
  }
  std::uint32_t identity_hash_of(const slot& s) const {
    const tag_set& ts = *tag_sets[s.tags];
    return identity_hash(apps[s.app].text,
                         std::string_view(families[s.family].text).substr(family_prefix.size()),
                         [&](auto&& f) {
                           for (std::uint32_t i = 0; i < ts.label_count(); ++i) {
                             const std::uint32_t t = ts.label_tag(i);
                             f(label_of_key(ts.key(t)), ts.value(t));
                           }
                         });
  }

  // --- the fast path: find a series by its spelling -------------------------------------------
  MCA_HOT bool same_spelling(const slot& s, std::string_view app, const model::metric& m) const {
    const tag_set& ts = *tag_sets[s.tags];
    if (ts.size() != m.tags.size() || !same(names[s.name].text, m.name) ||
        !same(apps[s.app].text, app))
      return false;
    for (std::uint32_t i = 0; i < ts.size(); ++i) {
      if (!same(ts.value(i), m.tags[i].second) || !same(keys[ts.key(i)].text, m.tags[i].first))
        return false;
    }
    return true;
  }

  // --- the slow path: sanitise, then find the series by its identity --------------------------
  // Fills `scratch` with the sample's labels (sanitised names, label order, first of a collision
  // kept); label names not interned yet are sanitised into `fresh`.
  // `found_keys` gets the id of each tag's key when it is held (npos when not), for intern_tags.
  void labels_of(const model::metric& m) {
    scratch.clear();
    fresh.clear();
    found_keys.clear();
    fresh.reserve(m.tags.size());  // views into it must not move
    for (std::uint32_t i = 0; i < m.tags.size(); ++i) {
      const std::string& key = m.tags[i].first;
      const std::uint32_t k = keys.find(key);
      found_keys.push_back(k);
      if (k != npos) {
        scratch.push_back({label_of_key(k), i});
      } else {
        fresh.push_back(model::label_name(key));
        scratch.push_back({fresh.back(), i});
      }
    }
    // Stable: of keys that sanitise alike the first received is kept. Insertion sort for the
    // usual few tags (std::stable_sort allocates a buffer on every call).
    const auto by_name = [](const pending_label& a, const pending_label& b) {
      return a.name < b.name;
    };
    if (scratch.size() <= 32) {
      for (std::size_t i = 1; i < scratch.size(); ++i) {
        const pending_label x = scratch[i];
        std::size_t j = i;
        for (; j > 0 && by_name(x, scratch[j - 1]); --j) scratch[j] = scratch[j - 1];
        scratch[j] = x;
      }
    } else {
      std::stable_sort(scratch.begin(), scratch.end(), by_name);
    }
    scratch.erase(std::unique(scratch.begin(), scratch.end(),
                              [](const pending_label& a, const pending_label& b) {
                                return a.name == b.name;
                              }),
                  scratch.end());
  }

  bool same_identity(const slot& s, std::uint32_t app, std::uint32_t family,
                     const model::metric& m) const {
    if (s.app != app || s.family != family) return false;
    const tag_set& ts = *tag_sets[s.tags];
    if (ts.label_count() != scratch.size()) return false;
    for (std::uint32_t i = 0; i < scratch.size(); ++i) {
      const std::uint32_t t = ts.label_tag(i);
      if (ts.value(t) != m.tags[scratch[i].tag].second ||
          label_of_key(ts.key(t)) != scratch[i].name)
        return false;
    }
    return true;
  }

  // --- interning ------------------------------------------------------------------------------
  // `type`: the family's type when the name creates it.
  std::uint32_t intern_name(std::string_view name, model::metric_type type) {
    bool created = false;
    const std::uint32_t id = names.intern(name, &created);
    if (created) {
      bool new_family = false;
      names[id].extra = families.intern(model::exposition_name(name), &new_family);
      if (new_family) {
        families_dirty = true;
        families[names[id].extra].extra.type = type;
      }
    }
    return id;
  }
  void release_name(std::uint32_t id) {
    const std::uint32_t family = names[id].extra;
    if (names.release(id) && families.release(family)) families_dirty = true;
  }
  std::uint32_t intern_key(std::string_view key) {
    bool created = false;
    const std::uint32_t id = keys.intern(key, &created);
    if (created) keys[id].extra = labels.intern(model::label_name(key));
    return id;
  }
  void release_key(std::uint32_t id) {
    const std::uint32_t label = keys[id].extra;
    if (keys.release(id)) labels.release(label);
  }
  // The tag set of `m` (scratch and found_keys hold what labels_of(m) found), shared with every
  // series that has it.
  std::uint32_t intern_tags(const model::metric& m) {
    key_ids.clear();
    for (std::size_t i = 0; i < m.tags.size(); ++i) {
      if (const std::uint32_t k = found_keys[i]; k != npos) {
        keys.add_ref(k);  // held already: no second look-up
        key_ids.push_back(k);
      } else {
        key_ids.push_back(intern_key(m.tags[i].first));
      }
    }
    hasher h(seed);
    for (std::size_t i = 0; i < m.tags.size(); ++i) {
      h.word(key_ids[i]);
      h.bytes(m.tags[i].second);
    }
    const std::uint32_t hash = fold(h.finish());
    const std::uint32_t found = tag_index.find(hash, [&](std::uint32_t id) {
      const tag_set& ts = *tag_sets[id];
      if (ts.size() != m.tags.size()) return false;
      for (std::uint32_t i = 0; i < ts.size(); ++i)
        if (ts.key(i) != key_ids[i] || ts.value(i) != m.tags[i].second) return false;
      return true;
    });
    if (found != npos) {
      for (std::uint32_t k : key_ids) release_key(k);  // the set holds its keys already
      ++tag_sets[found]->refs;
      return found;
    }
    order.clear();
    bool in_order = scratch.size() == m.tags.size();
    for (std::uint32_t i = 0; i < scratch.size(); ++i) {
      order.push_back(scratch[i].tag);
      in_order = in_order && scratch[i].tag == i;
    }
    const std::uint32_t id = reuse_or_append(tag_sets, tag_free);
    tag_sets[id] = tag_set::create(key_ids, m.tags, order, in_order);
    tag_sets[id]->refs = 1;
    tag_index.insert(hash, id);
    return id;
  }
  void release_tags(std::uint32_t id) {
    tag_set* ts = tag_sets[id];
    if (--ts->refs > 0) return;
    hasher h(seed);
    for (std::uint32_t i = 0; i < ts->size(); ++i) {
      h.word(ts->key(i));
      h.bytes(ts->value(i));
    }
    tag_index.erase(fold(h.finish()), id);
    for (std::uint32_t i = 0; i < ts->size(); ++i) release_key(ts->key(i));
    tag_set::destroy(ts);
    tag_sets[id] = nullptr;
    tag_free.push_back(id);
  }
  void set_profile(slot& s, std::string_view profile) {
    if (s.profile != npos) {
      if (same(profiles[s.profile].text, profile)) return;
      profiles.release(s.profile);
    }
    s.profile = profiles.intern(profile);
  }

  // --- apply ----------------------------------------------------------------------------------
  // Caller holds `mu` exclusively.
  // `restoring`: the sample is a changelog state (restore()), which replaces the aggregate.
  apply_result apply(std::string_view app, const model::metric& m, std::int32_t partition,
                     std::int64_t ingest_ms, std::int64_t now, std::int64_t offset,
                     const aggregate_state* restoring = nullptr) {
    return apply(app, m, partition, ingest_ms, now, offset, spelling_hash(app, m.name, m.tags),
                 restoring);
  }
  // The same with the spelling hash computed already (apply_batch).
  apply_result apply(std::string_view app, const model::metric& m, std::int32_t partition,
                     std::int64_t ingest_ms, std::int64_t now, std::int64_t offset,
                     std::uint32_t spelled, const aggregate_state* restoring = nullptr) {
    std::uint32_t id =
        index.find(spelled, [&](std::uint32_t i) { return same_spelling(slots[i], app, m); });
    if (id != npos) {
      if (slots[id].type != type_bits(m.type)) [[unlikely]]
        return conflict();
      if (m.type == model::metric_type::gauge) [[likely]]
        return update(id, m, partition, ingest_ms, now, false, spelled);
      return update_aggregate(id, m, partition, ingest_ms, now, false, spelled, offset, restoring);
    }

    // A spelling not seen before: sanitise, then look for the series under its identity.
    labels_of(m);
    const std::uint32_t app_id = apps.find(app);
    std::uint32_t family = npos;
    const std::uint32_t name_id = names.find(m.name);
    if (name_id != npos) {
      family = names[name_id].extra;
    } else {
      family = families.find(model::exposition_name(m.name));
    }
    const std::uint32_t identity = identity_hash_of_sample(app, m);
    if (app_id != npos && family != npos) {
      id = index.find(identity,
                      [&](std::uint32_t i) { return same_identity(slots[i], app_id, family, m); });
      if (id != npos) {
        if (slots[id].type != type_bits(m.type)) return conflict();
        if (m.type == model::metric_type::gauge)
          return update(id, m, partition, ingest_ms, now, true, spelled);
        return update_aggregate(id, m, partition, ingest_ms, now, true, spelled, offset, restoring);
      }
    }

    // A new series. An aggregate record below the partition's floor is in a restored state (or
    // in one that expired): already counted.
    if (m.type != model::metric_type::gauge && !restoring && offset >= 0 &&
        offset < floor_of(partition))
      return replay();
    if (family_conflict(family, m)) return conflict();
    // Admission first, so a dropped sample interns nothing.
    const std::vector<double>* wanted = nullptr;
    if (m.type == model::metric_type::histogram)
      wanted = restoring ? &restoring->bounds : &limits.buckets.layout_for(m.name);
    const std::size_t weight = exposed_series(m.type, wanted ? wanted->size() : 0);
    if (exposed_total.load(std::memory_order_relaxed) + weight > limits.max_series) {
      dropped_global.fetch_add(1, std::memory_order_relaxed);
      return apply_result::dropped_global;
    }
    if ((app_id == npos ? 0 : apps[app_id].extra) + weight > limits.max_series_per_app) {
      dropped_app.fetch_add(1, std::memory_order_relaxed);
      return apply_result::dropped_app;
    }
    id = slots.allocate();
    slot& s = slots[id];
    // What the look-ups above found is referenced again rather than looked up a second time.
    if (app_id != npos) {
      apps.add_ref(app_id);
      s.app = app_id;
    } else {
      s.app = apps.intern(app);
    }
    apps[s.app].extra += weight;
    if (name_id != npos) {
      names.add_ref(name_id);
      s.name = name_id;
    } else {
      s.name = intern_name(m.name, m.type);
    }
    s.family = names[s.name].extra;
    s.type = type_bits(m.type);
    s.tags = intern_tags(m);
    set_profile(s, m.profile_id);
    if (m.type == model::metric_type::gauge) {
      s.value = m.value;
    } else {
      s.agg = new_aggregate(wanted);
      aggregate& a = aggregates[s.agg];
      if (restoring) {
        load(a, *restoring);
      } else {
        add(a, m.type, m.value);
        if (offset >= 0) a.next_offset = offset + 1;
        a.dirty = true;
        dirty[partition].push_back(id);
      }
    }
    s.timestamp_ms = m.timestamp_ms;
    s.ingest_ms = ingest_ms;
    s.partition = partition;
    s.two_keys = spelled != identity ? 1 : 0;
    index.insert(identity, id);
    if (s.two_keys) index.insert(spelled, id);
    families[s.family].extra.pending.push_back(id);
    oldest_ingest = std::min(oldest_ingest, ingest_ms);
    total.fetch_add(1, std::memory_order_relaxed);
    exposed_total.fetch_add(weight, std::memory_order_relaxed);
    return apply_result::inserted;
  }

  apply_result conflict() {
    type_conflicts.fetch_add(1, std::memory_order_relaxed);
    return apply_result::type_conflict;
  }
  apply_result replay() {
    replayed.fetch_add(1, std::memory_order_relaxed);
    return apply_result::replayed;
  }
  std::int64_t floor_of(std::int32_t partition) const {
    const auto it = floors.find(partition);
    return it == floors.end() ? 0 : it->second;
  }

  // One exposition family has one type, and no two families may expose the same name: gauge F
  // exposes F; counter F exposes F_total; histogram F exposes F, F_bucket, F_sum and F_count.
  // `family` is the sample's family when held (it then has a type), npos when new.
  bool family_conflict(std::uint32_t family, const model::metric& m) const {
    if (family != npos) return families[family].extra.type != m.type;
    const std::string f = model::exposition_name(m.name);
    std::string exposed[4];
    std::size_t n = 0;
    switch (m.type) {
      case model::metric_type::gauge:
        exposed[n++] = f;
        break;
      case model::metric_type::counter:
        exposed[n++] = f + "_total";
        break;
      case model::metric_type::histogram:
        exposed[n++] = f;
        exposed[n++] = f + "_bucket";
        exposed[n++] = f + "_sum";
        exposed[n++] = f + "_count";
        break;
    }
    const auto held_as = [&](std::string_view name, model::metric_type t) {
      const std::uint32_t id = families.find(name);
      return id != npos && families[id].extra.type == t;
    };
    for (std::size_t i = 0; i < n; ++i) {
      const std::string_view e = exposed[i];
      // A held family G exposes e when G == e (gauge or histogram; f itself is not held) ...
      if (e != f &&
          (held_as(e, model::metric_type::gauge) || held_as(e, model::metric_type::histogram)))
        return true;
      // ... or G is a counter and e == G_total, or a histogram and e == G_bucket/_sum/_count.
      if (ends_with(e, "_total") && held_as(e.substr(0, e.size() - 6), model::metric_type::counter))
        return true;
      for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
        if (ends_with(e, suffix) &&
            held_as(e.substr(0, e.size() - suffix.size()), model::metric_type::histogram))
          return true;
      }
    }
    return false;
  }

  // --- aggregates -----------------------------------------------------------------------------
  const std::vector<double>* intern_layout(const std::vector<double>& bounds) {
    for (const auto& l : layouts)
      if (*l == bounds) return l.get();
    layouts.push_back(std::make_unique<const std::vector<double>>(bounds));
    return layouts.back().get();
  }
  std::uint32_t new_aggregate(const std::vector<double>* bounds) {
    const std::uint32_t id = reuse_or_append(aggregates, aggregate_free);
    aggregate& a = aggregates[id];
    if (bounds) set_layout(a, intern_layout(*bounds));
    return id;
  }
  static void set_layout(aggregate& a, const std::vector<double>* layout) {
    a.bounds = layout;
    a.buckets = std::make_unique<std::uint64_t[]>(layout->size() + 1);  // zeroed
  }
  static void reset(aggregate& a) {
    a.sum = 0;
    a.count = 0;
    a.next_offset = 0;
    if (a.bounds) std::fill_n(a.buckets.get(), a.bounds->size() + 1, 0);
  }
  static void add(aggregate& a, model::metric_type type, double v) {
    a.sum += v;
    ++a.count;
    if (type != model::metric_type::histogram) return;
    const std::vector<double>& b = *a.bounds;
    // The first bucket whose upper bound is >= v (Prometheus' `le`); NaN and above all: +Inf.
    const std::size_t i =
        std::isnan(v)
            ? b.size()
            : static_cast<std::size_t>(std::lower_bound(b.begin(), b.end(), v) - b.begin());
    ++a.buckets[i];
  }
  // Takes a changelog state's values (its bounds are the aggregate's layout already).
  static void load(aggregate& a, const aggregate_state& st) {
    a.sum = st.sum;
    a.count = st.count;
    a.next_offset = st.next_offset;
    if (a.bounds) std::copy(st.buckets.begin(), st.buckets.end(), a.buckets.get());
    a.dirty = false;
  }
  std::size_t weight_of(const slot& s) const {
    if (s.type != type_bits(model::metric_type::histogram)) return 1;
    return exposed_series(model::metric_type::histogram, aggregates[s.agg].bounds->size());
  }
  void mark_dirty(std::uint32_t id, std::int32_t partition) {
    aggregate& a = aggregates[slots[id].agg];
    // A series that moved partitions joins the new one's list even when marked already.
    if (a.dirty && slots[id].partition == partition) return;
    a.dirty = true;
    dirty[partition].push_back(id);
  }

  apply_result update_aggregate(std::uint32_t id, const model::metric& m, std::int32_t partition,
                                std::int64_t ingest_ms, std::int64_t now, bool respelled,
                                std::uint32_t spelled, std::int64_t offset,
                                const aggregate_state* restoring) {
    slot& s = slots[id];
    aggregate& a = aggregates[s.agg];
    // Past its TTL but not swept: gone as far as readers know, so it starts again from zero (a
    // counter reset) and offsets compare with the partition's floor, as for a new series.
    const bool was_expired = expired(s.ingest_ms, now);
    if (restoring) {
      if (!was_expired && restoring->next_offset < a.next_offset) return apply_result::stale;
      if (a.bounds && *a.bounds != restoring->bounds) {
        // Restored with another layout: the held one was newer data of an older layout. Take
        // the state's (and its weight) as it stands.
        const std::size_t before = weight_of(s);
        set_layout(a, intern_layout(restoring->bounds));
        const std::size_t after = weight_of(s);
        apps[s.app].extra += after - before;
        exposed_total.fetch_add(after - before, std::memory_order_relaxed);
      }
      load(a, *restoring);
      s.timestamp_ms = m.timestamp_ms;
    } else {
      const std::int64_t held_offset = was_expired ? floor_of(partition) : a.next_offset;
      if (offset >= 0 && offset < held_offset) return replay();
      if (was_expired) reset(a);
      add(a, m.type, m.value);
      if (offset >= 0) a.next_offset = offset + 1;
      mark_dirty(id, partition);
      s.timestamp_ms = was_expired ? m.timestamp_ms : std::max(s.timestamp_ms, m.timestamp_ms);
    }
    return finish_update(id, m, partition, ingest_ms, respelled, spelled, was_expired);
  }

  // What an update of a held series (gauge or aggregate) does after its value: the record's
  // ingest time, partition and profile, a new spelling adopted; an expired series counts as
  // inserted again.
  apply_result finish_update(std::uint32_t id, const model::metric& m, std::int32_t partition,
                             std::int64_t ingest_ms, bool respelled, std::uint32_t spelled,
                             bool was_expired) {
    slot& s = slots[id];
    s.ingest_ms = ingest_ms;
    s.partition = partition;
    oldest_ingest = std::min(oldest_ingest, ingest_ms);
    set_profile(s, m.profile_id);
    if (respelled) respell(id, m, spelled);
    if (was_expired) {
      expired_count.fetch_add(1, std::memory_order_relaxed);
      return apply_result::inserted;
    }
    return apply_result::updated;
  }

  // Adopts a new spelling (original name and tags) of the series `id`.
  void respell(std::uint32_t id, const model::metric& m, std::uint32_t spelled) {
    slot& s = slots[id];
    const std::uint32_t identity = identity_hash_of(s);
    if (s.two_keys) index.erase(spelling_hash_of(s), id);
    const std::uint32_t old_name = s.name;
    s.name = intern_name(m.name, m.type);
    release_name(old_name);
    const std::uint32_t old_tags = s.tags;
    s.tags = intern_tags(m);
    release_tags(old_tags);
    s.two_keys = spelled != identity ? 1 : 0;
    if (s.two_keys) index.insert(spelled, id);
  }

  // A series' identity as model::series_key spells it (the changelog key).
  std::string series_key_of(const slot& s) const {
    std::string key(apps[s.app].text);
    key.push_back('\0');
    key.append(families[s.family].text);
    const tag_set& ts = *tag_sets[s.tags];
    for (std::uint32_t i = 0; i < ts.label_count(); ++i) {
      const std::uint32_t t = ts.label_tag(i);
      key.push_back('\0');
      key.append(label_of_key(ts.key(t)));
      key.push_back('\0');
      key.append(ts.value(t));
    }
    return key;
  }

  aggregate_state state_of(const slot& s) const {
    const aggregate& a = aggregates[s.agg];
    const tag_set& ts = *tag_sets[s.tags];
    aggregate_state st;
    st.app_id = apps[s.app].text;
    st.metric.name = names[s.name].text;
    for (std::uint32_t i = 0; i < ts.size(); ++i)
      st.metric.tags.emplace_back(keys[ts.key(i)].text, ts.value(i));
    st.metric.profile_id = profiles[s.profile].text;
    st.metric.type = static_cast<model::metric_type>(s.type);
    st.metric.timestamp_ms = s.timestamp_ms;
    st.metric.value = 0;
    st.partition = s.partition;
    st.ingest_ms = s.ingest_ms;
    st.sum = a.sum;
    st.count = a.count;
    if (a.bounds) {
      st.bounds = *a.bounds;
      st.buckets.assign(a.buckets.get(), a.buckets.get() + a.bounds->size() + 1);
    }
    st.next_offset = a.next_offset;
    return st;
  }

  std::uint32_t identity_hash_of_sample(std::string_view app, const model::metric& m) const {
    hasher h(seed);
    h.bytes(app);
    h.sanitised_name(m.name);
    for (const auto& l : scratch) {
      h.bytes(l.name);
      h.bytes(m.tags[l.tag].second);
    }
    return fold(h.finish());
  }

  // `respelled`: found by identity under a spelling other than the held one, which the update
  // adopts (its original name and tags are the last write's).
  apply_result update(std::uint32_t id, const model::metric& m, std::int32_t partition,
                      std::int64_t ingest_ms, std::int64_t now, bool respelled,
                      std::uint32_t spelled) {
    slot& s = slots[id];
    // A series past its TTL but not yet swept is gone as far as readers know: replace it whatever
    // its timestamp, as a fresh insert would.
    const bool was_expired = expired(s.ingest_ms, now);
    if (!was_expired && m.timestamp_ms < s.timestamp_ms) {
      stale.fetch_add(1, std::memory_order_relaxed);
      return apply_result::stale;
    }
    s.value = m.value;
    s.timestamp_ms = m.timestamp_ms;
    return finish_update(id, m, partition, ingest_ms, respelled, spelled, was_expired);
  }

  // --- removal --------------------------------------------------------------------------------
  // Caller holds `mu` exclusively. Returns how many were removed.
  // `expiring`: removed aggregates are remembered for take_expired().
  template <class Pred>
  std::size_t remove_if(Pred doomed, bool expiring) {
    std::size_t removed = 0;
    touched.clear();
    std::int64_t oldest = std::numeric_limits<std::int64_t>::max();
    for (std::uint32_t id = 0; id < slots.end(); ++id) {
      slot& s = slots[id];
      if (s.name == npos) continue;
      if (!doomed(s)) {
        oldest = std::min(oldest, s.ingest_ms);
        continue;
      }
      index.erase(identity_hash_of(s), id);
      if (s.two_keys) index.erase(spelling_hash_of(s), id);
      touched.push_back(s.family);
      const std::size_t weight = weight_of(s);
      apps[s.app].extra -= weight;
      exposed_total.fetch_sub(weight, std::memory_order_relaxed);
      if (s.type != type_bits(model::metric_type::gauge)) {
        if (expiring) expired_keys[s.partition].push_back(series_key_of(s));
        aggregates[s.agg] = aggregate{};
        aggregate_free.push_back(static_cast<std::uint32_t>(s.agg));
      }
      apps.release(s.app);
      profiles.release(s.profile);
      release_tags(s.tags);
      release_name(s.name);  // may free the family: its run then goes with it
      slots.release(id);
      ++removed;
    }
    oldest_ingest = oldest;
    // Take the removed series out of their families' runs before their slots can be reused.
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (std::uint32_t f : touched) {
      if (families[f].refs == 0) continue;
      families[f].extra.erase([&](std::uint32_t id) { return slots[id].name == npos; });
    }
    total.fetch_sub(removed, std::memory_order_relaxed);
    return removed;
  }

  // --- reading --------------------------------------------------------------------------------
  // The exposition order within a family: app_id, then labels (name, value) pairwise, shorter
  // first on a common prefix.
  bool less_in_family(std::uint32_t a, std::uint32_t b) const {
    const slot& x = slots[a];
    const slot& y = slots[b];
    if (x.app != y.app) return apps[x.app].text < apps[y.app].text;
    const tag_set& tx = *tag_sets[x.tags];
    const tag_set& ty = *tag_sets[y.tags];
    const std::uint32_t n = std::min(tx.label_count(), ty.label_count());
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::uint32_t ix = tx.label_tag(i);
      const std::uint32_t iy = ty.label_tag(i);
      const std::uint32_t kx = tx.key(ix);
      const std::uint32_t ky = ty.key(iy);
      if (keys[kx].extra != keys[ky].extra) {
        if (int c = label_of_key(kx).compare(label_of_key(ky)); c != 0) return c < 0;
      }
      if (int c = tx.value(ix).compare(ty.value(iy)); c != 0) return c < 0;
    }
    return tx.label_count() < ty.label_count();
  }

  // Brings a family's run up to date, and its kept labels with it. Caller holds `mu` shared and
  // `render_mu`.
  void settle(family_runs& r) const {
    if (r.pending.empty()) return;
    const auto less = [this](std::uint32_t a, std::uint32_t b) { return less_in_family(a, b); };
    std::sort(r.pending.begin(), r.pending.end(), less);
    if (r.labels_kept) {
      merge_with_labels(r, less);
    } else {
      const std::size_t middle = r.run.size();
      r.run.insert(r.run.end(), r.pending.begin(), r.pending.end());
      std::inplace_merge(r.run.begin(), r.run.begin() + static_cast<std::ptrdiff_t>(middle),
                         r.run.end(), less);
    }
    r.pending.clear();
    r.pending.shrink_to_fit();
  }

  // settle() for a family with kept labels: the sorted pending series are formatted, then run
  // and text are merged into exactly sized new ones (the old text is copied, not formatted).
  template <class Less>
  void merge_with_labels(family_runs& r, Less less) const {
    std::string fresh;
    std::vector<std::uint32_t> fresh_end;
    fresh_end.reserve(r.pending.size());
    for (std::uint32_t id : r.pending) {
      format_labels(slots[id], fresh);
      fresh_end.push_back(static_cast<std::uint32_t>(std::min<std::size_t>(fresh.size(), npos)));
    }
    if (r.label_text.size() + fresh.size() >= npos) {  // offsets are 32 bits: keep none
      r.forget_labels();
      const std::size_t middle = r.run.size();
      r.run.insert(r.run.end(), r.pending.begin(), r.pending.end());
      std::inplace_merge(r.run.begin(), r.run.begin() + static_cast<std::ptrdiff_t>(middle),
                         r.run.end(), less);
      return;
    }
    const std::size_t n = r.run.size() + r.pending.size();
    std::vector<std::uint32_t> run, end;
    std::string text;
    run.reserve(n);
    end.reserve(n);
    text.reserve(r.label_text.size() + fresh.size());
    std::size_t i = 0, j = 0;
    std::uint32_t old_begin = 0, fresh_begin = 0;
    while (i < r.run.size() || j < r.pending.size()) {
      if (j < r.pending.size() && (i == r.run.size() || less(r.pending[j], r.run[i]))) {
        text.append(fresh, fresh_begin, fresh_end[j] - fresh_begin);
        fresh_begin = fresh_end[j];
        run.push_back(r.pending[j++]);
      } else {
        text.append(r.label_text, old_begin, r.label_end[i] - old_begin);
        old_begin = r.label_end[i];
        run.push_back(r.run[i++]);
      }
      end.push_back(static_cast<std::uint32_t>(text.size()));
    }
    r.run.swap(run);
    r.label_end.swap(end);
    r.label_text.swap(text);
  }

  // Formats the labels of every series of a settled family with `label_writer`, exactly sized.
  void keep_labels(family_runs& r) const {
    std::vector<std::uint32_t> end;
    end.reserve(r.run.size());
    std::string text;
    for (std::uint32_t id : r.run) {
      format_labels(slots[id], text);
      if (text.size() >= npos) return;  // offsets are 32 bits: keep none
      end.push_back(static_cast<std::uint32_t>(text.size()));
    }
    text.shrink_to_fit();
    r.label_text.swap(text);
    r.label_end.swap(end);
    r.labels_kept = true;
  }

  void format_labels(const slot& s, std::string& out) const {
    label_views(s, label_scratch);
    label_writer(label_scratch, out);
  }

  // The families in name order, rebuilt when one was added or removed. Caller holds `mu` shared
  // and `render_mu`.
  void order_families() const {
    if (!families_dirty) return;
    family_order.clear();
    for (std::uint32_t f = 0; f < families.slots(); ++f)
      if (families[f].refs > 0) family_order.push_back(f);
    std::sort(family_order.begin(), family_order.end(), [&](std::uint32_t a, std::uint32_t b) {
      return families[a].text < families[b].text;
    });
    families_dirty = false;
  }

  // Shows the live series of a settled family as series_views, in order.
  template <class Visit>
  void visit_views(const family_runs& r, std::string_view exposition_name, std::int64_t now,
                   Visit&& visit) const {
    std::vector<label_view> labels;
    series_view v;
    v.exposition_name = exposition_name;
    bool aggregate_shown = false;
    const std::vector<std::uint32_t>& run = r.run;
    // The walk is bound by cache misses (the run is in label order, slots and tag sets in
    // arrival order): each series is a chain of three of them, its slot, its entry in
    // `tag_sets` and the tag set. Each link is fetched a few steps before the next needs it, so
    // no load of the walk (prefetches included) waits for memory.
    constexpr std::size_t slot_ahead = 12;
    constexpr std::size_t entry_ahead = 8;
    constexpr std::size_t tags_ahead = 4;
    for (std::size_t i = 0; i < run.size(); ++i) {
      if (i + slot_ahead < run.size()) {
        const char* next = reinterpret_cast<const char*>(&slots[run[i + slot_ahead]]);
        __builtin_prefetch(next);
        __builtin_prefetch(next + sizeof(slot) - 1);
      }
      if (i + entry_ahead < run.size())
        __builtin_prefetch(&tag_sets[slots[run[i + entry_ahead]].tags]);
      if (i + tags_ahead < run.size())
        __builtin_prefetch(tag_sets[slots[run[i + tags_ahead]].tags]);
      const slot& s = slots[run[i]];
      if (!shown(s, now)) continue;
      label_views(s, labels);
      v.app_id = apps[s.app].text;
      v.original_name = names[s.name].text;
      v.labels = labels;
      v.type = static_cast<model::metric_type>(s.type);
      if (v.type == model::metric_type::gauge) [[likely]] {
        v.value = s.value;
        if (aggregate_shown) [[unlikely]] {  // the view showed an aggregate: clear its fields
          v.sum = 0;
          v.count = 0;
          v.bounds = {};
          v.buckets = {};
          aggregate_shown = false;
        }
      } else {
        aggregate_shown = true;
        const aggregate& a = aggregates[s.agg];
        v.value = v.sum = a.sum;
        v.count = a.count;
        if (a.bounds) {
          v.bounds = *a.bounds;
          v.buckets = {a.buckets.get(), a.bounds->size() + 1};
        } else {
          v.bounds = {};
          v.buckets = {};
        }
      }
      v.timestamp_ms = s.timestamp_ms;
      v.ingest_ms = s.ingest_ms;
      v.profile_id = profiles[s.profile].text;
      v.partition = s.partition;
      visit(v);
    }
  }

  // Shows the live series of a gauge family with kept labels as rows. The run and the text are
  // read in order; the only reads at random are the slots (value, TTL, app, name), which do not
  // depend on each other and are fetched `ahead` rows early.
  void visit_rows(const family_runs& r, std::string_view exposition_name, std::int64_t now,
                  render_visitor& visit) const {
    const std::vector<std::uint32_t>& run = r.run;
    const std::uint32_t* end = r.label_end.data();
    const char* text = r.label_text.data();
    gauge_row row;
    row.exposition_name = exposition_name;
    constexpr std::size_t ahead = 16;
    std::uint32_t begin = 0;
    for (std::size_t i = 0; i < run.size(); ++i) {
      if (i + ahead < run.size()) {
        const char* next = reinterpret_cast<const char*>(&slots[run[i + ahead]]);
        __builtin_prefetch(next);
        __builtin_prefetch(next + offsetof(slot, name) + sizeof(slot::name) - 1);  // may straddle
      }
      const slot& s = slots[run[i]];
      const std::uint32_t e = end[i];
      if (shown(s, now)) [[likely]] {
        row.app_id = apps[s.app].text;
        row.original_name = names[s.name].text;
        row.label_text = {text + begin, e - begin};
        row.value = s.value;
        visit.gauge(row);
      }
      begin = e;
    }
  }

  // Under the exclusive lock.
  void set_hidden(std::int32_t partition, bool hide) {
    if (partition < 0 || partition > kMaxHiddenPartition) return;
    const auto p = static_cast<std::size_t>(partition);
    if (p >= hidden.size()) {
      if (!hide) return;
      hidden.resize(p + 1);
    }
    if (hidden[p] == hide) return;
    hidden[p] = hide;
    hide ? ++hidden_count : --hidden_count;
  }
  static constexpr std::int32_t kMaxHiddenPartition = 65'535;

  // Fills `out` (reused) with the labels of `s` as views.
  void label_views(const slot& s, std::vector<label_view>& out) const {
    const tag_set& ts = *tag_sets[s.tags];
    out.clear();
    for (std::uint32_t i = 0; i < ts.label_count(); ++i) {
      const std::uint32_t t = ts.label_tag(i);
      out.emplace_back(label_of_key(ts.key(t)), ts.value(t));
    }
  }

  const store_limits limits;
  const util::clock& clock;
  const std::uint64_t seed;

  mutable std::shared_mutex mu;  // everything below but the atomics
  slab slots;
  id_table index;                    // identity hash (and spelling hash where it differs) -> slot
  string_pool<std::size_t> apps;     // refs = series of the app; extra = the Prometheus series they
                                     // expose (the per-app cap counts them)
  string_pool<std::uint32_t> names;  // original name -> family id
  mutable string_pool<family_runs> families;  // exposition name -> its sorted run
  string_pool<no_extra> profiles;
  string_pool<std::uint32_t> keys;  // raw tag key -> label id
  string_pool<no_extra> labels;     // sanitised label names
  std::vector<tag_set*> tag_sets;
  std::vector<std::uint32_t> tag_free;
  id_table tag_index;
  std::int64_t oldest_ingest = std::numeric_limits<std::int64_t>::max();  // <= every held one
  std::vector<bool> hidden;      // by partition: hide_partition() without show_partition() yet
  std::size_t hidden_count = 0;  // how many of `hidden` are set

  // Aggregates: values beside the slots, layouts held once (never freed: as many as configured
  // plus any other a restored state brought), and the snapshot bookkeeping per partition.
  std::vector<aggregate> aggregates;
  std::vector<std::uint32_t> aggregate_free;
  std::vector<std::unique_ptr<const std::vector<double>>> layouts;
  std::unordered_map<std::int32_t, std::vector<std::uint32_t>> dirty;  // may hold stale ids
  std::unordered_map<std::int32_t, std::vector<std::string>> expired_keys;
  std::unordered_map<std::int32_t, std::int64_t> floors;

  // Scratch of the write path, reused so an update allocates nothing.
  std::vector<pending_label> scratch;
  std::vector<std::string> fresh;
  std::vector<std::uint32_t> key_ids;
  std::vector<std::uint32_t> found_keys;  // labels_of(): each tag key's id, npos when not held
  std::vector<std::uint32_t> order;
  std::vector<std::uint32_t> touched;

  // Readers' state: families in name order, rebuilt when one was added or removed. Written under
  // `render_mu` with `mu` held shared, or with `mu` held exclusively.
  mutable std::mutex render_mu;
  mutable bool families_dirty = false;
  mutable std::vector<std::uint32_t> family_order;
  mutable label_format label_writer = nullptr;  // the format of every family's kept labels
  mutable std::vector<label_view> label_scratch;

  std::atomic<std::size_t> total{0};
  std::atomic<std::uint64_t> dropped_global{0};
  std::atomic<std::uint64_t> dropped_app{0};
  std::atomic<std::uint64_t> stale{0};
  std::atomic<std::uint64_t> expired_count{0};
  std::atomic<std::size_t> exposed_total{0};
  std::atomic<std::uint64_t> type_conflicts{0};
  std::atomic<std::uint64_t> replayed{0};
};

series_store::series_store(store_limits limits, const util::clock& clock)
    : impl_(std::make_unique<impl>(limits, clock)) {}

series_store::~series_store() = default;

apply_result series_store::apply(std::string_view app_id, const model::metric& m,
                                 std::int32_t partition, std::int64_t ingest_ms,
                                 std::int64_t offset) {
  const std::int64_t now = impl_->clock.now_ms();
  std::unique_lock lock(impl_->mu);
  return impl_->apply(app_id, m, partition, ingest_ms, now, offset);
}

void series_store::apply_batch(std::span<const sample> batch, std::span<apply_result> results) {
  if (batch.empty()) return;
  const std::int64_t now = impl_->clock.now_ms();
  std::unique_lock lock(impl_->mu);
  impl& st = *impl_;
  // A poll's records are mostly updates of series last touched long ago, so each is a chain of
  // cache misses: its table entry, its slot, its tag set. The batch is walked in stages ahead
  // of the applies: hashes first (fetching the table entries), then the slot of the first
  // candidate under each hash, its entry in tag_sets, its tag set. Prefetches only: the applies
  // decide. In chunks, so the hashes live on the stack (an update allocates nothing).
  constexpr std::size_t chunk = 128;
  constexpr std::size_t slot_ahead = 12;
  constexpr std::size_t entry_ahead = 8;  // the tag set's entry in tag_sets
  constexpr std::size_t tags_ahead = 4;
  std::uint32_t hashes[chunk];
  for (std::size_t base = 0; base < batch.size(); base += chunk) {
    const std::size_t n = std::min(chunk, batch.size() - base);
    for (std::size_t i = 0; i < n; ++i) {
      const sample& s = batch[base + i];
      hashes[i] = st.spelling_hash(s.app_id, s.metric->name, s.metric->tags);
      st.index.prefetch(hashes[i]);
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (i + slot_ahead < n) {
        if (const std::uint32_t id = st.index.first(hashes[i + slot_ahead]); id != npos)
          __builtin_prefetch(&st.slots[id]);
      }
      if (i + entry_ahead < n) {
        if (const std::uint32_t id = st.index.first(hashes[i + entry_ahead]); id != npos)
          __builtin_prefetch(&st.tag_sets[st.slots[id].tags]);
      }
      if (i + tags_ahead < n) {
        if (const std::uint32_t id = st.index.first(hashes[i + tags_ahead]); id != npos)
          __builtin_prefetch(st.tag_sets[st.slots[id].tags]);
      }
      const sample& s = batch[base + i];
      const apply_result r =
          st.apply(s.app_id, *s.metric, s.partition, s.ingest_ms, now, s.offset, hashes[i]);
      if (!results.empty()) results[base + i] = r;
    }
  }
}

std::size_t series_store::drop_partition(std::int32_t partition) {
  std::unique_lock lock(impl_->mu);
  const std::size_t n =
      impl_->remove_if([partition](const slot& s) { return s.partition == partition; }, false);
  impl_->dirty.erase(partition);
  impl_->expired_keys.erase(partition);
  impl_->floors.erase(partition);
  impl_->set_hidden(partition, false);
  return n;
}

void series_store::hide_partition(std::int32_t partition) {
  std::unique_lock lock(impl_->mu);
  impl_->set_hidden(partition, true);
}

void series_store::show_partition(std::int32_t partition) {
  std::unique_lock lock(impl_->mu);
  impl_->set_hidden(partition, false);
}

std::size_t series_store::expire() {
  if (impl_->limits.ttl_ms == 0) return 0;
  const std::int64_t now = impl_->clock.now_ms();
  std::unique_lock lock(impl_->mu);
  // Nothing held is older than oldest_ingest: skip the sweep until something can have expired.
  if (!impl_->expired(impl_->oldest_ingest, now)) return 0;
  const std::size_t n =
      impl_->remove_if([&](const slot& s) { return impl_->expired(s.ingest_ms, now); }, true);
  impl_->expired_count.fetch_add(n, std::memory_order_relaxed);
  return n;
}

std::vector<series> series_store::app_series(std::string_view app_id) const {
  const std::int64_t now = impl_->clock.now_ms();
  std::vector<series> out;
  std::shared_lock lock(impl_->mu);
  const std::uint32_t app = impl_->apps.find(app_id);
  if (app == npos) return out;
  std::vector<std::uint32_t> ids;
  for (std::uint32_t id = 0; id < impl_->slots.end(); ++id) {
    const slot& s = impl_->slots[id];
    if (s.name != npos && s.app == app && impl_->shown(s, now)) ids.push_back(id);
  }
  // One app: the (exposition_name, app_id, labels) order is (exposition_name, labels).
  std::sort(ids.begin(), ids.end(), [&](std::uint32_t a, std::uint32_t b) {
    const slot& x = impl_->slots[a];
    const slot& y = impl_->slots[b];
    if (x.family != y.family)
      return impl_->families[x.family].text < impl_->families[y.family].text;
    return impl_->less_in_family(a, b);
  });
  out.reserve(ids.size());
  for (std::uint32_t id : ids) {
    const slot& s = impl_->slots[id];
    const tag_set& ts = *impl_->tag_sets[s.tags];
    series c;
    c.app_id = app_id;
    c.exposition_name = impl_->families[s.family].text;
    c.original_name = impl_->names[s.name].text;
    for (std::uint32_t i = 0; i < ts.label_count(); ++i) {
      const std::uint32_t t = ts.label_tag(i);
      c.labels.emplace_back(impl_->label_of_key(ts.key(t)), ts.value(t));
    }
    for (std::uint32_t i = 0; i < ts.size(); ++i)
      c.tags.emplace_back(impl_->keys[ts.key(i)].text, ts.value(i));
    c.value = s.value;
    c.timestamp_ms = s.timestamp_ms;
    c.ingest_ms = s.ingest_ms;
    c.profile_id = impl_->profiles[s.profile].text;
    c.partition = s.partition;
    c.type = static_cast<model::metric_type>(s.type);
    if (c.type != model::metric_type::gauge) {
      const aggregate& a = impl_->aggregates[s.agg];
      c.sum = a.sum;
      c.count = a.count;
      c.value = a.sum;
      if (a.bounds) {
        c.bounds = *a.bounds;
        c.buckets.assign(a.buckets.get(), a.buckets.get() + a.bounds->size() + 1);
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

void series_store::for_each_sorted(const std::function<void(const series_view&)>& visit) const {
  std::shared_lock lock(impl_->mu);
  std::lock_guard render(impl_->render_mu);
  const std::int64_t now = impl_->clock.now_ms();
  const impl& st = *impl_;
  st.order_families();
  for (std::uint32_t f : st.family_order) {
    auto& fam = st.families[f];
    st.settle(fam.extra);
    st.visit_views(fam.extra, fam.text, now, visit);
  }
}

void series_store::render_walk(label_format format, render_visitor& visit) const {
  std::shared_lock lock(impl_->mu);
  std::lock_guard render(impl_->render_mu);
  const std::int64_t now = impl_->clock.now_ms();
  const impl& st = *impl_;
  if (format != st.label_writer) {  // kept labels of another format: start over
    for (std::uint32_t f = 0; f < st.families.slots(); ++f) st.families[f].extra.forget_labels();
    st.label_writer = format;
  }
  st.order_families();
  for (std::uint32_t f : st.family_order) {
    auto& fam = st.families[f];
    family_runs& r = fam.extra;
    st.settle(r);
    if (r.type == model::metric_type::gauge && !r.labels_kept) st.keep_labels(r);
    if (r.labels_kept) {
      st.visit_rows(r, fam.text, now, visit);
    } else {
      st.visit_views(r, fam.text, now, [&](const series_view& v) { visit.series(v); });
    }
  }
}

store_stats series_store::stats() const {
  store_stats st;
  st.series = impl_->total.load(std::memory_order_relaxed);
  st.dropped_global = impl_->dropped_global.load(std::memory_order_relaxed);
  st.dropped_app = impl_->dropped_app.load(std::memory_order_relaxed);
  st.stale = impl_->stale.load(std::memory_order_relaxed);
  st.expired = impl_->expired_count.load(std::memory_order_relaxed);
  st.exposed = impl_->exposed_total.load(std::memory_order_relaxed);
  st.type_conflicts = impl_->type_conflicts.load(std::memory_order_relaxed);
  st.replayed = impl_->replayed.load(std::memory_order_relaxed);
  return st;
}

std::vector<aggregate_state> series_store::take_dirty(std::int32_t partition) {
  std::vector<aggregate_state> out;
  std::unique_lock lock(impl_->mu);
  const auto it = impl_->dirty.find(partition);
  if (it == impl_->dirty.end()) return out;
  std::vector<std::uint32_t> ids = std::move(it->second);
  impl_->dirty.erase(it);
  for (std::uint32_t id : ids) {
    const slot& s = impl_->slots[id];
    // The list may name slots freed (and reused) since, or moved to another partition.
    if (s.name == npos || s.type == type_bits(model::metric_type::gauge) ||
        s.partition != partition)
      continue;
    aggregate& a = impl_->aggregates[s.agg];
    if (!a.dirty) continue;
    a.dirty = false;
    out.push_back(impl_->state_of(s));
  }
  return out;
}

std::vector<std::string> series_store::take_expired(std::int32_t partition) {
  std::unique_lock lock(impl_->mu);
  const auto it = impl_->expired_keys.find(partition);
  if (it == impl_->expired_keys.end()) return {};
  std::vector<std::string> out = std::move(it->second);
  impl_->expired_keys.erase(it);
  return out;
}

void series_store::mark_all_dirty(std::int32_t partition) {
  std::unique_lock lock(impl_->mu);
  for (std::uint32_t id = 0; id < impl_->slots.end(); ++id) {
    const slot& s = impl_->slots[id];
    if (s.name == npos || s.type == type_bits(model::metric_type::gauge) ||
        s.partition != partition)
      continue;
    impl_->mark_dirty(id, partition);
  }
}

void series_store::restore(std::int32_t partition, std::span<const aggregate_state> states,
                           std::int64_t floor) {
  const std::int64_t now = impl_->clock.now_ms();
  std::unique_lock lock(impl_->mu);
  impl_->floors[partition] = floor;
  for (const aggregate_state& st : states) {
    switch (st.metric.type) {
      case model::metric_type::gauge:
        continue;
      case model::metric_type::counter:
        if (!st.bounds.empty() || !st.buckets.empty()) continue;
        break;
      case model::metric_type::histogram:
        if (model::check_bounds(st.bounds) || st.buckets.size() != st.bounds.size() + 1) continue;
        break;
    }
    if (st.metric.name.empty() || impl_->expired(st.ingest_ms, now)) continue;
    impl_->apply(st.app_id, st.metric, partition, st.ingest_ms, now, -1, &st);
  }
}

}  // namespace mca::store
