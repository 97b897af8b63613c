// `metrics-collection-api keys new`: a fresh random key and the keys-file entry that admits it.
//
// Thread-safe.
#pragma once

#include <string>
#include <vector>

#include "util/result.h"

namespace mca::auth {

// "mca_" + 43 characters of unpadded base64url: 256 random bits from OpenSSL's RAND_bytes, safe
// in URLs, headers and shells. The prefix lets secret scanners find leaked keys.
std::string random_key();

struct key_request {
  std::string id;
  std::vector<std::string> scopes;
  std::vector<std::string> apps;
  std::vector<std::string> origins;  // empty: no "origins" field (any origin)
};

struct new_key {
  std::string key;    // shown once; the service keeps only its digest
  std::string entry;  // one JSON object for the "keys" array of API_KEYS_FILE
};

// errc::invalid_key_request with the same messages the keys file would give for that entry.
util::result<new_key> make_key(const key_request& req);

}  // namespace mca::auth
