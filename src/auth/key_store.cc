#include "auth/key_store.h"

namespace mca::auth {

key_store::key_store(std::string path, key_file_limits limits, key_set keys)
    : path_(std::move(path)),
      limits_(limits),
      keys_(std::make_shared<const key_set>(std::move(keys))) {}

util::result<std::unique_ptr<key_store>> key_store::open(std::string path, key_file_limits limits) {
  auto keys = key_set::load(path, limits);
  if (!keys) return keys.error();
  return std::unique_ptr<key_store>(new key_store(std::move(path), limits, std::move(*keys)));
}

std::shared_ptr<const key_set> key_store::current() const {
  std::lock_guard lock(mu_);
  return keys_;
}

util::result<std::size_t> key_store::reload() {
  std::lock_guard serial(reload_mu_);
  auto keys = key_set::load(path_, limits_);
  if (!keys) return keys.error();
  auto fresh = std::make_shared<const key_set>(std::move(*keys));
  const std::size_t n = fresh->size();
  std::shared_ptr<const key_set> old;
  {
    std::lock_guard lock(mu_);
    old = std::exchange(keys_, std::move(fresh));
  }
  return n;  // `old` is freed here, outside the lock (or by the last request holding it)
}

}  // namespace mca::auth
