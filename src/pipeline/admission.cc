#include "pipeline/admission.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <unordered_map>

#include "pipeline/series_table.h"
#include "store/series_store.h"

namespace mca::pipeline {

std::string_view to_string(refusal r) {
  switch (r) {
    case refusal::app_series:
      return "max_series_per_app";
    case refusal::global_series:
      return "max_series";
    case refusal::app_bytes:
      return "max_series_bytes_per_app";
    case refusal::global_bytes:
      return "max_series_bytes";
    case refusal::name_collision:
      return "name_collision";
    case refusal::type_conflict:
      return "type_conflict";
  }
  return "unknown";
}

namespace {

struct series_entry {
  std::int64_t last_seen = 0;
  std::size_t weight = 0;
  std::size_t exposed = 1;    // Prometheus series (a histogram: bounds + 3)
  std::uint32_t pending = 0;  // batches that wrote it and await the transport's answer
  bool delivered = false;     // some batch that wrote it was delivered: the store has it
};

struct name_entry {
  std::string original;
  std::int64_t last_seen = 0;
  std::uint32_t pending = 0;
  bool delivered = false;
};

// One name a metric uses, held with the type of the metric that wrote it (see admission.h).
struct claim_entry {
  model::metric_type type = model::metric_type::gauge;
  std::string original;  // the original name that wrote it (per app only)
  std::int64_t last_seen = 0;
  std::uint32_t pending = 0;
  bool delivered = false;
};

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

using claim_map = std::unordered_map<std::string, claim_entry, string_hash, std::equal_to<>>;

struct app_state {
  explicit app_state(std::uint64_t seed) : series(seed) {}
  series_table<series_entry> series;
  std::unordered_map<std::string, name_entry, string_hash, std::equal_to<>> names;
  claim_map claims;
  std::size_t bytes = 0;
  std::size_t exposed = 0;
  bool empty() const { return series.empty() && names.empty() && claims.empty(); }
};

// The names a metric of exposition name `e` and type `t` uses, each prefixed by its kind: 'i' the
// series identity (the exposition name, whatever the type), 's' a name it is exposed under.
std::vector<std::string> claims_of(std::string_view e, model::metric_type t) {
  const auto claim = [e](char kind, std::string_view suffix = {}) {
    std::string c;
    c.reserve(1 + e.size() + suffix.size());
    c.push_back(kind);
    c.append(e).append(suffix);
    return c;
  };
  std::vector<std::string> out;
  out.push_back(claim('i'));
  switch (t) {
    case model::metric_type::gauge:
      out.push_back(claim('s'));
      break;
    case model::metric_type::counter:
      out.push_back(claim('s', "_total"));
      break;
    case model::metric_type::histogram:
      out.push_back(claim('s'));
      out.push_back(claim('s', "_bucket"));
      out.push_back(claim('s', "_sum"));
      out.push_back(claim('s', "_count"));
      break;
  }
  return out;
}

// "a gauge", "a counter", "a histogram", for messages.
std::string a_type(model::metric_type t) { return "a " + std::string(model::to_string(t)); }

std::uint64_t hash_key(std::string_view key) { return std::hash<std::string_view>{}(key); }

}  // namespace

struct series_admission::impl {
  admission_limits limits;
  mutable std::mutex mu;
  std::unordered_map<std::string, app_state, string_hash, std::equal_to<>> apps;
  claim_map claims;  // every app's claims: the exposition merges apps into one family per name
  std::size_t total_series = 0;
  std::size_t total_exposed = 0;
  std::size_t total_bytes = 0;
  std::atomic<std::uint64_t> refused[kRefusalKinds] = {};
  // Seeds the apps' series tables (series_table.h).
  const std::uint64_t seed = std::random_device{}() * 0x100000001B3ull ^ std::random_device{}();

  // Still counted: written within ttl + grace, or awaiting the transport.
  bool live(std::int64_t last_seen, std::uint32_t pending, std::int64_t now) const {
    return pending > 0 || limits.store.ttl_ms == 0 ||
           now - last_seen <= limits.store.ttl_ms + limits.grace_ms;
  }

  bool live(const claim_entry& e, std::int64_t now) const {
    return live(e.last_seen, e.pending, now);
  }

  // Pending-until-settle bookkeeping shared by the per-app and the global claim maps.
  static void settle_claim(claim_map& m, const std::string& c, bool delivered) {
    auto it = m.find(c);
    if (it == m.end()) return;
    auto& e = it->second;
    if (e.pending > 0) --e.pending;
    if (delivered)
      e.delivered = true;
    else if (e.pending == 0 && !e.delivered)
      m.erase(it);
  }

  void write_claim(claim_map& m, const std::string& c, model::metric_type t,
                   const std::string& original, std::int64_t now) {
    auto [it, fresh] = m.try_emplace(c);
    if (fresh || !live(it->second, now)) it->second = claim_entry{t, original, now, 0, false};
    it->second.last_seen = std::max(it->second.last_seen, now);
    ++it->second.pending;
  }

  // Takes a series' weight and Prometheus series off the app's and the service's counts.
  void uncount(app_state& app, const series_entry& e) {
    app.bytes -= e.weight;
    total_bytes -= e.weight;
    app.exposed -= e.exposed;
    total_exposed -= e.exposed;
  }

  void forget_series(app_state& app, std::uint32_t id) {
    uncount(app, app.series[id]);
    --total_series;
    app.series.erase(id);
  }
};

series_admission::series_admission(admission_limits limits) : impl_(std::make_unique<impl>()) {
  impl_->limits = limits;
}

series_admission::~series_admission() = default;

std::size_t series_admission::weight(std::string_view key, const model::metric& m) const {
  std::size_t w =
      key.size() + m.name.size() + impl_->limits.max_profile_id_bytes + kSeriesOverheadBytes;
  for (const auto& [k, v] : m.tags) w += k.size() + v.size();
  return w;
}

namespace {

// Work that needs no lock: the series hash, the exposition name, the weight and how many
// Prometheus series the item adds, and the names the item claims. Items of one batch that share
// their name and type share their exposition name and claims (`head`: the first such item), which
// are made once.
struct prepared {
  std::uint64_t hash;
  std::string_view exposition;  // the candidate's, `own`, or its head's
  std::size_t weight;
  std::size_t exposed;
  std::size_t head;
  std::string own;                  // the exposition name, when made here
  std::vector<std::string> claims;  // claims_of(exposition, type); only in a head
};

// For each item, the first item of `items` with the same name and type (itself when none).
// The caller's grouping by name (candidate::same_name) is used when it holds.
std::vector<std::size_t> heads_of(std::span<const series_admission::candidate> items) {
  std::vector<std::size_t> head(items.size());
  bool grouped = true;
  for (std::size_t i = 0; i < items.size() && grouped; ++i) {
    const std::size_t h = items[i].same_name;
    grouped = h <= i && items[h].same_name == h && items[h].m->name == items[i].m->name;
    head[i] = h;
  }
  if (!grouped)
    head = model::first_with_same_name(
        items.size(), [&](std::size_t i) -> std::string_view { return items[i].m->name; });
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (items[head[i]].m->type != items[i].m->type) head[i] = i;
  }
  return head;
}

// Why an item is refused: the counter it goes to, the field and the message of the answer.
struct refusal_reason {
  refusal why;
  std::string field;
  std::string message;
};

std::string cap_message(const char* what, std::size_t extra_series, std::size_t held,
                        std::size_t cap) {
  // Prometheus series this one adds: 1 for a gauge or counter, bounds + 3 for a histogram.
  if (extra_series == 1)
    return "new series refused: the " + std::string(what) + " holds " + std::to_string(cap);
  return "new histogram refused (it counts " + std::to_string(extra_series) +
         " series: its buckets, +Inf, _sum and _count): the " + what + " holds " +
         std::to_string(held) + " of " + std::to_string(cap);
}

}  // namespace

// The name-collision and type checks, in the order the answer reports them.
struct series_admission::checks {
  impl& self;
  app_state& app;
  std::int64_t now;

  std::optional<refusal_reason> name_collision(const prepared& p, const model::metric& m,
                                               bool name_live, const name_entry* held) const {
    if (!name_live || held->original == m.name) return std::nullopt;
    return refusal_reason{refusal::name_collision, "name",
                          "becomes \"" + std::string(p.exposition) + "\" for Prometheus, like \"" +
                              held->original +
                              "\" that this app already writes: two names would merge into one "
                              "series; use one spelling"};
  }

  // One family, one type: this app's claims first (their message may name the app's own
  // metric), then every app's (which names no other app's metric).
  std::optional<refusal_reason> type_conflict(const std::vector<std::string>& claims,
                                              model::metric_type t) const {
    for (const auto& claim : claims) {
      const std::string_view exposed = std::string_view(claim).substr(1);
      if (auto it = app.claims.find(claim);
          it != app.claims.end() && self.live(it->second, now) && it->second.type != t)
        return refusal_reason{refusal::type_conflict, "type",
                              "as " + a_type(t) + " it would share the Prometheus name " +
                                  std::string(exposed) + " with " + a_type(it->second.type) +
                                  " this app writes (\"" + it->second.original +
                                  "\"): one name has one type; send it as " +
                                  a_type(it->second.type) + " or use another name"};
      if (auto it = self.claims.find(claim);
          it != self.claims.end() && self.live(it->second, now) && it->second.type != t)
        return refusal_reason{refusal::type_conflict, "type",
                              "as " + a_type(t) + " it would share the Prometheus name " +
                                  std::string(exposed) + " with " + a_type(it->second.type) +
                                  " another app writes: one name has one type across the "
                                  "service; use another name"};
    }
    return std::nullopt;
  }

  // The caps a new series (or one replacing an expired entry of `old_weight` and `old_exposed`)
  // must fit in.
  std::optional<refusal_reason> caps(const prepared& p, std::size_t old_weight,
                                     std::size_t old_exposed) const {
    const auto& L = self.limits;
    const std::size_t extra_series = p.exposed > old_exposed ? p.exposed - old_exposed : 0;
    if (L.store.max_series_per_app && extra_series &&
        app.exposed + extra_series > L.store.max_series_per_app)
      return refusal_reason{
          refusal::app_series, "series",
          cap_message("app", extra_series, app.exposed, L.store.max_series_per_app) +
              " series (MAX_SERIES_PER_APP) until one is not written for " +
              std::to_string(L.store.ttl_ms / 1000) + " s (METRIC_TTL_SECONDS)"};
    if (L.store.max_series && extra_series &&
        self.total_exposed + extra_series > L.store.max_series)
      return refusal_reason{
          refusal::global_series, "series",
          cap_message("service", extra_series, self.total_exposed, L.store.max_series) +
              " series (MAX_SERIES)"};
    const std::size_t grow = p.weight > old_weight ? p.weight - old_weight : 0;
    if (L.max_app_bytes && app.bytes + grow > L.max_app_bytes)
      return refusal_reason{refusal::app_bytes, "series",
                            "new series refused: the app's series would exceed " +
                                std::to_string(L.max_app_bytes) +
                                " bytes (MAX_SERIES_BYTES_PER_APP; this series counts " +
                                std::to_string(p.weight) + ")"};
    if (L.max_total_bytes && self.total_bytes + grow > L.max_total_bytes)
      return refusal_reason{refusal::global_bytes, "series",
                            "new series refused: the service's series would exceed " +
                                std::to_string(L.max_total_bytes) + " bytes (MAX_SERIES_BYTES)"};
    return std::nullopt;
  }

  // Counts a new series, or replaces an expired entry `id` in place; its id.
  std::uint32_t add_series(const prepared& p, std::uint32_t id) const {
    if (id == series_table<series_entry>::npos) {
      id = app.series.insert(p.hash);
      ++self.total_series;
    } else {
      self.uncount(app, app.series[id]);
      app.series[id] = series_entry{};
    }
    series_entry& e = app.series[id];
    e.weight = p.weight;
    app.bytes += p.weight;
    self.total_bytes += p.weight;
    e.exposed = p.exposed;
    app.exposed += p.exposed;
    self.total_exposed += p.exposed;
    return id;
  }
};

series_admission::ticket series_admission::admit(std::string_view app_id,
                                                 std::span<const candidate> items,
                                                 std::int64_t now) {
  ticket t;
  t.app_id = std::string(app_id);
  t.admitted.assign(items.size(), false);

  const std::vector<std::size_t> head = heads_of(items);
  std::vector<prepared> prep(items.size());  // never resized: items point into their heads
  for (std::size_t i = 0; i < items.size(); ++i) {
    const candidate& c = items[i];
    prepared& p = prep[i];
    p.head = head[i];
    p.hash = hash_key(c.key);
    p.weight = weight(c.key, *c.m);
    if (p.head != i) {
      const prepared& h = prep[p.head];
      p.exposition = h.exposition;
      p.exposed = h.exposed;
      continue;
    }
    if (c.exposition.empty()) {
      p.own = model::exposition_name(c.m->name);
      p.exposition = p.own;
    } else {
      p.exposition = c.exposition;
    }
    const std::size_t bounds = c.m->type == model::metric_type::histogram
                                   ? impl_->limits.store.buckets.layout_for(c.m->name).size()
                                   : 0;
    p.exposed = store::exposed_series(c.m->type, bounds);
    p.claims = claims_of(p.exposition, c.m->type);
  }
  // Heads whose name and claims this batch has written: the items that share them pass the name
  // and type checks as their head did and write nothing more (`pending` counts batches).
  std::vector<bool> written(items.size(), false);

  std::lock_guard lock(impl_->mu);
  auto app_it = impl_->apps.find(app_id);
  if (app_it == impl_->apps.end())
    app_it = impl_->apps.emplace(std::string(app_id), app_state(impl_->seed)).first;
  app_state& app = app_it->second;
  const checks check{*impl_, app, now};

  for (std::size_t i = 0; i < items.size(); ++i) {
    const model::metric& m = *items[i].m;
    const prepared& p = prep[i];
    const bool repeat = written[p.head];
    const auto& claims = prep[p.head].claims;

    constexpr std::uint32_t none = series_table<series_entry>::npos;
    std::uint32_t id = app.series.find(p.hash);
    // A series past its TTL that expire() has not swept still counts: it is replaced in place
    // and only the weight difference matters.
    const bool known =
        id != none && impl_->live(app.series[id].last_seen, app.series[id].pending, now);

    std::optional<refusal_reason> refused;
    auto name_it = app.names.end();
    bool name_live = false;
    if (!repeat) {
      name_it = app.names.find(p.exposition);
      name_live = name_it != app.names.end() &&
                  impl_->live(name_it->second.last_seen, name_it->second.pending, now);
      refused = check.name_collision(p, m, name_live, name_live ? &name_it->second : nullptr);
      if (!refused) refused = check.type_conflict(claims, m.type);
    }
    if (!refused && !known)
      refused = id != none ? check.caps(p, app.series[id].weight, app.series[id].exposed)
                           : check.caps(p, 0, 0);
    if (refused) {
      impl_->refused[static_cast<std::size_t>(refused->why)].fetch_add(1,
                                                                       std::memory_order_relaxed);
      t.refused.push_back({items[i].index, std::move(refused->field), std::move(refused->message)});
      continue;
    }

    if (!known) id = check.add_series(p, id);
    app.series[id].last_seen = now;
    ++app.series[id].pending;
    t.series.push_back(id);
    t.admitted[i] = true;
    if (repeat) continue;

    if (name_it == app.names.end())
      name_it = app.names.emplace(std::string(p.exposition), name_entry{}).first;
    if (!name_live) name_it->second = name_entry{m.name, now, 0, false};
    name_it->second.last_seen = now;
    ++name_it->second.pending;
    t.names.emplace_back(p.exposition);
    for (const auto& claim : claims) {
      impl_->write_claim(app.claims, claim, m.type, m.name, now);
      impl_->write_claim(impl_->claims, claim, m.type, std::string(), now);
      t.claims.push_back(claim);
    }
    written[p.head] = true;
  }
  if (app.empty()) impl_->apps.erase(app_it);
  return t;
}

void series_admission::settle(ticket& t, bool delivered) {
  if (t.series.empty() && t.names.empty() && t.claims.empty()) return;
  std::lock_guard lock(impl_->mu);
  for (const auto& c : t.claims) impl::settle_claim(impl_->claims, c, delivered);
  auto app_it = impl_->apps.find(t.app_id);
  if (app_it == impl_->apps.end()) {
    t.claims.clear();
    return;
  }
  app_state& app = app_it->second;
  // The ticket's pending count keeps each of its series in the table (neither expire() nor
  // another batch's settle removes an entry while it is pending), so its ids still hold them.
  for (const std::uint32_t id : t.series) {
    if (!app.series.held(id)) continue;
    auto& e = app.series[id];
    if (e.pending > 0) --e.pending;
    if (delivered)
      e.delivered = true;
    else if (e.pending == 0 && !e.delivered)
      impl_->forget_series(app, id);  // never reached the log: its budget comes back
  }
  for (const auto& n : t.names) {
    auto it = app.names.find(n);
    if (it == app.names.end()) continue;
    auto& e = it->second;
    if (e.pending > 0) --e.pending;
    if (delivered)
      e.delivered = true;
    else if (e.pending == 0 && !e.delivered)
      app.names.erase(it);
  }
  for (const auto& c : t.claims) impl::settle_claim(app.claims, c, delivered);
  if (app.empty()) impl_->apps.erase(app_it);
  t.series.clear();
  t.names.clear();
  t.claims.clear();
}

void series_admission::expire(std::int64_t now) {
  if (impl_->limits.store.ttl_ms == 0) return;
  std::lock_guard lock(impl_->mu);
  for (auto app_it = impl_->apps.begin(); app_it != impl_->apps.end();) {
    app_state& app = app_it->second;
    for (std::uint32_t id = 0; id < app.series.end(); ++id) {
      if (app.series.held(id) &&
          !impl_->live(app.series[id].last_seen, app.series[id].pending, now))
        impl_->forget_series(app, id);
    }
    std::erase_if(app.names, [&](const auto& kv) {
      return !impl_->live(kv.second.last_seen, kv.second.pending, now);
    });
    std::erase_if(app.claims, [&](const auto& kv) { return !impl_->live(kv.second, now); });
    if (app.empty())
      app_it = impl_->apps.erase(app_it);
    else
      ++app_it;
  }
  std::erase_if(impl_->claims, [&](const auto& kv) { return !impl_->live(kv.second, now); });
}

admission_stats series_admission::stats() const {
  admission_stats s;
  {
    std::lock_guard lock(impl_->mu);
    s.apps = impl_->apps.size();
    s.series = impl_->total_series;
    s.exposed = impl_->total_exposed;
    s.bytes = impl_->total_bytes;
  }
  for (std::size_t i = 0; i < kRefusalKinds; ++i)
    s.refused[i] = impl_->refused[i].load(std::memory_order_relaxed);
  return s;
}

}  // namespace mca::pipeline
