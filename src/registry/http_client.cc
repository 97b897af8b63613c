#include "registry/http_client.h"

#include <curl/curl.h>

#include <mutex>

#include "registry/registry.h"

namespace mca::registry::detail {
namespace {

constexpr std::size_t kMaxBody = 4 * 1024 * 1024;

// curl_global_init is not thread-safe in every libcurl build: run it once, before any handle.
void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct write_state {
  std::string* out;
  bool too_large = false;
};

size_t on_write(char* data, size_t size, size_t n, void* user) {
  auto* st = static_cast<write_state*>(user);
  if (st->out->size() + size * n > kMaxBody) {
    st->too_large = true;
    return 0;  // makes curl fail the transfer with CURLE_WRITE_ERROR
  }
  st->out->append(data, size * n);
  return size * n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* abort = static_cast<const std::atomic<bool>*>(user);
  return abort != nullptr && abort->load(std::memory_order_relaxed) ? 1 : 0;
}

}  // namespace

struct http_client::impl {
  http_settings settings;
  const std::atomic<bool>* abort;
  CURL* curl = nullptr;
  curl_slist* headers = nullptr;
};

http_client::http_client(http_settings settings, const std::atomic<bool>* abort)
    : impl_(std::make_unique<impl>()) {
  global_init();
  impl_->settings = std::move(settings);
  impl_->abort = abort;
  impl_->curl = curl_easy_init();
  impl_->headers =
      curl_slist_append(impl_->headers, "Content-Type: application/vnd.schemaregistry.v1+json");
  impl_->headers = curl_slist_append(
      impl_->headers,
      "Accept: application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, "
      "application/json");
}

http_client::~http_client() {
  if (impl_->curl != nullptr) curl_easy_cleanup(impl_->curl);
  curl_slist_free_all(impl_->headers);
}

util::result<http_response> http_client::request(http_method method, const std::string& url,
                                                 const std::string& body) {
  CURL* c = impl_->curl;
  if (c == nullptr || impl_->headers == nullptr) {
    return util::error(errc::unreachable, "libcurl could not be initialised");
  }
  const auto& s = impl_->settings;
  curl_easy_reset(c);
  http_response resp;
  write_state ws{&resp.body};
  char curl_error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, impl_->headers);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // we run on our own threads
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(s.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(s.request_timeout.count()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &ws);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, impl_->abort);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_error);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  if (!s.basic_auth_user_info.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERPWD, s.basic_auth_user_info.c_str());
  }
  if (!s.ca_location.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, s.ca_location.c_str());
  if (method == http_method::post) {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  } else {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  }

  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    std::string what = ws.too_large            ? "response larger than 4 MiB"
                       : curl_error[0] != '\0' ? std::string(curl_error)
                                               : std::string(curl_easy_strerror(rc));
    return util::error(errc::unreachable, strip_credentials(url) + ": " + what);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
}

std::string escape_path_segment(const std::string& s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char ch : s) {
    if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
        ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out.push_back(static_cast<char>(ch));
    } else {
      out.push_back('%');
      out.push_back(hex[ch >> 4]);
      out.push_back(hex[ch & 0xF]);
    }
  }
  return out;
}

std::string strip_credentials(const std::string& url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  auto authority = scheme_end + 3;
  auto authority_end = url.find_first_of("/?#", authority);
  if (authority_end == std::string::npos) authority_end = url.size();
  auto at = url.rfind('@', authority_end);
  if (at == std::string::npos || at < authority) return url;
  return url.substr(0, authority) + url.substr(at + 1);
}

}  // namespace mca::registry::detail
