// The whole /prometheus-metrics page: client series first, then the service's own metrics.
// Thread-safe as its parts are.
#pragma once

#include <string>

#include "exposition/self_metrics.h"
#include "exposition/text_format.h"

namespace mca::exposition {

inline void render_page(const store::series_store& store, const self_metrics& self,
                        const render_options& options, std::string& out) {
  render_series(store, options, out);
  self.render(out);
}

}  // namespace mca::exposition
