// The schema registry's self-metric and its health (/health's "registry").
#include "registry/registry.h"

namespace mca::registry {

std::shared_ptr<util::probe> make_probe(schema_registry& r) {
  auto collect = [&r](util::families& f) {
    f.push_back(util::gauge_family("mca_schema_registry_up",
                                   "1 when the schema registry answers and our schema has an id",
                                   r.health().ok ? 1.0 : 0.0));
  };
  return util::probe_from(collect, "registry", [&r] { return r.health(); });
}

}  // namespace mca::registry
