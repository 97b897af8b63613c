// JSON text for response bodies. Boost.JSON 1.81 writes doubles in scientific notation
// (`7.55E1`, `1E0`); every number the API answers is written here instead as the shortest decimal
// that reads back to the same double (`75.5`, `1`, `0`, `1e+300`), as JavaScript and Python do.
// Non-finite doubles (never accepted, but a foreign Kafka producer may write one) become null.
//
// Pure functions: thread-safe.
#pragma once

#include <string>

#include <boost/json/value.hpp>

namespace mca::api {

// The shortest round-trip decimal of `d` (std::to_chars), or "null" when not finite.
std::string json_number(double d);

// `v` as compact JSON text, doubles as json_number() writes them.
std::string to_json(const boost::json::value& v);

}  // namespace mca::api
