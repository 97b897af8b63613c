// Shared helpers for unit tests: paths to project files.
#pragma once

#include <string>

namespace mca::test {

inline std::string source_path(const std::string& rel) {
  return std::string(MCA_SOURCE_DIR) + "/" + rel;
}
inline std::string schema_file() { return MCA_SCHEMA_FILE; }
inline std::string schema_v2_file() { return MCA_SCHEMA_V2_FILE; }

}  // namespace mca::test
