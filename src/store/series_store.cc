#include "store/series_store.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>
#include <random>
#include <shared_mutex>

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

// Open addressing with linear probing over (id, 32-bit hash) pairs; the caller says whether an id
// is the one it looks for. Deletion shifts the following entries back, so there are no
// tombstones. 8 bytes per entry, at most 3/4 full.
class id_table {
 public:
  template <class Eq>
  MCA_HOT std::uint32_t find(std::uint32_t hash, Eq&& eq) const {
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
      if (free_.empty()) {
        id = static_cast<std::uint32_t>(entries_.size());
        entries_.emplace_back();
      } else {
        id = free_.back();
        free_.pop_back();
      }
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
// series added since the last read, which sorts and merges them in.
struct family_runs {
  std::vector<std::uint32_t> run;
  std::vector<std::uint32_t> pending;
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
  double value = 0;
  std::int64_t timestamp_ms = 0;
  std::int64_t ingest_ms = 0;
  std::uint32_t app = npos;
  std::uint32_t name = npos;  // npos: the slot is free
  std::uint32_t family : 31 = 0;
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
  void labels_of(const model::metric& m) {
    scratch.clear();
    fresh.clear();
    fresh.reserve(m.tags.size());  // views into it must not move
    for (std::uint32_t i = 0; i < m.tags.size(); ++i) {
      const std::string& key = m.tags[i].first;
      if (const std::uint32_t k = keys.find(key); k != npos) {
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
  std::uint32_t intern_name(std::string_view name) {
    bool created = false;
    const std::uint32_t id = names.intern(name, &created);
    if (created) {
      bool new_family = false;
      names[id].extra = families.intern(model::exposition_name(name), &new_family);
      if (new_family) families_dirty = true;
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
  // The tag set of `m` (scratch holds its labels), shared with every series that has it.
  std::uint32_t intern_tags(const model::metric& m) {
    key_ids.clear();
    for (const auto& t : m.tags) key_ids.push_back(intern_key(t.first));
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
    std::uint32_t id;
    if (tag_free.empty()) {
      id = static_cast<std::uint32_t>(tag_sets.size());
      tag_sets.push_back(nullptr);
    } else {
      id = tag_free.back();
      tag_free.pop_back();
    }
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
  apply_result apply(std::string_view app, const model::metric& m, std::int32_t partition,
                     std::int64_t ingest_ms, std::int64_t now) {
    const std::uint32_t spelled = spelling_hash(app, m.name, m.tags);
    std::uint32_t id =
        index.find(spelled, [&](std::uint32_t i) { return same_spelling(slots[i], app, m); });
    if (id != npos) return update(id, m, partition, ingest_ms, now, false, spelled);

    // A spelling not seen before: sanitise, then look for the series under its identity.
    labels_of(m);
    const std::uint32_t app_id = apps.find(app);
    std::uint32_t family = npos;
    if (const std::uint32_t n = names.find(m.name); n != npos) {
      family = names[n].extra;
    } else {
      family = families.find(model::exposition_name(m.name));
    }
    const std::uint32_t identity = identity_hash_of_sample(app, m);
    if (app_id != npos && family != npos) {
      id = index.find(identity,
                      [&](std::uint32_t i) { return same_identity(slots[i], app_id, family, m); });
      if (id != npos) return update(id, m, partition, ingest_ms, now, true, spelled);
    }

    // A new series: admission first, so a dropped sample interns nothing.
    if (total.load(std::memory_order_relaxed) >= limits.max_series) {
      dropped_global.fetch_add(1, std::memory_order_relaxed);
      return apply_result::dropped_global;
    }
    if ((app_id == npos ? 0 : apps[app_id].refs) >= limits.max_series_per_app) {
      dropped_app.fetch_add(1, std::memory_order_relaxed);
      return apply_result::dropped_app;
    }
    id = slots.allocate();
    slot& s = slots[id];
    s.app = apps.intern(app);
    s.name = intern_name(m.name);
    s.family = names[s.name].extra;
    s.tags = intern_tags(m);
    set_profile(s, m.profile_id);
    s.value = m.value;
    s.timestamp_ms = m.timestamp_ms;
    s.ingest_ms = ingest_ms;
    s.partition = partition;
    s.two_keys = spelled != identity ? 1 : 0;
    index.insert(identity, id);
    if (s.two_keys) index.insert(spelled, id);
    families[s.family].extra.pending.push_back(id);
    oldest_ingest = std::min(oldest_ingest, ingest_ms);
    total.fetch_add(1, std::memory_order_relaxed);
    return apply_result::inserted;
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
    s.ingest_ms = ingest_ms;
    s.partition = partition;
    oldest_ingest = std::min(oldest_ingest, ingest_ms);
    set_profile(s, m.profile_id);
    if (respelled) {
      const std::uint32_t identity = identity_hash_of(s);
      if (s.two_keys) index.erase(spelling_hash_of(s), id);
      const std::uint32_t old_name = s.name;
      s.name = intern_name(m.name);
      release_name(old_name);
      const std::uint32_t old_tags = s.tags;
      s.tags = intern_tags(m);
      release_tags(old_tags);
      s.two_keys = spelled != identity ? 1 : 0;
      if (s.two_keys) index.insert(spelled, id);
    }
    if (was_expired) {
      expired_count.fetch_add(1, std::memory_order_relaxed);
      return apply_result::inserted;
    }
    return apply_result::updated;
  }

  // --- removal --------------------------------------------------------------------------------
  // Caller holds `mu` exclusively. Returns how many were removed.
  template <class Pred>
  std::size_t remove_if(Pred doomed) {
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
      family_runs& r = families[f].extra;
      const auto gone = [&](std::uint32_t id) { return slots[id].name == npos; };
      std::erase_if(r.run, gone);
      std::erase_if(r.pending, gone);
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

  // Brings a family's run up to date. Caller holds `mu` shared and `render_mu`.
  void settle(family_runs& r) const {
    if (r.pending.empty()) return;
    const auto less = [this](std::uint32_t a, std::uint32_t b) { return less_in_family(a, b); };
    std::sort(r.pending.begin(), r.pending.end(), less);
    const std::size_t middle = r.run.size();
    r.run.insert(r.run.end(), r.pending.begin(), r.pending.end());
    std::inplace_merge(r.run.begin(), r.run.begin() + static_cast<std::ptrdiff_t>(middle),
                       r.run.end(), less);
    r.pending.clear();
    r.pending.shrink_to_fit();
  }

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
  string_pool<no_extra> apps;        // refs = series of the app (the per-app cap counts them)
  string_pool<std::uint32_t> names;  // original name -> family id
  mutable string_pool<family_runs> families;  // exposition name -> its sorted run
  string_pool<no_extra> profiles;
  string_pool<std::uint32_t> keys;  // raw tag key -> label id
  string_pool<no_extra> labels;     // sanitised label names
  std::vector<tag_set*> tag_sets;
  std::vector<std::uint32_t> tag_free;
  id_table tag_index;
  std::int64_t oldest_ingest = std::numeric_limits<std::int64_t>::max();  // <= every held one

  // Scratch of the write path, reused so an update allocates nothing.
  std::vector<pending_label> scratch;
  std::vector<std::string> fresh;
  std::vector<std::uint32_t> key_ids;
  std::vector<std::uint32_t> order;
  std::vector<std::uint32_t> touched;

  // Readers' state: families in name order, rebuilt when one was added or removed. Written under
  // `render_mu` with `mu` held shared, or with `mu` held exclusively.
  mutable std::mutex render_mu;
  mutable bool families_dirty = false;
  mutable std::vector<std::uint32_t> family_order;

  std::atomic<std::size_t> total{0};
  std::atomic<std::uint64_t> dropped_global{0};
  std::atomic<std::uint64_t> dropped_app{0};
  std::atomic<std::uint64_t> stale{0};
  std::atomic<std::uint64_t> expired_count{0};
};

series_store::series_store(store_limits limits, const util::clock& clock)
    : impl_(std::make_unique<impl>(limits, clock)) {}

series_store::~series_store() = default;

apply_result series_store::apply(std::string_view app_id, const model::metric& m,
                                 std::int32_t partition, std::int64_t ingest_ms) {
  const std::int64_t now = impl_->clock.now_ms();
  std::unique_lock lock(impl_->mu);
  return impl_->apply(app_id, m, partition, ingest_ms, now);
}

void series_store::apply_batch(std::span<const sample> batch, std::span<apply_result> results) {
  if (batch.empty()) return;
  const std::int64_t now = impl_->clock.now_ms();
  std::unique_lock lock(impl_->mu);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const sample& s = batch[i];
    const apply_result r = impl_->apply(s.app_id, *s.metric, s.partition, s.ingest_ms, now);
    if (!results.empty()) results[i] = r;
  }
}

std::size_t series_store::drop_partition(std::int32_t partition) {
  std::unique_lock lock(impl_->mu);
  return impl_->remove_if([partition](const slot& s) { return s.partition == partition; });
}

std::size_t series_store::expire() {
  if (impl_->limits.ttl_ms == 0) return 0;
  const std::int64_t now = impl_->clock.now_ms();
  std::unique_lock lock(impl_->mu);
  // Nothing held is older than oldest_ingest: skip the sweep until something can have expired.
  if (!impl_->expired(impl_->oldest_ingest, now)) return 0;
  const std::size_t n =
      impl_->remove_if([&](const slot& s) { return impl_->expired(s.ingest_ms, now); });
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
    if (s.name != npos && s.app == app && !impl_->expired(s.ingest_ms, now)) ids.push_back(id);
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
    out.push_back(std::move(c));
  }
  return out;
}

void series_store::for_each_sorted(const std::function<void(const series_view&)>& visit) const {
  std::shared_lock lock(impl_->mu);
  std::lock_guard render(impl_->render_mu);
  const std::int64_t now = impl_->clock.now_ms();
  impl& st = *impl_;
  if (st.families_dirty) {
    st.family_order.clear();
    for (std::uint32_t f = 0; f < st.families.slots(); ++f)
      if (st.families[f].refs > 0) st.family_order.push_back(f);
    std::sort(st.family_order.begin(), st.family_order.end(),
              [&](std::uint32_t a, std::uint32_t b) {
                return st.families[a].text < st.families[b].text;
              });
    st.families_dirty = false;
  }
  std::vector<label_view> labels;
  series_view v;
  for (std::uint32_t f : st.family_order) {
    auto& fam = st.families[f];
    st.settle(fam.extra);
    v.exposition_name = fam.text;
    const std::vector<std::uint32_t>& run = fam.extra.run;
    // The walk is bound by cache misses (the run is in label order, the slots in arrival order):
    // fetch the slot a few steps ahead, and its tag set once the slot is there.
    constexpr std::size_t slot_ahead = 8;
    constexpr std::size_t tags_ahead = 4;
    for (std::size_t i = 0; i < run.size(); ++i) {
      if (i + slot_ahead < run.size()) {
        const char* next = reinterpret_cast<const char*>(&st.slots[run[i + slot_ahead]]);
        __builtin_prefetch(next);
        __builtin_prefetch(next + sizeof(slot) - 1);
      }
      if (i + tags_ahead < run.size())
        __builtin_prefetch(st.tag_sets[st.slots[run[i + tags_ahead]].tags]);
      const slot& s = st.slots[run[i]];
      if (st.expired(s.ingest_ms, now)) continue;
      st.label_views(s, labels);
      v.app_id = st.apps[s.app].text;
      v.original_name = st.names[s.name].text;
      v.labels = labels;
      v.value = s.value;
      v.timestamp_ms = s.timestamp_ms;
      v.ingest_ms = s.ingest_ms;
      v.profile_id = st.profiles[s.profile].text;
      v.partition = s.partition;
      visit(v);
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
  return st;
}

}  // namespace mca::store
