// Content codings for request and response bodies (gzip via zlib) and Accept-Encoding parsing.
// Pure functions, thread-safe; used by the server and tested on their own.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "http/errc.h"
#include "util/result.h"

namespace mca::http {

// Inflates a gzip body (concatenated members allowed). Never produces more than `limit` bytes:
// a body that would inflate past it fails with errc::body_too_large as soon as the limit is
// crossed, so a gzip bomb costs at most `limit` bytes of memory. errc::bad_gzip when malformed.
util::result<std::string> gunzip(std::string_view in, std::size_t limit);

// Compresses `in` as a single gzip member.
std::string gzip(std::string_view in);

// Applies a Content-Encoding header value ("gzip", "identity", "gzip, identity", ...) in reverse
// order, as RFC 9110 8.4 lists codings in the order they were applied. errc::unsupported_encoding
// for any other coding; body limits as for gunzip.
util::result<std::string> decode_content(std::string_view content_encoding, std::string body,
                                         std::size_t limit);

// Whether an Accept-Encoding value allows a gzip response: "gzip" or "x-gzip" with q > 0, or "*"
// with q > 0 when gzip is not listed. "gzip;q=0" refuses it. Case-insensitive.
bool accepts_gzip(std::string_view accept_encoding);

}  // namespace mca::http
