// Access control's self-metrics: refusals by reason, rate limiting, key reloads, bucket tables.
#include "api/access.h"

namespace mca::api {

std::shared_ptr<util::probe> make_probe(const access_control& access) {
  return util::probe_from([&access](util::families& f) {
    using util::counter_family;
    using util::gauge_family;
    const auto as = access.snapshot();
    f.push_back(counter_family(
        "mca_http_auth_failures_total", "Requests refused for their API key (401, 403), by reason",
        util::by_enum<auth::verdict>(
            "reason", 1, auth::kVerdicts, [](auth::verdict v) { return auth::to_string(v); },
            [&](std::size_t i) { return as.refused[i]; })));
    f.push_back(counter_family("mca_http_rate_limited_total",
                               "Requests answered 429, by the limit they were over",
                               {{{{"limit", "client"}}, static_cast<double>(as.limited_client)},
                                {{{"limit", "app"}}, static_cast<double>(as.limited_app)}}));
    f.push_back(
        counter_family("mca_auth_reloads_total", "Reloads of API_KEYS_FILE (SIGHUP), by outcome",
                       {{{{"outcome", "success"}}, static_cast<double>(as.reloads_ok)},
                        {{{"outcome", "failure"}}, static_cast<double>(as.reloads_failed)}}));
    f.push_back(gauge_family("mca_auth_keys", "API keys in force", static_cast<double>(as.keys)));
    f.push_back(gauge_family("mca_rate_limit_buckets",
                             "Rate-limit buckets held, by limit (bounded by RATE_LIMIT_TABLE_SIZE)",
                             {{{{"limit", "client"}}, static_cast<double>(as.tracked_clients)},
                              {{{"limit", "app"}}, static_cast<double>(as.tracked_apps)}}));
    f.push_back(counter_family(
        "mca_rate_limit_evictions_total",
        "Buckets dropped before they had refilled because the table was full, by limit",
        {{{{"limit", "client"}}, static_cast<double>(as.evicted_clients)},
         {{{"limit", "app"}}, static_cast<double>(as.evicted_apps)}}));
  });
}

}  // namespace mca::api
