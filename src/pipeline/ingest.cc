#include "pipeline/ingest.h"

#include <algorithm>
#include <optional>

#include "avro/metric_codec.h"

namespace mca::pipeline {

ingest::ingest(model::limits limits, registry::schema_registry& registry,
               transport::producer& producer, const util::clock& clock, series_admission* admission)
    : limits_(limits),
      registry_(registry),
      producer_(producer),
      clock_(clock),
      admission_(admission) {}

void ingest::submit(std::string_view app_id, batch b, callback done) {
  const std::int64_t now = clock_.now_ms();
  outcome result;
  result.rejected = std::move(b.rejected);

  std::vector<const model::metric*> valid;
  std::vector<std::size_t> valid_index;
  valid.reserve(b.items.size());
  valid_index.reserve(b.items.size());
  std::uint64_t clamped = 0;
  for (auto& [index, m] : b.items) {
    if (auto err = model::validate(m, index, limits_, now)) {
      result.rejected.push_back(std::move(*err));
      continue;
    }
    model::normalise(m);
    if (model::clamp_to_receive_time(m, now)) ++clamped;
    valid.push_back(&m);
    valid_index.push_back(index);
  }

  // Exposition names once per name of the batch (they key the series and admission's checks);
  // admission takes the grouping too.
  const auto first = model::first_with_same_name(
      valid.size(), [&](std::size_t i) -> std::string_view { return valid[i]->name; });
  // The records are written into the producer's spare messages: the embedded log hands back the
  // strings of records it has consumed, so a key or frame that fits allocates nothing.
  std::vector<std::string> expositions(valid.size());
  auto messages = producer_.spare_messages(valid.size());
  for (std::size_t i = 0; i < valid.size(); ++i) {
    if (first[i] == i) expositions[i] = model::exposition_name(valid[i]->name);
    model::write_series_key(messages[i].key, app_id, expositions[first[i]], valid[i]->tags);
  }

  // What the store will hold: refused series are rejected here, in the answer.
  std::optional<series_admission::ticket> ticket;
  if (admission_ && !valid.empty()) {
    std::vector<series_admission::candidate> candidates(valid.size());
    for (std::size_t i = 0; i < valid.size(); ++i)
      candidates[i] = {valid_index[i], valid[i], messages[i].key, expositions[first[i]], first[i]};
    ticket = admission_->admit(app_id, candidates, now);
    std::size_t kept = 0;
    for (std::size_t i = 0; i < valid.size(); ++i) {
      if (!ticket->admitted[i]) continue;
      // Swapped, so the refused item's message keeps its capacity for the admitted ones after it.
      if (kept != i) {
        valid[kept] = valid[i];
        std::swap(messages[kept].key, messages[i].key);
      }
      ++kept;
    }
    valid.resize(kept);
    messages.resize(kept);
    for (auto& r : ticket->refused) result.rejected.push_back(std::move(r));
    ticket->refused.clear();
  }
  std::sort(result.rejected.begin(), result.rejected.end(),
            [](const auto& a, const auto& b) { return a.index < b.index; });
  rejected_.fetch_add(result.rejected.size(), std::memory_order_relaxed);

  const std::size_t n = valid.size();
  if (n == 0) {
    keep_spare_batch(std::move(b));
    done(std::move(result));
    return;
  }
  // Both ids are known together (registry.h): a gauge is framed exactly as ever (v1's id, the
  // seed's record), a counter or histogram with v2's id and body.
  auto id = registry_.schema_id(avro::wire_schema::v1);
  auto typed_id = registry_.schema_id(avro::wire_schema::v2);
  if (!id || !typed_id) {
    keep_spare_batch(std::move(b));
    failed_.fetch_add(n, std::memory_order_relaxed);
    if (ticket) admission_->settle(*ticket, false);
    done(!id ? id.error() : typed_id.error());
    return;
  }

  for (std::size_t i = 0; i < n; ++i) {
    auto& msg = messages[i];
    msg.app_id = app_id;
    msg.timestamp_ms = now;
    msg.value.clear();  // frame() appends
    const auto w = avro::wire_schema_for(valid[i]->type);
    avro::frame(w == avro::wire_schema::v1 ? *id : *typed_id, *valid[i], msg.value, w);
  }
  // Nothing refers to the batch's items any more: the next parse on this thread reuses them.
  keep_spare_batch(std::move(b));

  result.accepted = n;
  producer_.send(std::move(messages),
                 [this, n, clamped, result = std::move(result), ticket = std::move(ticket),
                  done = std::move(done)](util::result<void> delivered) mutable {
                   if (ticket) admission_->settle(*ticket, delivered.has_value());
                   if (!delivered) {
                     failed_.fetch_add(n, std::memory_order_relaxed);
                     done(delivered.error());
                     return;
                   }
                   accepted_.fetch_add(n, std::memory_order_relaxed);
                   clamped_.fetch_add(clamped, std::memory_order_relaxed);
                   done(std::move(result));
                 });
}

ingest_stats ingest::stats() const {
  return {accepted_.load(std::memory_order_relaxed), rejected_.load(std::memory_order_relaxed),
          failed_.load(std::memory_order_relaxed), clamped_.load(std::memory_order_relaxed)};
}

}  // namespace mca::pipeline
