#include "pipeline/consume.h"

#include <spdlog/spdlog.h>

#include <cmath>

namespace mca::pipeline {

std::string_view to_string(decode_error e) {
  switch (e) {
    case decode_error::bad_magic:
      return "bad_magic";
    case decode_error::truncated:
      return "truncated";
    case decode_error::corrupt:
      return "corrupt";
    case decode_error::unknown_schema:
      return "unknown_schema";
    case decode_error::resolution_failed:
      return "resolution_failed";
    case decode_error::invalid:
      return "invalid";
  }
  return "unknown";
}

std::uint64_t consume_stats::decode_errors_total() const {
  std::uint64_t sum = 0;
  for (auto v : decode_errors) sum += v;
  return sum;
}

consume::consume(const avro::schema& v1, const avro::schema& v2,
                 registry::schema_registry& registry, store::series_store& store,
                 std::int64_t aggregate_ttl_ms, const util::clock& clock)
    : v1_(v1),
      v2_(v2),
      registry_(registry),
      store_(store),
      aggregate_ttl_ms_(aggregate_ttl_ms),
      clock_(&clock) {}

void consume::count(decode_error e) {
  errors_[static_cast<std::size_t>(e)].fetch_add(1, std::memory_order_relaxed);
}

const consume::reader& consume::reader_for(avro::schema_id id) {
  if (auto it = readers_.find(id.value); it != readers_.end()) return it->second;
  reader r;
  auto v1_id = registry_.schema_id(avro::wire_schema::v1);
  auto v2_id = registry_.schema_id(avro::wire_schema::v2);
  if (v1_id && *v1_id == id) {
    r.fast = avro::wire_schema::v1;
  } else if (v2_id && *v2_id == id) {
    r.fast = avro::wire_schema::v2;
  } else if (auto writer = registry_.schema_by_id(id); !writer) {
    spdlog::warn("consumer: writer schema id {} unavailable: {}", id.value, writer.error().message);
    // Not cached: the registry may come back, and it rate-limits its own lookups.
    static thread_local reader unavailable;
    unavailable = reader{};
    unavailable.failure = decode_error::unknown_schema;
    return unavailable;
  } else if (writer->text() == v1_.text()) {
    r.fast = avro::wire_schema::v1;
  } else if (writer->text() == v2_.text()) {
    r.fast = avro::wire_schema::v2;
  } else if (auto dec = avro::resolving_decoder::create(*writer, v2_); !dec) {
    spdlog::warn("consumer: writer schema id {} cannot be read as Metric: {}", id.value,
                 dec.error().message);
    r.failure = decode_error::resolution_failed;
  } else {
    r.resolver.emplace(std::move(*dec));
  }
  return readers_.emplace(id.value, std::move(r)).first->second;
}

namespace {

decode_error classify(const util::error& e) {
  if (e.code == avro::errc::truncated) return decode_error::truncated;
  if (e.code == avro::errc::bad_magic) return decode_error::bad_magic;
  if (e.code == avro::errc::resolution_failed) return decode_error::resolution_failed;
  if (e.code == avro::errc::unknown_type) return decode_error::invalid;
  return decode_error::corrupt;
}

// What the store cannot add: a counter increment that is negative or not finite (a counter
// must never go down) and a histogram observation that is not finite. validate() refuses both at
// the API; records from other producers are checked here.
bool aggregable(const model::metric& m) {
  switch (m.type) {
    case model::metric_type::gauge:
      return true;
    case model::metric_type::counter:
      return std::isfinite(m.value) && m.value >= 0;
    case model::metric_type::histogram:
      return std::isfinite(m.value);
  }
  return false;
}

}  // namespace

std::optional<decode_error> consume::decode(std::string_view value, model::metric& out,
                                            std::int32_t& schema_id) {
  schema_id = -1;
  auto framed = avro::unframe(value);
  if (!framed) return classify(framed.error());
  schema_id = framed->id.value;
  const reader& rd = reader_for(framed->id);
  if (rd.failure) return *rd.failure;
  if (rd.fast) {
    // Into the caller's metric: its strings and tags are reused, no allocation per record.
    if (auto r = avro::decode_into(framed->body, *rd.fast, out); !r) return classify(r.error());
  } else {
    auto decoded = rd.resolver->decode(framed->body);
    if (!decoded) return classify(decoded.error());
    out = std::move(*decoded);
  }
  if (out.name.empty() || !aggregable(out)) return decode_error::invalid;
  return std::nullopt;
}

std::optional<transport::rejection> consume::prepare(const transport::record& rec,
                                                     model::metric& m) {
  std::int32_t id = -1;
  if (auto e = decode(rec.value, m, id)) {
    count(*e);
    return transport::rejection{to_string(*e), id};
  }
  model::normalise(m);
  return std::nullopt;
}

std::optional<transport::rejection> consume::on_record(const transport::record& rec) {
  model::metric m;
  if (auto rejected = prepare(rec, m)) return rejected;
  // The offset makes aggregates exactly-once over a replay (series_store::apply).
  store_.apply(app_of(rec), m, rec.partition, rec.timestamp_ms, rec.offset);
  consumed_.fetch_add(1, std::memory_order_relaxed);
  return std::nullopt;
}

void consume::on_records(std::span<const transport::record> rs,
                         std::span<std::optional<transport::rejection>> rejected) {
  // samples_ point into metrics_: sized before filling, so it never reallocates meanwhile.
  if (metrics_.size() < rs.size()) metrics_.resize(rs.size());
  samples_.clear();
  for (std::size_t i = 0; i < rs.size(); ++i) {
    const auto& rec = rs[i];
    model::metric& m = metrics_[samples_.size()];
    if ((rejected[i] = prepare(rec, m))) continue;
    samples_.push_back({app_of(rec), &m, rec.partition, rec.timestamp_ms, rec.offset});
  }
  if (samples_.empty()) return;
  // One lock hold and one clock read for the poll; the same results as apply() for each.
  store_.apply_batch(samples_);
  consumed_.fetch_add(samples_.size(), std::memory_order_relaxed);
}

void consume::on_assigned(std::span<const std::int32_t> partitions) {
  for (auto p : partitions) spdlog::info("consumer: partition {} assigned", p);
}

void consume::on_rebuilding(std::span<const std::int32_t> partitions) {
  for (auto p : partitions) store_.hide_partition(p);
}

void consume::on_rebuilt(std::int32_t partition) {
  store_.show_partition(partition);
  spdlog::info("consumer: partition {} rebuilt, its series shown", partition);
}

void consume::on_revoked(std::span<const std::int32_t> partitions) {
  for (auto p : partitions) {
    auto dropped = store_.drop_partition(p);
    spdlog::info("consumer: partition {} revoked, {} series dropped", p, dropped);
  }
}

consume_stats consume::stats() const {
  consume_stats s;
  s.consumed = consumed_.load(std::memory_order_relaxed);
  s.restored_states = restored_states_.load(std::memory_order_relaxed);
  s.unreadable_states = unreadable_states_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < kDecodeErrorKinds; ++i) {
    s.decode_errors[i] = errors_[i].load(std::memory_order_relaxed);
  }
  return s;
}

}  // namespace mca::pipeline
