// Compiled by ctest's include_boundary_* tests (never by the default build): proves that a module
// sees only the headers of what it links. Linked to mca::exposition, the exposition include
// compiles; linked to mca::store only, it must not; nor may a module's PRIVATE dependency (auth
// uses model privately) leak to whoever links that module.
#if defined(MCA_PROBE_EXPOSITION)
#include "exposition/text_format.h"
#elif defined(MCA_PROBE_MODEL)
#include "model/metric.h"
#endif

int mca_include_probe() { return 0; }
