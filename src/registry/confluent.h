// The Confluent Schema Registry REST client (libcurl): works with any registry speaking that API
// (Confluent's, AxonOps'). See README.md beside this file for the requests and the invariants.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "avro/metric_codec.h"
#include "registry/registry.h"
#include "util/clock.h"
#include "util/result.h"

namespace mca::registry {

struct confluent_options {
  std::string url;                   // base URL, e.g. http://127.0.0.1:8081 (a path prefix is kept)
  std::string basic_auth_user_info;  // "user:password"; empty = none. A secret: never logged.
  std::string subject;               // the value subject, `<topic>-value` (TopicNameStrategy)
  avro::schema schema;        // ours, v1 (the seed's): registered (or looked up) under `subject`
  avro::schema typed_schema;  // ours, v2 (v1 + `type`): registered after v1 under `subject`
  bool auto_register = true;  // false: only look the schema up (it must be registered)
  std::string ca_location;    // PEM CA bundle for https; empty = the system's
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds request_timeout{5000};  // whole request, connect included
  std::chrono::milliseconds retry_initial{200};     // first back-off after a failure, doubled...
  std::chrono::milliseconds retry_max{10'000};      // ...up to this
  // How long an id the registry does not know (or rejected) is answered from the cache.
  std::chrono::milliseconds negative_cache_ttl{10'000};
  const util::clock* clock = nullptr;  // for cache expiry; nullptr = util::real_clock()
};

// Starts a background thread that registers (or, with auto_register=false, looks up)
// `options.schema` and then `options.typed_schema` under `options.subject`, retrying with capped
// exponential back-off until both succeed; schema_id() answers errc::not_ready until then and
// never blocks. (A registry refusing v2, e.g. 409 for a subject whose compatibility v2 breaks,
// keeps the service not ready, its health naming the refusal.)
// schema_by_id() caches found schemas for good (ids are immutable) and failures for a while:
// not_found/rejected for negative_cache_ttl, unreachable for the current back-off, so a registry
// that is down is not asked once per record. health() is ok once the id is known and the last
// contact with the registry succeeded; its info never contains credentials. The destructor stops
// the thread (an in-flight request is aborted). Errors: unreachable (network, timeout, HTTP 5xx),
// not_found (HTTP 404), rejected (other HTTP errors, unparsable answers).
// Fails at once (errc::rejected) only on options that can never work: a URL that is not http(s)
// or a blank subject.
util::result<std::unique_ptr<schema_registry>> make_confluent(confluent_options options);

}  // namespace mca::registry
