// Who may call which route, and how often: API keys (auth::key_set) and rate limits
// (auth::bucket_table) applied to HTTP requests, answered with 401, 403 or 429 as JSON errors.
//
// Per route (see routes.cc): probes (/livez, /readyz) are never limited or keyed, so an
// orchestrator never restarts a healthy instance over a limit; every other route counts against
// RATE_LIMIT_PER_CLIENT; ingest, read (GET app metrics) and scrape also need a key with that
// scope when API_KEYS_FILE is set; POST metrics also counts its metrics against
// RATE_LIMIT_PER_APP once the body is parsed.
//
// A key is read from `Authorization: Bearer <key>`, else `X-API-Key`, else (ingest only) the
// `api_key` query parameter. 401 carries `WWW-Authenticate: Bearer`; 429 carries `Retry-After`.
//
// Thread-safe: admit() and admit_metrics() from any I/O thread; reload() from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "auth/client_address.h"
#include "auth/key_store.h"
#include "auth/keys.h"
#include "auth/rate_limit.h"
#include "http/server.h"
#include "util/probe.h"

namespace mca::api {

enum class route_access {
  probe,   // no key, no limit
  open,    // no key, per-client limit
  ingest,  // key with scope ingest for {app_id} (query key allowed), per-client limit
  read,    // key with scope read for {app_id}, per-client limit
  scrape,  // key with scope scrape, per-client limit
};

// The rate limits (RATE_LIMIT_PER_CLIENT, RATE_LIMIT_PER_APP, RATE_LIMIT_TABLE_SIZE: the config
// tree's `access` section extends this, so these are the settings' defaults).
struct access_limits {
  double per_client_rate = 0;       // requests/s per client address; 0 = off
  double per_app_rate = 0;          // metrics/s per app; 0 = off
  std::size_t table_size = 65'536;  // buckets held per table (clients, apps)
};

struct access_options {
  std::unique_ptr<auth::key_store> keys;  // null: no API_KEYS_FILE, every route open
  access_limits limits;
  auth::cidr_set trusted_proxies;
  auth::clock_ns now = auth::steady_now_ns;
};

class access_control {
 public:
  explicit access_control(access_options o);

  bool keys_required() const { return keys_ != nullptr; }

  // Before a handler runs. true: go on. false: `respond` has been called with 401, 403 or 429.
  bool admit(route_access kind, const http::request& req, const http::params& p,
             const http::responder& respond);

  // `n` metrics for `app_id` against RATE_LIMIT_PER_APP; false: answered 429.
  bool admit_metrics(std::string_view app_id, std::size_t n, const http::request& req,
                     const http::responder& respond);

  enum class reload_outcome { success, failure, no_keys_file };
  // Re-reads API_KEYS_FILE (SIGHUP) and logs what happened: the number of keys, or why the file
  // was refused and that the previous keys stay. Never logs a key or a digest.
  reload_outcome reload();

  struct stats {
    std::array<std::uint64_t, auth::kVerdicts> refused{};  // by auth::verdict (allowed unused)
    std::uint64_t limited_client = 0;
    std::uint64_t limited_app = 0;
    std::uint64_t reloads_ok = 0;
    std::uint64_t reloads_failed = 0;
    std::size_t keys = 0;
    std::size_t tracked_clients = 0;
    std::size_t tracked_apps = 0;
    std::uint64_t evicted_clients = 0;
    std::uint64_t evicted_apps = 0;
  };
  stats snapshot() const;

 private:
  bool limit_client(const http::request& req, const http::params& p,
                    const http::responder& respond);

  std::unique_ptr<auth::key_store> keys_;
  auth::cidr_set trusted_;
  std::optional<auth::bucket_table> clients_;
  std::optional<auth::bucket_table> apps_;
  std::array<std::atomic<std::uint64_t>, auth::kVerdicts> refused_{};
  std::atomic<std::uint64_t> limited_client_{0};
  std::atomic<std::uint64_t> limited_app_{0};
  std::atomic<std::uint64_t> reloads_ok_{0};
  std::atomic<std::uint64_t> reloads_failed_{0};
};

// mca_http_auth_failures_total, mca_http_rate_limited_total, mca_auth_*, mca_rate_limit_*.
std::shared_ptr<util::probe> make_probe(const access_control& access);

// `h` behind access.admit(kind, ...).
http::handler guarded(access_control& access, route_access kind, http::handler h);

}  // namespace mca::api
