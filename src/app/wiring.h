// The application object: owns every component and wires them. Nothing depends on app/.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "util/result.h"

namespace mca::app {

class application {
 public:
  virtual ~application() = default;
  // "METHOD PATTERN" for every route (--list-routes; the OpenAPI route test compares them).
  virtual std::vector<std::string> route_table() const = 0;
  // Binds the port, starts the consumer and the HTTP threads.
  virtual util::result<void> start() = 0;
  // The port listened on once started (PORT=0 binds any free one, which this tells); 0 before.
  virtual std::uint16_t port() const = 0;
  // Loads TLS_CERT_FILE / TLS_KEY_FILE / TLS_CLIENT_CA_FILE again for new connections, without
  // dropping open ones (for SIGHUP). Invalid files: the error, the previous files stay in use.
  // Nothing to do (success) when TLS is off.
  virtual util::result<void> reload_tls() = 0;
  // SIGHUP: re-reads API_KEYS_FILE (an invalid file keeps the previous keys), then the TLS files
  // (reload_tls), without touching connections; logs what happened to each.
  virtual void reload() = 0;
  // Graceful: stop accepting, finish in-flight requests, flush the transport, stop the consumer.
  virtual void stop() = 0;
};

// Loads the schema and builds every component. errc::invalid_argument for a bad schema file.
util::result<std::unique_ptr<application>> build(const config::config& cfg);

}  // namespace mca::app
