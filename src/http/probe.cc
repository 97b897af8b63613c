// The HTTP edge's self-metrics: its connection and timeout counters (server_stats).
#include "http/server.h"

namespace mca::http {

std::shared_ptr<util::probe> make_probe(const server& s) {
  return util::probe_from([&s](util::families& f) {
    using util::counter_family;
    using util::gauge_family;
    const auto st = s.stats();
    f.push_back(gauge_family("mca_http_connections_open", "HTTP connections open now",
                             static_cast<double>(st.open)));
    f.push_back(counter_family("mca_http_connections_refused_total",
                               "Connections answered 503 and closed at accept: MAX_CONNECTIONS "
                               "reached",
                               static_cast<double>(st.refused)));
    f.push_back(counter_family("mca_http_connections_evicted_total",
                               "Idle connections closed to make room near MAX_CONNECTIONS",
                               static_cast<double>(st.evicted)));
    f.push_back(counter_family("mca_http_tls_handshake_failures_total",
                               "TLS handshakes that failed (bad or missing client certificate, "
                               "protocol error) or did not finish within HTTP_READ_TIMEOUT_MS",
                               static_cast<double>(st.tls_handshake_failures)));
    f.push_back(counter_family(
        "mca_http_timeouts_total",
        "Requests not received within HTTP_READ_TIMEOUT_MS (answered 408) and responses not "
        "taken within HTTP_WRITE_TIMEOUT_MS, by direction",
        {{{{"direction", "read"}}, static_cast<double>(st.read_timeouts)},
         {{{"direction", "write"}}, static_cast<double>(st.write_timeouts)}}));
  });
}

}  // namespace mca::http
