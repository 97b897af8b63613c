// The Confluent Schema Registry REST client. Registration runs on its own thread; schema_by_id
// runs on the caller's (the consumer's) thread with its own HTTP connection.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include <boost/json.hpp>

#include "registry/confluent.h"
#include "registry/http_client.h"

namespace mca::registry {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

// The registry's own explanation from a Confluent error body {"error_code":..,"message":..}.
std::string registry_message(const detail::http_response& r) {
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (!ec && v.is_object()) {
    if (auto* m = v.as_object().if_contains("message"); m != nullptr && m->is_string()) {
      return std::string(m->as_string()).substr(0, 300);
    }
  }
  // Not JSON (a proxy's or an auth layer's page): its start, on one line.
  std::string text = r.body.substr(0, 200);
  for (auto& ch : text) {
    if (ch == '\n' || ch == '\r' || ch == '\t') ch = ' ';
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

// Maps an HTTP answer that is not 200 to our errors. 5xx and 408/429 are the registry being
// unwell (worth retrying); 404 is an unknown subject, schema or id; the rest is a refusal.
util::error status_error(const std::string& what, const detail::http_response& r) {
  std::string msg = what + ": HTTP " + std::to_string(r.status) + ": " + registry_message(r);
  if (r.status >= 500 || r.status == 408 || r.status == 429) {
    return {errc::unreachable, std::move(msg)};
  }
  if (r.status == 404) return {errc::not_found, std::move(msg)};
  return {errc::rejected, std::move(msg)};
}

util::result<avro::schema_id> id_from(const std::string& what, const detail::http_response& r) {
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (!ec && v.is_object()) {
    if (auto* id = v.as_object().if_contains("id"); id != nullptr && id->is_int64()) {
      auto n = id->as_int64();
      if (n > 0 && n <= INT32_MAX) return avro::schema_id{static_cast<std::int32_t>(n)};
    }
  }
  return util::error(errc::rejected, what + ": answer without a valid \"id\"");
}

class confluent_registry final : public schema_registry {
 public:
  explicit confluent_registry(confluent_options o)
      : opts_(std::move(o)),
        clock_(opts_.clock != nullptr ? opts_.clock : &util::real_clock()),
        base_(trim_slash(opts_.url)),
        public_url_(detail::strip_credentials(base_)),
        lookups_(http_settings(), &stopping_) {
    thread_ = std::thread([this] { register_loop(); });
  }

  ~confluent_registry() override {
    {
      std::lock_guard lk(wake_mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

  util::result<avro::schema_id> schema_id(avro::wire_schema w) override {
    // v2's id is stored last: once it is known, both are.
    auto id2 = id2_.load(std::memory_order_acquire);
    if (id2 > 0) {
      return avro::schema_id{w == avro::wire_schema::v1 ? id_.load(std::memory_order_relaxed)
                                                        : id2};
    }
    std::lock_guard lk(state_mu_);
    return util::error(errc::not_ready,
                       "schema not registered under " + opts_.subject +
                           (last_error_.empty() ? std::string() : ": " + last_error_));
  }

  util::result<avro::schema> schema_by_id(avro::schema_id id) override {
    if (ready()) {
      if (id.value == id_.load(std::memory_order_relaxed)) return opts_.schema;
      if (id.value == id2_.load(std::memory_order_relaxed)) return opts_.typed_schema;
    }
    std::lock_guard fetch(fetch_mu_);  // one lookup at a time: an id is fetched once
    auto now = clock_->now_ms();
    if (auto it = by_id_.find(id.value); it != by_id_.end()) return it->second;
    if (auto it = failed_.find(id.value); it != failed_.end() && now < it->second.until_ms) {
      return it->second.err;
    }
    if (now < lookups_blocked_until_ms_) {
      // The registry failed us a moment ago: answer from that failure, do not ask again yet.
      return util::error(
          errc::unreachable,
          "schema registry unreachable (retrying after back-off): " + lookup_failure_);
    }
    auto r = fetch_schema(id);
    if (r) {
      lookup_backoff_ = opts_.retry_initial;
      lookups_blocked_until_ms_ = 0;
      failed_.erase(id.value);
      by_id_.emplace(id.value, *r);
      note_contact({});
      return r;
    }
    if (r.error().code == errc::unreachable) {
      lookups_blocked_until_ms_ = now + lookup_backoff_.count();
      lookup_backoff_ = std::min(lookup_backoff_ * 2, opts_.retry_max);
      lookup_failure_ = r.error().message;
      note_contact(r.error().message);
    } else {
      failed_[id.value] = failure{r.error(), now + opts_.negative_cache_ttl.count()};
      note_contact({});  // the registry answered: it is reachable
    }
    return r.error();
  }

  util::health health() override {
    util::health h;
    const bool known = ready();
    auto id = known ? id_.load(std::memory_order_relaxed) : 0;
    auto id2 = known ? id2_.load(std::memory_order_relaxed) : 0;
    std::lock_guard lk(state_mu_);
    h.ok = id > 0 && last_error_.empty();
    h.status = h.ok                  ? "ok"
               : id > 0              ? "unreachable"
               : last_error_.empty() ? "registering"
                                     : status_word_;
    h.info["kind"] = "confluent";
    h.info["url"] = public_url_;
    h.info["subject"] = opts_.subject;
    h.info["auto_register"] = opts_.auto_register;
    if (id > 0) {
      h.info["schema_id"] = id;
      h.info["typed_schema_id"] = id2;
    } else {
      h.info["schema_id"] = nullptr;
      h.info["typed_schema_id"] = nullptr;
    }
    if (!last_error_.empty()) h.info["last_error"] = last_error_;
    return h;
  }

 private:
  struct failure {
    util::error err;
    std::int64_t until_ms;
  };

  bool ready() const { return id2_.load(std::memory_order_acquire) > 0; }

  static std::string trim_slash(std::string s) {
    while (!s.empty() && s.back() == '/') s.pop_back();
    return s;
  }

  detail::http_settings http_settings() const {
    return {opts_.basic_auth_user_info, opts_.ca_location, opts_.connect_timeout,
            opts_.request_timeout};
  }

  std::string subject_url() const {
    return base_ + "/subjects/" + detail::escape_path_segment(opts_.subject);
  }

  // One attempt: POST /subjects/{s}/versions registers (idempotent: the same schema gets the same
  // id); POST /subjects/{s} only looks it up.
  util::result<avro::schema_id> register_once(detail::http_client& http, const avro::schema& schema,
                                              const char* which) {
    json::object req;
    req["schema"] = schema.text();
    if (opts_.auto_register) {
      auto what = std::string("registering the ") + which + " schema under " + opts_.subject;
      auto r = http.request(detail::http_method::post, subject_url() + "/versions",
                            json::serialize(req));
      if (!r) return r.error();
      if (r->status != 200) return status_error(what, *r);
      return id_from(what, *r);
    }
    auto what = std::string("looking up the ") + which + " schema under " + opts_.subject;
    auto r = http.request(detail::http_method::post, subject_url(), json::serialize(req));
    if (!r) return r.error();
    if (r->status != 200) return status_error(what, *r);
    return id_from(what, *r);
  }

  void register_loop() {
    detail::http_client http(http_settings(), &stopping_);
    std::minstd_rand rng(std::random_device{}());
    auto backoff = opts_.retry_initial;
    // v1 first, then v2: the registry checks v2 against v1 (a field added with a default passes
    // BACKWARD, FORWARD and FULL), and a v1 reader never meets a version it has not seen.
    std::int32_t v1 = 0;
    while (!stopping_.load()) {
      auto r = v1 == 0 ? register_once(http, opts_.schema, "v1")
                       : register_once(http, opts_.typed_schema, "v2 (typed)");
      if (r) {
        spdlog::info("schema registry: {} {} has id {} under {} at {}",
                     opts_.auto_register ? "registered" : "found",
                     v1 == 0 ? "v1 schema" : "v2 schema", r->value, opts_.subject, public_url_);
        if (v1 == 0) {
          v1 = r->value;
          backoff = opts_.retry_initial;
          continue;
        }
        {
          std::lock_guard lk(state_mu_);
          last_error_.clear();
        }
        id_.store(v1, std::memory_order_relaxed);
        id2_.store(r->value, std::memory_order_release);
        return;
      }
      if (stopping_.load()) return;
      bool changed;
      {
        std::lock_guard lk(state_mu_);
        changed = last_error_ != r.error().message;
        last_error_ = r.error().message;
        status_word_ = r.error().code == errc::unreachable ? "unreachable"
                       : r.error().code == errc::not_found ? "not_found"
                                                           : "rejected";
      }
      // Logged when the reason changes, not on every retry.
      if (changed) spdlog::warn("schema registry: {} (retrying)", r.error().message);
      // Jitter (0.8..1.2) so replicas that lost the registry together do not retry in lockstep.
      std::uniform_real_distribution<double> jitter(0.8, 1.2);
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(backoff * jitter(rng));
      backoff = std::min(backoff * 2, opts_.retry_max);
      std::unique_lock lk(wake_mu_);
      wake_.wait_for(lk, wait, [this] { return stopping_.load(); });
    }
  }

  util::result<avro::schema> fetch_schema(avro::schema_id id) {
    auto what = "fetching schema id " + std::to_string(id.value);
    auto r = lookups_.request(detail::http_method::get,
                              base_ + "/schemas/ids/" + std::to_string(id.value));
    if (!r) return r.error();
    if (r->status != 200) return status_error(what, *r);
    boost::system::error_code ec;
    auto v = json::parse(r->body, ec);
    const json::value* text = nullptr;
    if (!ec && v.is_object()) text = v.as_object().if_contains("schema");
    if (text == nullptr || !text->is_string()) {
      return util::error(errc::rejected, what + ": answer without a \"schema\" string");
    }
    if (auto* type = v.as_object().if_contains("schemaType");
        type != nullptr && type->is_string() && type->as_string() != "AVRO") {
      return util::error(errc::rejected,
                         what + ": not an Avro schema (" + std::string(type->as_string()) + ")");
    }
    auto parsed = avro::schema::parse(std::string_view(text->as_string()));
    if (!parsed) {
      return util::error(errc::rejected, what + ": " + parsed.error().message);
    }
    return *parsed;
  }

  // Records the outcome of the latest contact made by a lookup (empty = success). Registration
  // records its own; once registered, lookups are the only contact there is.
  void note_contact(const std::string& error) {
    if (!ready()) return;  // registration owns the state
    std::lock_guard lk(state_mu_);
    last_error_ = error;
  }

  const confluent_options opts_;
  const util::clock* clock_;
  const std::string base_;
  const std::string public_url_;

  std::atomic<std::int32_t> id_{0};   // v1's
  std::atomic<std::int32_t> id2_{0};  // v2's; stored last, so > 0 means both are known
  std::atomic<bool> stopping_{false};

  std::mutex state_mu_;  // guards last_error_, status_word_
  std::string last_error_;
  std::string status_word_ = "registering";

  std::mutex fetch_mu_;  // guards the lookup connection and the caches below
  detail::http_client lookups_;
  std::map<std::int32_t, avro::schema> by_id_;
  std::map<std::int32_t, failure> failed_;
  std::int64_t lookups_blocked_until_ms_ = 0;
  std::chrono::milliseconds lookup_backoff_ = opts_.retry_initial;
  std::string lookup_failure_;

  std::mutex wake_mu_;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace

util::result<std::unique_ptr<schema_registry>> make_confluent(confluent_options options) {
  const auto& url = options.url;
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    return util::error(errc::rejected,
                       "SCHEMA_REGISTRY_URL must start with http:// or https:// (got " +
                           detail::strip_credentials(url) + ")");
  }
  if (options.subject.empty()) return util::error(errc::rejected, "the registry subject is empty");
  return std::unique_ptr<schema_registry>(std::make_unique<confluent_registry>(std::move(options)));
}

}  // namespace mca::registry
