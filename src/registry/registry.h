// Schema Registry: where schema ids come from. Two implementations: embedded (the bundled
// schema as id 1, the default on a bare machine) and the Confluent REST client (libcurl).
#pragma once

#include <memory>
#include <string>
#include <system_error>

#include "avro/metric_codec.h"
#include "util/health.h"
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
  // The id of our schema under the value subject. Never blocks: returns errc::not_ready until
  // registration (done in the background by network implementations) has succeeded.
  virtual util::result<avro::schema_id> value_schema_id() = 0;
  // The writer schema for an id; cached after the first lookup. May block on the network: call
  // it only from the consumer thread.
  virtual util::result<avro::schema> schema_by_id(avro::schema_id id) = 0;
  virtual util::health health() = 0;
};

// Serves `ours` as id 1 under any subject.
std::unique_ptr<schema_registry> make_embedded(avro::schema ours);

}  // namespace mca::registry

template <>
struct std::is_error_code_enum<mca::registry::errc> : std::true_type {};
