#include "registry/registry.h"

namespace mca::registry {
namespace {

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "registry"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::not_ready:
        return "schema not registered yet";
      case errc::not_found:
        return "schema not found";
      case errc::unreachable:
        return "schema registry unreachable";
      case errc::rejected:
        return "schema registry rejected the request";
    }
    return "unknown registry error";
  }
};

}  // namespace

const std::error_category& category() {
  static const category_impl c;
  return c;
}

}  // namespace mca::registry
