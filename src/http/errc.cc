#include "http/errc.h"

#include "util/error_table.h"

namespace mca::http {
namespace {

constexpr util::error_row kErrors[] = {
    {errc::body_too_large, "request body too large", {413, "payload_too_large"}},
    {errc::unsupported_encoding, "unsupported content encoding", {415, "unsupported_encoding"}},
    {errc::bad_gzip, "malformed gzip body", {400, "bad_request"}},
    {errc::bad_tls_files, "invalid TLS certificate, key or CA file"},
    {errc::bad_request, "malformed request", {400, "bad_request"}},
    {errc::not_found, "no route for the path", {404, "not_found"}},
    {errc::method_not_allowed, "method not allowed", {405, "method_not_allowed"}},
    {errc::request_timeout, "the request did not arrive in time", {408, "request_timeout"}},
    {errc::length_required, "a request body needs a length", {411, "length_required"}},
    {errc::uri_too_long, "request target too long", {414, "uri_too_long"}},
    {errc::headers_too_large, "request headers too large", {431, "headers_too_large"}},
    {errc::origin_not_allowed, "origin not allowed", {403, "origin_not_allowed"}},
    {errc::not_implemented, "unsupported transfer coding", {501, "not_implemented"}},
    {errc::unavailable, "service unavailable", {503, "unavailable", true}},
    {errc::internal, "internal server error", {500, "internal"}},
};

}  // namespace

const std::error_category& http_category() noexcept {
  return util::category_of<kErrors>("mca.http");
}

}  // namespace mca::http
