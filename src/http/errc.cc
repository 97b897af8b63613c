#include "http/errc.h"

#include <string>

namespace mca::http {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "mca.http"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::body_too_large:
        return "request body too large";
      case errc::unsupported_encoding:
        return "unsupported content encoding";
      case errc::bad_gzip:
        return "malformed gzip body";
      case errc::bad_tls_files:
        return "invalid TLS certificate, key or CA file";
    }
    return "unknown http error";
  }
};

}  // namespace

const std::error_category& http_category() noexcept {
  static const category c;
  return c;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), http_category()}; }

}  // namespace mca::http
