#include "pipeline/ingest.h"

#include <algorithm>

#include "avro/metric_codec.h"

namespace mca::pipeline {

ingest::ingest(model::limits limits, registry::schema_registry& registry,
               transport::producer& producer, const util::clock& clock)
    : limits_(limits), registry_(registry), producer_(producer), clock_(clock) {}

void ingest::submit(std::string_view app_id, batch b, callback done) {
  const std::int64_t now = clock_.now_ms();
  outcome result;
  result.rejected = std::move(b.rejected);

  std::vector<const model::metric*> valid;
  valid.reserve(b.items.size());
  for (auto& [index, m] : b.items) {
    if (auto err = model::validate(m, index, limits_, now)) {
      result.rejected.push_back(std::move(*err));
      continue;
    }
    model::normalise(m);
    valid.push_back(&m);
  }
  std::sort(result.rejected.begin(), result.rejected.end(),
            [](const auto& a, const auto& b) { return a.index < b.index; });
  rejected_.fetch_add(result.rejected.size(), std::memory_order_relaxed);

  const std::size_t n = valid.size();
  if (n == 0) {
    done(std::move(result));
    return;
  }
  auto id = registry_.value_schema_id();
  if (!id) {
    failed_.fetch_add(n, std::memory_order_relaxed);
    done(id.error());
    return;
  }

  std::vector<transport::message> messages(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto& msg = messages[i];
    msg.key = model::series_key(app_id, *valid[i]);
    msg.app_id = app_id;
    msg.timestamp_ms = now;
    avro::frame(*id, *valid[i], msg.value);
  }

  result.accepted = n;
  producer_.send(std::move(messages), [this, n, result = std::move(result), done = std::move(done)](
                                          util::result<void> delivered) mutable {
    if (!delivered) {
      failed_.fetch_add(n, std::memory_order_relaxed);
      done(delivered.error());
      return;
    }
    accepted_.fetch_add(n, std::memory_order_relaxed);
    done(std::move(result));
  });
}

ingest_stats ingest::stats() const {
  return {accepted_.load(std::memory_order_relaxed), rejected_.load(std::memory_order_relaxed),
          failed_.load(std::memory_order_relaxed)};
}

}  // namespace mca::pipeline
