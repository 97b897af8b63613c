// One problem of a request, listed in the `details` of its JSON error body:
// {"index":i,"field":"…","error":"…"}. `index` is the item of a batch; kNoIndex for a problem that
// belongs to no item (a path or query parameter, a header, a key), which leaves it out of the JSON.
#pragma once

#include <cstddef>
#include <string>

namespace mca::util {

inline constexpr std::size_t kNoIndex = static_cast<std::size_t>(-1);

struct field_error {
  std::size_t index = 0;
  std::string field;
  std::string error;

  bool operator==(const field_error&) const = default;
};

}  // namespace mca::util
