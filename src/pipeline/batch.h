// What goes into the ingest path and what comes out of it: a parsed batch and its outcome. The
// API builds the one and answers the other (through pipeline/front.h); ingest.h does the work.
#pragma once

#include <cstddef>
#include <functional>
#include <utility>
#include <vector>

#include "model/metric.h"
#include "util/result.h"

namespace mca::pipeline {

// A parsed batch: items that parsed (index = position in the request) and items that did not.
struct batch {
  std::vector<std::pair<std::size_t, model::metric>> items;
  std::vector<model::field_error> rejected;
};

struct outcome {
  std::size_t accepted = 0;
  std::vector<model::field_error> rejected;  // sorted by index
};

// How a submitted batch completes: its outcome, or the transport's or registry's error.
using submit_callback = std::function<void(util::result<outcome>)>;

}  // namespace mca::pipeline
