// Logging set-up: spdlog's default logger to stderr, as JSON lines (production) or text
// (development). Call once at start, before other threads log.
#pragma once

#include <string>

namespace mca::util {

enum class log_style { json, text };

// `level`: trace|debug|info|warn|error|critical|off.
void setup_logging(const std::string& level, log_style style);

// Escapes `s` for the inside of a JSON string.
std::string json_escape(std::string_view s);

}  // namespace mca::util
