// Cost per request of access control (src/api/access.cc over src/auth): what a request pays for
// API keys and rate limits before its handler runs, against the same request with neither.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "api/access.h"
#include "auth/digest.h"
#include "auth/key_store.h"

namespace {

namespace bh = boost::beast::http;

constexpr const char* kKey = "mca_bench-key-0123456789abcdefghijklmnopqrstuvwx";

// A keys file of `n` keys, the bench key among them, in a temporary file.
std::string keys_file(int n) {
  std::string path = "/tmp/mca-access-bench-keys.json";
  std::string json = R"({"keys":[{"id":"bench","sha256":")" +
                     mca::auth::to_hex(mca::auth::sha256(kKey)) +
                     R"(","scopes":["ingest"],"apps":["*"]})";
  for (int i = 1; i < n; ++i) {
    json += R"(,{"id":"k)" + std::to_string(i) + R"(","sha256":")" +
            mca::auth::to_hex(mca::auth::sha256("other" + std::to_string(i))) +
            R"(","scopes":["ingest","read"],"apps":["app-)" + std::to_string(i) + R"("]})";
  }
  std::ofstream(path, std::ios::trunc) << json << "]}";
  return path;
}

mca::http::request ingest_request(bool with_key) {
  mca::http::request req{bh::verb::post, "/api/v2/app/bench-0/metrics", 11};
  req.set(bh::field::host, "127.0.0.1:5000");
  req.set(bh::field::content_type, "application/json");
  if (with_key) req.set(bh::field::authorization, std::string("Bearer ") + kKey);
  return req;
}

void run(benchmark::State& st, mca::api::access_control& access, bool with_key) {
  const auto req = ingest_request(with_key);
  mca::http::params p;
  p.values = {{"app_id", "bench-0"}};
  p.peer = "127.0.0.1";
  const mca::http::responder respond(nullptr);
  for (auto _ : st) {
    bool ok = access.admit(mca::api::route_access::ingest, req, p, respond);
    ok = ok && access.admit_metrics("bench-0", 1, req, respond);
    benchmark::DoNotOptimize(ok);
    if (!ok) st.SkipWithError("refused");
  }
}

void access_open(benchmark::State& st) {
  mca::api::access_control access(mca::api::access_options{});
  run(st, access, false);
}
BENCHMARK(access_open);

void access_keys(benchmark::State& st) {
  mca::api::access_options o;
  o.keys = std::move(*mca::auth::key_store::open(keys_file(static_cast<int>(st.range(0)))));
  mca::api::access_control access(std::move(o));
  run(st, access, true);
}
BENCHMARK(access_keys)->Arg(1)->Arg(100)->Arg(10'000);

void access_keys_and_limits(benchmark::State& st) {
  mca::api::access_options o;
  o.keys = std::move(*mca::auth::key_store::open(keys_file(100)));
  o.limits.per_client_rate = 1e12;  // never refuses: the cost of the bucket, not of a 429
  o.limits.per_app_rate = 1e12;
  mca::api::access_control access(std::move(o));
  run(st, access, true);
}
BENCHMARK(access_keys_and_limits);

void sha256_of_a_key(benchmark::State& st) {
  for (auto _ : st) benchmark::DoNotOptimize(mca::auth::sha256(kKey));
}
BENCHMARK(sha256_of_a_key);

}  // namespace
