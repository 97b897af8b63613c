#include "util/clock.h"

namespace mca::util {

const clock& real_clock() {
  static const system_clock c;
  return c;
}

}  // namespace mca::util
