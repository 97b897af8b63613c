// The health of one component (transport, registry, consumer), as /health reports it.
#pragma once

#include <string>

#include <boost/json/object.hpp>

namespace mca::util {

struct health {
  bool ok = false;
  std::string status;        // short word: "ok", "connecting", "unreachable", "degraded", ...
  boost::json::object info;  // component details (kind, brokers, lag, last error, ...)
};

}  // namespace mca::util
