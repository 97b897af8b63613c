#include "pipeline/consume.h"

#include <spdlog/spdlog.h>

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

consume::consume(const avro::schema& ours, registry::schema_registry& registry,
                 store::series_store& store)
    : ours_(ours), registry_(registry), store_(store) {}

void consume::count(decode_error e) {
  errors_[static_cast<std::size_t>(e)].fetch_add(1, std::memory_order_relaxed);
}

const consume::reader& consume::reader_for(avro::schema_id id) {
  if (auto it = readers_.find(id.value); it != readers_.end()) return it->second;
  reader r;
  auto ours_id = registry_.value_schema_id();
  if (ours_id && *ours_id == id) {
    r.ours = true;
  } else if (auto writer = registry_.schema_by_id(id); !writer) {
    spdlog::warn("consumer: writer schema id {} unavailable: {}", id.value, writer.error().message);
    // Not cached: the registry may come back, and it rate-limits its own lookups.
    static thread_local reader unavailable;
    unavailable = reader{};
    unavailable.failure = decode_error::unknown_schema;
    return unavailable;
  } else if (writer->text() == ours_.text()) {
    r.ours = true;
  } else if (auto dec = avro::resolving_decoder::create(*writer, ours_); !dec) {
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
  return decode_error::corrupt;
}

}  // namespace

std::optional<transport::rejection> consume::on_record(const transport::record& rec) {
  const auto reject = [this](decode_error e, std::int32_t schema_id = -1) {
    count(e);
    return std::optional<transport::rejection>(transport::rejection{to_string(e), schema_id});
  };
  auto framed = avro::unframe(rec.value);
  if (!framed) return reject(classify(framed.error()));
  const std::int32_t id = framed->id.value;
  const reader& rd = reader_for(framed->id);
  if (rd.failure) return reject(*rd.failure, id);
  auto decoded = rd.ours ? avro::decode(framed->body) : rd.resolver->decode(framed->body);
  if (!decoded) return reject(classify(decoded.error()), id);
  if (decoded->name.empty()) return reject(decode_error::invalid, id);
  model::normalise(*decoded);
  const std::string_view app = rec.app_id.empty() ? kUnknownApp : rec.app_id;
  store_.apply(app, *decoded, rec.partition, rec.timestamp_ms);
  consumed_.fetch_add(1, std::memory_order_relaxed);
  return std::nullopt;
}

void consume::on_assigned(std::span<const std::int32_t> partitions) {
  for (auto p : partitions) spdlog::info("consumer: partition {} assigned", p);
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
  for (std::size_t i = 0; i < kDecodeErrorKinds; ++i) {
    s.decode_errors[i] = errors_[i].load(std::memory_order_relaxed);
  }
  return s;
}

}  // namespace mca::pipeline
