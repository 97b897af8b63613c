// Shared helpers for unit tests: paths to project files, reading a file, writing a temporary one.
#pragma once

#include <string>

namespace mca::test {

inline std::string source_path(const std::string& rel) {
  return std::string(MCA_SOURCE_DIR) + "/" + rel;
}
inline std::string schema_file() { return MCA_SCHEMA_FILE; }
inline std::string schema_v2_file() { return MCA_SCHEMA_V2_FILE; }

// The whole of a file, bytes as they are; a file that cannot be opened fails the test.
std::string read_file(const std::string& path);

// Writes `text` to a fresh file `name` under the test temp dir and returns its path.
std::string write_temp(const std::string& name, const std::string& text);

}  // namespace mca::test
