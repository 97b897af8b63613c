#include "util/result.h"

#include <stdexcept>

namespace mca::util {

void throw_exception_from_error(const error& e, const boost::source_location&) {
  throw std::system_error(e.code, e.message);
}

}  // namespace mca::util
