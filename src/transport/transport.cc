#include "transport/transport.h"

namespace mca::transport {
namespace {

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "transport"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::queue_full:
        return "transport queue is full";
      case errc::delivery_failed:
        return "delivery failed";
      case errc::timed_out:
        return "delivery timed out";
      case errc::unavailable:
        return "transport unavailable";
    }
    return "unknown transport error";
  }
};

}  // namespace

const std::error_category& category() {
  static const category_impl c;
  return c;
}

}  // namespace mca::transport
