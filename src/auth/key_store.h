// The keys of API_KEYS_FILE as the service currently believes them, reloadable (SIGHUP).
//
// Thread safety: current() from any thread (a request keeps the set it got until it is done, so a
// reload never changes the rules in the middle of a request); reload() from any thread, one at a
// time (serialised by a lock). A reload that fails leaves the previous keys in place.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "auth/keys.h"
#include "util/result.h"

namespace mca::auth {

class key_store {
 public:
  // Loads `path` now: errc::unreadable_keys_file or errc::invalid_keys_file (start-up fails).
  static util::result<std::unique_ptr<key_store>> open(std::string path,
                                                       key_file_limits limits = {});

  std::shared_ptr<const key_set> current() const;

  // Reads the file again. Success: the new set replaces the old one at once and the number of
  // keys is returned. Failure: the previous keys stay, the error says why.
  util::result<std::size_t> reload();

  const std::string& path() const { return path_; }

 private:
  key_store(std::string path, key_file_limits limits, key_set keys);

  const std::string path_;
  const key_file_limits limits_;
  std::mutex reload_mu_;   // one reload at a time
  mutable std::mutex mu_;  // guards keys_ (held only to copy or swap the pointer)
  std::shared_ptr<const key_set> keys_;
};

}  // namespace mca::auth
