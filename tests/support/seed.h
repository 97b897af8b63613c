// The seed contract's example metric (README walk-through), for unit tests.
#pragma once

#include "model/metric.h"

namespace mca::test {

// cpu_usage 75.5 at 1640995200000 ms, tags host=server1 and environment=production (in that
// order, as the walk-through sends them), profileId user-123.
inline model::metric seed_metric() {
  return {"cpu_usage",
          75.5,
          1640995200000,
          {{"host", "server1"}, {"environment", "production"}},
          "user-123"};
}

}  // namespace mca::test
