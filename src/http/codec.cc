#include "http/codec.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <vector>

namespace mca::http {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Splits a comma-separated header value into trimmed, non-empty elements.
std::vector<std::string_view> split_list(std::string_view v) {
  std::vector<std::string_view> out;
  while (!v.empty()) {
    auto comma = v.find(',');
    auto item = trim(v.substr(0, comma));
    if (!item.empty()) out.push_back(item);
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
  return out;
}

// The q-value of one Accept-Encoding element ("gzip;q=0.5" -> 0.5); 1 when absent, 0 when
// unparseable (a client that sends garbage gets the safe, uncompressed answer).
double q_value(std::string_view params) {
  while (!params.empty()) {
    auto semi = params.find(';');
    auto p = trim(params.substr(0, semi));
    if (p.size() >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
      auto num = trim(p.substr(2));
      // qvalue = "0" [ "." 0*3DIGIT ] / "1" [ "." 0*3("0") ]  (RFC 9110 12.4.2)
      if (num.empty() || (num[0] != '0' && num[0] != '1')) return 0;
      double q = num[0] - '0';
      if (num.size() > 1) {
        if (num[1] != '.') return 0;
        double scale = 0.1;
        for (char c : num.substr(2)) {
          if (c < '0' || c > '9') return 0;
          q += (c - '0') * scale;
          scale /= 10;
        }
      }
      return std::min(q, 1.0);
    }
    if (semi == std::string_view::npos) break;
    params.remove_prefix(semi + 1);
  }
  return 1;
}

}  // namespace

util::result<std::string> gunzip(std::string_view in, std::size_t limit) {
  z_stream zs{};
  // 16 + MAX_WBITS: gzip wrapper only (no raw deflate, no zlib header).
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
    return util::error(errc::bad_gzip, "zlib inflateInit2 failed");
  }
  struct guard {
    z_stream* z;
    ~guard() { inflateEnd(z); }
  } g{&zs};

  std::string out;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  constexpr std::size_t chunk = 64 * 1024;
  for (;;) {
    // Never let zlib write more than one byte past the limit: that byte is the proof of "too
    // large" without inflating the rest of a bomb.
    std::size_t room = limit + 1 - out.size();
    std::size_t step = std::min(chunk, room);
    std::size_t old = out.size();
    out.resize(old + step);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + old);
    zs.avail_out = static_cast<uInt>(step);
    int rc = inflate(&zs, Z_NO_FLUSH);
    out.resize(old + (step - zs.avail_out));
    if (out.size() > limit) {
      return util::error(errc::body_too_large,
                         "decompressed body exceeds " + std::to_string(limit) + " bytes");
    }
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0) return out;
      // Another gzip member follows (RFC 1952 allows concatenation).
      if (inflateReset(&zs) != Z_OK) return util::error(errc::bad_gzip, "zlib inflateReset failed");
      continue;
    }
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) {
      return util::error(errc::bad_gzip, "truncated gzip body");
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return util::error(errc::bad_gzip, std::string("malformed gzip body: ") +
                                             (zs.msg ? zs.msg : "inflate error"));
    }
  }
}

std::string gzip(std::string_view in) {
  z_stream zs{};
  // Level 6 (zlib's default) balances CPU against size for text bodies.
  if (deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return {};
  }
  std::string out;
  out.resize(deflateBound(&zs, static_cast<uLong>(in.size())) + 32);  // + gzip header/trailer
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  out.resize(out.size() - zs.avail_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return {};
  return out;
}

util::result<std::string> decode_content(std::string_view content_encoding, std::string body,
                                         std::size_t limit) {
  // Codings are listed in the order they were applied: undo them last to first.
  auto codings = split_list(content_encoding);
  std::reverse(codings.begin(), codings.end());
  for (const auto coding : codings) {
    if (iequals(coding, "identity")) continue;
    if (iequals(coding, "gzip") || iequals(coding, "x-gzip")) {
      auto r = gunzip(body, limit);
      if (!r) return r;
      body = std::move(*r);
      continue;
    }
    return util::error(
        errc::unsupported_encoding,
        "unsupported Content-Encoding '" + std::string(coding) + "' (supported: gzip, identity)");
  }
  return body;
}

bool accepts_gzip(std::string_view accept_encoding) {
  std::optional<double> gzip_q;
  std::optional<double> any_q;
  for (auto item : split_list(accept_encoding)) {
    auto semi = item.find(';');
    auto name = trim(item.substr(0, semi));
    double q = semi == std::string_view::npos ? 1.0 : q_value(item.substr(semi + 1));
    if (iequals(name, "gzip") || iequals(name, "x-gzip")) {
      gzip_q = std::max(gzip_q.value_or(0), q);
    } else if (name == "*") {
      any_q = q;
    }
  }
  if (gzip_q) return *gzip_q > 0;
  return any_q && *any_q > 0;
}

}  // namespace mca::http
