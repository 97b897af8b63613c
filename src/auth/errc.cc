#include "auth/errc.h"

#include <string>

namespace mca::auth {
namespace {

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "auth"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::unreadable_keys_file:
        return "the keys file cannot be read";
      case errc::invalid_keys_file:
        return "the keys file is not valid";
      case errc::invalid_cidr:
        return "not an address or CIDR block";
      case errc::invalid_key_request:
        return "invalid key request";
    }
    return "auth error";
  }
};

}  // namespace

const std::error_category& category() {
  static const category_impl c;
  return c;
}

}  // namespace mca::auth
