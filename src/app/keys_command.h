// `metrics-collection-api keys new --id ID --scopes ingest --apps shop [--origins URL,...]`:
// prints a new random key (first line of stdout) and its API_KEYS_FILE entry (second line).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace mca::app {

// `args` are the words after "keys". Returns the exit status: 0, or 2 for a usage error (told on
// `err`).
int run_keys_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace mca::app
