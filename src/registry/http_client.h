// A small blocking HTTP client over one libcurl easy handle, for the Schema Registry client.
// Not thread-safe: each thread that talks to the registry owns its own http_client (the handle
// keeps the connection alive between requests).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "util/result.h"

namespace mca::registry::detail {

struct http_settings {
  std::string basic_auth_user_info;  // "user:password" or empty; a secret
  std::string ca_location;           // PEM bundle or empty
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds request_timeout{5000};
};

struct http_response {
  long status = 0;
  std::string body;
};

enum class http_method { get, post };

class http_client {
 public:
  // `abort` (may be null, must outlive the client) cancels an in-flight request when set.
  http_client(http_settings settings, const std::atomic<bool>* abort);
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  // Any HTTP status is a response; only transport failures (connect, TLS, timeout, abort, body
  // over 4 MiB) are errors, with errc::unreachable.
  util::result<http_response> request(http_method method, const std::string& url,
                                      const std::string& body = {});

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Percent-encodes one path segment (a subject name may hold any character).
std::string escape_path_segment(const std::string& s);

// The URL without user:password@ (for logs and health).
std::string strip_credentials(const std::string& url);

}  // namespace mca::registry::detail
