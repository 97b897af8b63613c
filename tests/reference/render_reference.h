// The reference store rendered by the exposition's writer, as the current store is rendered: the
// differential test compares the two texts byte for byte, the benchmarks time both.
#pragma once

#include <string>

#include "exposition/text_format.h"
#include "reference/reference_store.h"

namespace mca::store {

// Appends the /prometheus-metrics text of every series of `store` to `out`.
void render_reference(const reference_store& store, const exposition::render_options& options,
                      std::string& out);

}  // namespace mca::store
