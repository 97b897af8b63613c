// Schema Registry: where schema ids come from. Two implementations: embedded (the bundled
// schemas as ids 1 and 2, the default on a bare machine) and the Confluent REST client (libcurl).
// Both hold our two versions of the Metric record under the value subject: v1 (the seed's schema,
// gauges) and v2 (v1 plus `type`, counters and histograms), registered in that order.
#pragma once

#include <memory>
#include <string>
#include <system_error>

#include "avro/metric_codec.h"
#include "util/health.h"
#include "util/probe.h"
#include "util/result.h"

namespace mca::registry {

enum class errc {
  not_ready = 1,  // our schema is not registered yet (registry unreachable): 503
  not_found,      // unknown id or subject
  unreachable,    // HTTP/network failure
  rejected,       // the registry answered with an error (incompatible, invalid, auth)
};
const std::error_category& category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), category()}; }

// Thread-safe.
class schema_registry {
 public:
  virtual ~schema_registry() = default;
  // The id of our schema of version `w` under the value subject. Never blocks: returns
  // errc::not_ready until registration of both versions (done in the background by network
  // implementations) has succeeded, so either both ids are known or neither is.
  virtual util::result<avro::schema_id> schema_id(avro::wire_schema w) = 0;
  // The v1 (seed) schema's id: what readiness and health report.
  util::result<avro::schema_id> value_schema_id() { return schema_id(avro::wire_schema::v1); }
  // The writer schema for an id; cached after the first lookup. May block on the network: call
  // it only from the consumer thread.
  virtual util::result<avro::schema> schema_by_id(avro::schema_id id) = 0;
  virtual util::health health() = 0;
};

// mca_schema_registry_up, and its health as /health's "registry".
std::shared_ptr<util::probe> make_probe(schema_registry& r);

// Serves `v1` as id 1 and `v2` as id 2 under any subject.
inline constexpr avro::schema_id kEmbeddedV1Id{1};
inline constexpr avro::schema_id kEmbeddedV2Id{2};
std::unique_ptr<schema_registry> make_embedded(avro::schema v1, avro::schema v2);

}  // namespace mca::registry

template <>
struct std::is_error_code_enum<mca::registry::errc> : std::true_type {};
