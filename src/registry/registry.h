// Schema Registry: where schema ids come from. Two implementations: embedded (the bundled
// schema as id 1, the default on a bare machine) and the Confluent REST client (libcurl).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <system_error>

#include "avro/metric_codec.h"
#include "util/clock.h"
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

// A Confluent Schema Registry REST client (libcurl); works with any registry speaking that API.
struct confluent_options {
  std::string url;                   // base URL, e.g. http://127.0.0.1:8081 (a path prefix is kept)
  std::string basic_auth_user_info;  // "user:password"; empty = none. A secret: never logged.
  std::string subject;               // the value subject, `<topic>-value` (TopicNameStrategy)
  avro::schema schema;               // ours: registered (or looked up) under `subject`
  bool auto_register = true;         // false: only look the schema up (it must be registered)
  std::string ca_location;           // PEM CA bundle for https; empty = the system's
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds request_timeout{5000};  // whole request, connect included
  std::chrono::milliseconds retry_initial{200};     // first back-off after a failure, doubled...
  std::chrono::milliseconds retry_max{10'000};      // ...up to this
  // How long an id the registry does not know (or rejected) is answered from the cache.
  std::chrono::milliseconds negative_cache_ttl{10'000};
  const util::clock* clock = nullptr;  // for cache expiry; nullptr = util::real_clock()
};

// Starts a background thread that registers (or, with auto_register=false, looks up)
// `options.schema` under `options.subject`, retrying with capped exponential back-off until it
// succeeds; value_schema_id() answers errc::not_ready until then and never blocks.
// schema_by_id() caches found schemas for good (ids are immutable) and failures for a while:
// not_found/rejected for negative_cache_ttl, unreachable for the current back-off, so a registry
// that is down is not asked once per record. health() is ok once the id is known and the last
// contact with the registry succeeded; its info never contains credentials. The destructor stops
// the thread (an in-flight request is aborted). Errors: unreachable (network, timeout, HTTP 5xx),
// not_found (HTTP 404), rejected (other HTTP errors, unparsable answers).
std::unique_ptr<schema_registry> make_confluent(confluent_options options);

}  // namespace mca::registry

template <>
struct std::is_error_code_enum<mca::registry::errc> : std::true_type {};
