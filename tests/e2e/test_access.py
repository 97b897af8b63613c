"""Who may write and read: API keys (API_KEYS_FILE), their scopes, apps and origins, SIGHUP
reloads, rate limits per client and per app, TRUSTED_PROXIES, and that no key or digest is ever
logged. The real binary over HTTP."""
import hashlib
import http.client
import json
import signal
import time

import pytest
import requests

from conftest import run_binary, seed_metric, wait_until

KEYS = {
    "shop": "mca_shop-ingest-key-for-the-e2e-tests-000000001",
    "shop_origin": "mca_shop-ingest-key-with-origins-0000000000000002",
    "reader": "mca_dashboard-read-key-for-app-shop-0000000000003",
    "reader_all": "mca_dashboard-read-key-for-every-app-000000000004",
    "scraper": "mca_prometheus-scrape-key-000000000000000000000005",
    "admin": "mca_admin-key-for-the-e2e-tests-00000000000000006",
}
ORIGIN = "https://shop.example"


def sha(key):
    return hashlib.sha256(key.encode()).hexdigest()


def entries(**only):
    e = {
        "shop": {"id": "web-shop", "sha256": sha(KEYS["shop"]), "scopes": ["ingest"], "apps": ["shop"]},
        "shop_origin": {"id": "web-shop-browser", "sha256": sha(KEYS["shop_origin"]), "scopes": ["ingest"],
                        "apps": ["shop"], "origins": [ORIGIN]},
        "reader": {"id": "dashboards-shop", "sha256": sha(KEYS["reader"]), "scopes": ["read"], "apps": ["shop"]},
        "reader_all": {"id": "dashboards", "sha256": sha(KEYS["reader_all"]), "scopes": ["read"], "apps": ["*"]},
        "scraper": {"id": "prometheus", "sha256": sha(KEYS["scraper"]), "scopes": ["scrape"]},
        "admin": {"id": "ops", "sha256": sha(KEYS["admin"]), "scopes": ["admin"]},
    }
    names = only.get("names") or list(e)
    return {"keys": [e[n] for n in names]}


def write_keys(path, doc):
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return str(path)


@pytest.fixture
def keyed(start_service, tmp_path):
    """A service with every test key, and the keys file's path."""
    path = write_keys(tmp_path / "keys.json", entries())
    svc = start_service(env={"API_KEYS_FILE": path, "LOG_LEVEL": "debug"})
    svc.keys_path = tmp_path / "keys.json"
    svc.scrape_headers = bearer("scraper")
    return svc


def bearer(name):
    return {"Authorization": f"Bearer {KEYS[name]}"}


def post(svc, app, headers=None, params=None, metrics=None):
    return requests.post(svc.url(f"/api/v2/app/{app}/metrics"), json={"metrics": metrics or [seed_metric()]},
                         headers=headers or {}, params=params, timeout=30)


def get(svc, path, headers=None, params=None):
    return requests.get(svc.url(path), headers=headers or {}, params=params, timeout=30)


def assert_error(r, status, code, reason=None):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()["error"]
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    if reason:
        assert body["details"][0]["error"] == reason, body


def assert_401(r, reason):
    assert_error(r, 401, "unauthorized", reason)
    assert r.headers["WWW-Authenticate"] == "Bearer"


def self_metric(svc, line_prefix):
    r = get(svc, "/prometheus-metrics", bearer("scraper"))
    assert r.status_code == 200, r.text
    for line in r.text.splitlines():
        if line.startswith(line_prefix + " "):
            return float(line.split()[-1])
    return None


# --- 401 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("method,path", [("POST", "/api/v2/app/shop/metrics"), ("GET", "/api/v2/app/shop/metrics"),
                                         ("GET", "/prometheus-metrics")])
def test_keyed_routes_refuse_a_request_without_a_key_with_401(keyed, method, path):
    r = requests.request(method, keyed.url(path), json={"metrics": [seed_metric()]}, timeout=30)
    assert_401(r, "missing_key")


def test_an_unknown_key_is_401_however_it_is_sent(keyed):
    assert_401(post(keyed, "shop", {"Authorization": "Bearer mca_not-a-key"}), "unknown_key")
    assert_401(post(keyed, "shop", {"X-API-Key": "mca_not-a-key"}), "unknown_key")
    assert_401(post(keyed, "shop", params={"api_key": "mca_not-a-key"}), "unknown_key")
    assert_401(get(keyed, "/prometheus-metrics", {"Authorization": "Bearer " + sha(KEYS["scraper"])}), "unknown_key")


def test_another_authorization_scheme_is_no_key(keyed):
    assert_401(post(keyed, "shop", {"Authorization": "Basic " + KEYS["shop"]}), "missing_key")
    assert_401(post(keyed, "shop", {"Authorization": "Bearer"}), "missing_key")


def test_nothing_refused_is_stored(keyed):
    assert post(keyed, "shop").status_code == 401
    assert post(keyed, "shop", bearer("shop"), metrics=[seed_metric(name="kept")]).status_code == 200
    keyed.wait_consumed(1)
    names = [m["name"] for m in get(keyed, "/api/v2/app/shop/metrics", bearer("reader")).json()["metrics"]]
    assert names == ["kept"]


# --- the three ways to present a key -------------------------------------------------------------


def test_ingest_takes_a_bearer_token_an_x_api_key_header_or_the_api_key_query_parameter(keyed):
    assert post(keyed, "shop", bearer("shop")).status_code == 200
    assert post(keyed, "shop", {"authorization": "bearer  " + KEYS["shop"]}).status_code == 200  # scheme any case
    assert post(keyed, "shop", {"X-API-Key": KEYS["shop"]}).status_code == 200
    assert post(keyed, "shop", params={"api_key": KEYS["shop"]}).status_code == 200


def test_the_query_parameter_is_refused_for_every_route_but_ingest(keyed):
    assert_401(get(keyed, "/api/v2/app/shop/metrics", params={"api_key": KEYS["admin"]}), "query_key_not_allowed")
    assert_401(get(keyed, "/prometheus-metrics", params={"api_key": KEYS["scraper"]}), "query_key_not_allowed")
    assert get(keyed, "/prometheus-metrics", bearer("scraper")).status_code == 200


def test_read_and_scrape_with_their_keys(keyed):
    assert get(keyed, "/api/v2/app/shop/metrics", bearer("reader")).status_code == 200
    assert get(keyed, "/api/v2/app/anything/metrics", {"X-API-Key": KEYS["reader_all"]}).status_code == 200
    r = get(keyed, "/prometheus-metrics", bearer("scraper"))
    assert r.status_code == 200 and "mca_http_auth_failures_total" in r.text


# --- 403 -----------------------------------------------------------------------------------------


def test_a_key_without_the_routes_scope_is_403(keyed):
    assert_error(get(keyed, "/api/v2/app/shop/metrics", bearer("shop")), 403, "forbidden", "scope")
    assert_error(post(keyed, "shop", bearer("reader")), 403, "forbidden", "scope")
    assert_error(get(keyed, "/prometheus-metrics", bearer("reader_all")), 403, "forbidden", "scope")
    assert_error(get(keyed, "/api/v2/app/shop/metrics", bearer("scraper")), 403, "forbidden", "scope")
    assert_error(post(keyed, "shop", bearer("scraper")), 403, "forbidden", "scope")


def test_a_key_for_another_app_is_403(keyed):
    assert_error(post(keyed, "blog", bearer("shop")), 403, "forbidden", "app")
    assert_error(get(keyed, "/api/v2/app/blog/metrics", bearer("reader")), 403, "forbidden", "app")
    assert "WWW-Authenticate" not in post(keyed, "blog", bearer("shop")).headers


def test_a_key_with_origins_is_refused_from_another_origin(keyed):
    ok = post(keyed, "shop", {**bearer("shop_origin"), "Origin": ORIGIN})
    assert ok.status_code == 200, ok.text
    assert_error(post(keyed, "shop", {**bearer("shop_origin"), "Origin": "https://evil.example"}), 403, "forbidden",
                 "origin")
    assert_error(post(keyed, "shop", {**bearer("shop_origin"), "Origin": "null"}), 403, "forbidden", "origin")
    # Without an Origin (a server, curl) the list does not apply; a key without a list takes any.
    assert post(keyed, "shop", bearer("shop_origin")).status_code == 200
    assert post(keyed, "shop", {**bearer("shop"), "Origin": "https://evil.example"}).status_code == 200
    # sendBeacon: the key in the query, the browser's Origin checked all the same.
    assert post(keyed, "shop", {"Origin": ORIGIN}, params={"api_key": KEYS["shop_origin"]}).status_code == 200
    assert post(keyed, "shop", {"Origin": "https://evil.example"}, params={"api_key": KEYS["shop_origin"]}).status_code == 403


def test_admin_may_do_everything(keyed):
    a = bearer("admin")
    assert post(keyed, "any-app", a).status_code == 200
    assert get(keyed, "/api/v2/app/any-app/metrics", a).status_code == 200
    assert get(keyed, "/prometheus-metrics", a).status_code == 200


def test_open_routes_need_no_key(keyed):
    for path in ("/livez", "/readyz", "/api/v2/app/shop/health", "/openapi.json", "/swagger-ui", "/swagger-ui/"):
        r = get(keyed, path)
        assert r.status_code == 200, (path, r.status_code)


def test_browser_can_send_a_key_and_read_the_refusal(start_service, tmp_path):
    path = write_keys(tmp_path / "keys.json", entries())
    s = start_service(env={"API_KEYS_FILE": path, "CORS_ALLOWED_ORIGINS": ORIGIN})
    pre = requests.options(s.url("/api/v2/app/shop/metrics"), headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, authorization, x-api-key"}, timeout=10)
    assert pre.status_code == 204  # preflights carry no key and need none
    allowed = {h.strip().lower() for h in pre.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"content-type", "authorization", "x-api-key"} <= allowed
    for r in (post(s, "shop", {"Origin": ORIGIN}),
              post(s, "blog", {**bearer("shop_origin"), "Origin": ORIGIN})):
        assert r.status_code in (401, 403)
        assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "WWW-Authenticate" in r.headers["Access-Control-Expose-Headers"]


# --- start-up ------------------------------------------------------------------------------------


def test_an_invalid_or_missing_keys_file_stops_the_start(tmp_path):
    bad = write_keys(tmp_path / "bad.json", {"keys": [{"id": "x", "sha256": KEYS["shop"], "scopes": ["ingest"]}]})
    r = run_binary(env={"API_KEYS_FILE": bad, "PORT": "0"})
    assert r.returncode == 2
    assert "API_KEYS_FILE" in r.stderr and "keys[0].sha256" in r.stderr
    assert KEYS["shop"] not in r.stderr
    r = run_binary(env={"API_KEYS_FILE": str(tmp_path / "missing.json"), "PORT": "0"})
    assert r.returncode == 2 and "missing.json" in r.stderr


def test_without_keys_a_non_loopback_host_is_warned_about(start_service):
    wide = start_service(env={"HOST": "0.0.0.0"})
    assert "API_KEYS_FILE is not set" in wide.stderr()
    local = start_service()
    assert "API_KEYS_FILE is not set" not in local.stderr()
    # open as before: the seed's walk-through needs no key
    assert local.post_metrics("my-app", [seed_metric()]).status_code == 200
    assert requests.get(local.url("/prometheus-metrics"), timeout=10).status_code == 200


def test_keys_new_prints_a_key_that_works_and_the_entry_that_admits_it(start_service, tmp_path):
    r = run_binary(["keys", "new", "--id", "web-shop", "--scopes", "ingest", "--apps", "shop",
                    "--origins", f"{ORIGIN},http://localhost:3000"])
    assert r.returncode == 0, r.stderr
    key, entry = r.stdout.strip().splitlines()
    assert key.startswith("mca_") and len(key) >= 4 + 22  # >= 128 bits of base64url
    assert all(c.isalnum() or c in "-_" for c in key[4:])
    doc = json.loads(entry)
    assert doc == {"id": "web-shop", "sha256": sha(key), "scopes": ["ingest"], "apps": ["shop"],
                   "origins": [ORIGIN, "http://localhost:3000"]}
    again = run_binary(["keys", "new", "--id", "web-shop", "--scopes", "ingest", "--apps", "shop"])
    assert again.stdout.splitlines()[0] != key
    path = write_keys(tmp_path / "keys.json", {"keys": [doc]})
    s = start_service(env={"API_KEYS_FILE": path})
    assert post(s, "shop", {"Authorization": f"Bearer {key}", "Origin": ORIGIN}).status_code == 200
    assert post(s, "shop", {"Authorization": f"Bearer {key}", "Origin": "https://evil.example"}).status_code == 403
    assert key not in s.stderr()


def test_keys_new_refuses_what_the_file_would_refuse():
    r = run_binary(["keys", "new", "--id", "x", "--scopes", "ingest"])
    assert r.returncode == 2 and "apps" in r.stderr and r.stdout == ""
    r = run_binary(["keys", "new", "--id", "x", "--scopes", "write", "--apps", "a"])
    assert r.returncode == 2 and "scope" in r.stderr
    assert run_binary(["keys", "new"]).returncode == 2


# --- SIGHUP --------------------------------------------------------------------------------------


def test_sighup_revokes_a_key_within_a_second_without_dropping_connections(keyed):
    conn = http.client.HTTPConnection("127.0.0.1", keyed.port, timeout=10)
    body = json.dumps({"metrics": [seed_metric()]})
    hdrs = {"Content-Type": "application/json", **bearer("shop")}
    conn.request("POST", "/api/v2/app/shop/metrics", body, hdrs)
    assert conn.getresponse().read() and True
    sock = conn.sock
    write_keys(keyed.keys_path, entries(names=["reader", "scraper", "admin"]))
    keyed.proc.send_signal(signal.SIGHUP)
    signalled = time.monotonic()
    status = None
    while time.monotonic() - signalled < 1.0:
        conn.request("POST", "/api/v2/app/shop/metrics", body, hdrs)
        resp = conn.getresponse()
        resp.read()
        status = resp.status
        if status == 401:
            break
    assert status == 401, "the revoked key still worked a second after SIGHUP"
    assert conn.sock is sock, "the keep-alive connection was dropped by the reload"
    conn.close()
    assert keyed.proc.poll() is None
    wait_until(lambda: "reloaded 3 keys" in keyed.stderr(), timeout=10, what="reload log line")
    assert self_metric(keyed, 'mca_auth_reloads_total{outcome="success"}') == 1


def test_an_invalid_file_on_reload_keeps_the_previous_keys_and_says_why(keyed):
    write_keys(keyed.keys_path, {"keys": [{"id": "pasted", "sha256": KEYS["shop"], "scopes": ["ingest"], "apps": ["shop"]}]})
    keyed.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "keeping the 6 keys" in keyed.stderr(), timeout=10, what="refused reload log line")
    assert "keys[0].sha256" in keyed.stderr()
    assert post(keyed, "shop", bearer("shop")).status_code == 200
    assert self_metric(keyed, 'mca_auth_reloads_total{outcome="failure"}') == 1
    keyed.keys_path.write_text("{ not json")
    keyed.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "not valid JSON" in keyed.stderr(), timeout=10, what="second refused reload")
    assert post(keyed, "shop", bearer("shop")).status_code == 200
    assert KEYS["shop"] not in keyed.stderr()


def test_sighup_without_a_keys_file_logs_and_carries_on(service):
    service.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "no keys to reload" in service.stderr(), timeout=10, what="SIGHUP log line")
    assert service.proc.poll() is None
    assert service.post_metrics("my-app", [seed_metric()]).status_code == 200


# --- rate limits ---------------------------------------------------------------------------------


def test_rate_limit_per_client_refuses_at_least_half_of_100_back_to_back_requests(start_service):
    s = start_service(env={"RATE_LIMIT_PER_CLIENT": "10"})
    statuses = []
    with requests.Session() as sess:
        for _ in range(100):
            r = sess.post(s.url("/api/v2/app/shop/metrics"), json={"metrics": [seed_metric()]}, timeout=30)
            statuses.append(r.status_code)
            if r.status_code == 429:
                last = r
    assert statuses.count(429) >= 50, statuses
    assert set(statuses) == {200, 429}
    assert_error(last, 429, "rate_limited")
    assert int(last.headers["Retry-After"]) >= 1
    # probes are never limited
    assert all(requests.get(s.url("/livez"), timeout=10).status_code == 200 for _ in range(30))
    wait_until(lambda: requests.get(s.url("/api/v2/app/shop/metrics"), timeout=10).status_code == 200,
               timeout=10, what="the bucket to refill")
    assert self_metric_open(s, 'mca_http_rate_limited_total{limit="client"}') >= 50


def self_metric_open(svc, prefix):
    for _ in range(50):
        r = requests.get(svc.url("/prometheus-metrics"), timeout=10)
        if r.status_code == 200:
            for line in r.text.splitlines():
                if line.startswith(prefix + " "):
                    return float(line.split()[-1])
            return None
        time.sleep(0.2)
    raise AssertionError("exposition stayed rate limited")


def test_rate_limit_per_app_counts_metrics_and_answers_429_with_retry_after(start_service):
    s = start_service(env={"RATE_LIMIT_PER_APP": "100"})
    batch = [seed_metric(name=f"m{i}") for i in range(100)]
    assert s.post_metrics("shop", batch).status_code == 200  # a full second's worth
    r = s.post_metrics("shop", batch)
    assert_error(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 1
    assert "RATE_LIMIT_PER_APP" in r.json()["error"]["message"]
    assert s.post_metrics("blog", batch).status_code == 200  # apps apart
    s.wait_consumed(200)
    time.sleep(0.2)
    assert s.consumed() == 200  # the refused batch was not taken in
    wait_until(lambda: s.post_metrics("shop", batch[:10]).status_code == 200, timeout=10, what="refill")
    assert self_metric_open(s, 'mca_http_rate_limited_total{limit="app"}') >= 1


def test_a_batch_larger_than_a_seconds_worth_still_passes_once(start_service):
    s = start_service(env={"RATE_LIMIT_PER_APP": "10"})
    big = [seed_metric(name=f"m{i}") for i in range(50)]
    assert s.post_metrics("shop", big).status_code == 200
    r = s.post_metrics("shop", big[:1])
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 4  # the debt is paid back first


def test_x_forwarded_for_is_believed_only_from_trusted_proxies(start_service):
    trusting = start_service(env={"RATE_LIMIT_PER_CLIENT": "2", "TRUSTED_PROXIES": "127.0.0.0/8"})
    ff = lambda a: {"X-Forwarded-For": a}
    codes = [get(trusting, "/api/v2/app/x/health", ff("203.0.113.1")).status_code for _ in range(5)]
    assert codes.count(429) >= 2, codes
    assert get(trusting, "/api/v2/app/x/health", ff("203.0.113.2")).status_code == 200  # another client
    # the client's own claim, left of what the proxy appended, is not believed
    codes = [get(trusting, "/api/v2/app/x/health", ff(f"198.51.100.{i}, 203.0.113.1")).status_code for i in range(5)]
    assert codes.count(429) >= 4, codes

    wary = start_service(env={"RATE_LIMIT_PER_CLIENT": "2", "TRUSTED_PROXIES": "10.0.0.0/8"})
    codes = [get(wary, "/api/v2/app/x/health", ff(f"203.0.113.{i}")).status_code for i in range(10)]
    assert codes.count(429) >= 5, codes  # rotating the header does not make new clients


def test_the_table_of_client_buckets_is_bounded(start_service):
    s = start_service(env={"RATE_LIMIT_PER_CLIENT": "1", "TRUSTED_PROXIES": "127.0.0.1",
                           "RATE_LIMIT_TABLE_SIZE": "50"})
    with requests.Session() as sess:
        for i in range(300):  # a client rotating through 300 addresses
            r = sess.get(s.url("/api/v2/app/x/health"), headers={"X-Forwarded-For": f"198.51.{i // 256}.{i % 256}"},
                         timeout=10)
            assert r.status_code == 200  # each address is new
        r = sess.get(s.url("/prometheus-metrics"), headers={"X-Forwarded-For": "192.0.2.250"}, timeout=10)
    buckets = [l for l in r.text.splitlines() if l.startswith('mca_rate_limit_buckets{limit="client"}')]
    assert buckets and 1 <= float(buckets[0].split()[-1]) <= 50, buckets


# --- logs ----------------------------------------------------------------------------------------


def test_no_key_or_digest_appears_in_any_log_line(start_service, tmp_path):
    path = tmp_path / "keys.json"
    write_keys(path, entries())
    s = start_service(env={"API_KEYS_FILE": str(path), "LOG_LEVEL": "trace", "RATE_LIMIT_PER_CLIENT": "1000"})
    for name in KEYS:
        post(s, "shop", bearer(name))
        post(s, "blog", {"X-API-Key": KEYS[name], "Origin": "https://evil.example"})
        post(s, "shop", params={"api_key": KEYS[name]})
        get(s, "/api/v2/app/shop/metrics", bearer(name))
        get(s, "/api/v2/app/shop/metrics", params={"api_key": KEYS[name]})
        get(s, "/prometheus-metrics", bearer(name))
    post(s, "shop", {"Authorization": "Bearer " + sha(KEYS["shop"])})
    write_keys(path, {"keys": [{"id": "oops", "sha256": KEYS["admin"], "scopes": ["admin"]},
                               {"id": "dup1", "sha256": sha(KEYS["shop"]), "scopes": ["scrape"]},
                               {"id": "dup2", "sha256": sha(KEYS["shop"]), "scopes": ["scrape"]}]})
    s.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "keys file refused" in s.stderr(), timeout=10, what="refused reload")
    write_keys(path, entries(names=["admin"]))
    s.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "reloaded 1 keys" in s.stderr(), timeout=10, what="reload")
    s.stop()
    log = s.stderr()
    assert "refused POST" in log  # the debug lines exist, and say which key id
    for name, key in KEYS.items():
        for secret in (key, sha(key), sha(key).upper(), key[4:20], sha(key)[:16]):
            assert secret not in log, f"{name}: {secret} in the log"
