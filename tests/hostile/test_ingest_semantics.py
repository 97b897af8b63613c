"""What the API accepts, answers and holds, against clients that probe its semantics: caps that
must be answered honestly, names that merge after sanitising, timestamps from the future, numbers
at the edges of JSON, duplicate keys, series made as large as the limits allow, and secrets in the
printed configuration. Each test is a finding of the hostile-client review; each asserts the
answer, that the service stays live, and peak RSS where memory is the point."""
import json
import os
import time

import pytest
import requests

from conftest import Service, assert_live, peak_rss_kib, raw_exchange, run_binary, seed_metric, wait_until

MiB = 1024 * 1024


def post_raw(svc, app_id, body):
    return requests.post(svc.url(f"/api/v2/app/{app_id}/metrics"), data=body,
                         headers={"Content-Type": "application/json"}, timeout=60)


def app_page(svc, app_id, **params):
    r = requests.get(svc.url(f"/api/v2/app/{app_id}/metrics"), params=params, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def all_series(svc, app_id, limit=None):
    out, cursor = [], None
    while True:
        params = {"limit": limit} if limit else {}
        if cursor:
            params["cursor"] = cursor
        page = app_page(svc, app_id, **params)
        out += page["metrics"]
        cursor = page["next_cursor"]
        if cursor is None:
            return out


def self_metric(svc, line_prefix):
    for line in svc.exposition().splitlines():
        if line.startswith(line_prefix + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{line_prefix} not exposed")


def now_ms():
    return int(time.time() * 1000)


# --- caps answer 200 and drop ---------------------------------------------------------------

def test_a_full_app_gets_each_new_series_rejected_in_the_answer(start_service):
    svc = start_service(env={"MAX_SERIES_PER_APP": "100", "MAX_SERIES": "1000"})
    r = svc.post_metrics("full", [seed_metric(name=f"m{i}") for i in range(150)])
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] == 100
    assert [e["index"] for e in body["rejected"]] == list(range(100, 150))
    assert {e["field"] for e in body["rejected"]} == {"series"}
    assert "MAX_SERIES_PER_APP" in body["rejected"][0]["error"]
    # A batch of only new series past the cap: nothing is called accepted.
    r = svc.post_metrics("full", [seed_metric(name=f"n{i}") for i in range(10)])
    assert r.status_code == 400 and r.json()["error"]["code"] == "no_valid_metrics"
    assert {d["field"] for d in r.json()["error"]["details"]} == {"series"}
    # Updates of held series are still accepted.
    r = svc.post_metrics("full", [seed_metric(name="m0", value=1, timestamp=now_ms())])
    assert r.json() == {"accepted": 1, "rejected": []}
    svc.wait_consumed(101)
    assert len(all_series(svc, "full")) == 100
    # Every accepted series is held: the store dropped nothing.
    assert self_metric(svc, 'mca_store_dropped_series_total{reason="max_series_per_app"}') == 0
    assert self_metric(svc, 'mca_ingest_series_refused_total{reason="max_series_per_app"}') == 60
    assert_live(svc)


def test_apps_filling_the_global_cap_get_honest_rejections(start_service):
    svc = start_service(env={"MAX_SERIES_PER_APP": "100", "MAX_SERIES": "1000"})
    for a in range(10):
        assert svc.post_metrics(f"spray-{a}", [seed_metric(name=f"m{i}") for i in range(100)]).json()["accepted"] == 100
    r = svc.post_metrics("newcomer", [seed_metric()])
    assert r.status_code == 400
    detail = r.json()["error"]["details"][0]
    assert detail["field"] == "series" and "MAX_SERIES)" in detail["error"]
    svc.wait_consumed(1000)
    assert self_metric(svc, 'mca_store_dropped_series_total{reason="max_series"}') == 0
    assert_live(svc)


def test_with_allowed_app_ids_a_client_spraying_apps_cannot_lock_a_listed_app_out(start_service):
    listed = [f"app{i}" for i in range(10)]
    svc = start_service(env={"MAX_SERIES_PER_APP": "100", "MAX_SERIES": "1000",
                             "ALLOWED_APP_IDS": ",".join(listed)})
    for a in range(101):  # the finding: 101 app ids filled the global cap
        r = svc.post_metrics(f"spray-{a}", [seed_metric(name=f"m{i}") for i in range(100)])
        assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_app"
    # Nine listed apps filled to their caps by the attacker: the tenth still gets its full share.
    for app in listed[:9]:
        assert svc.post_metrics(app, [seed_metric(name=f"m{i}") for i in range(100)]).json()["accepted"] == 100
    assert svc.post_metrics(listed[9], [seed_metric(name=f"m{i}") for i in range(100)]).json()["accepted"] == 100
    assert requests.get(svc.url("/api/v2/app/spray-1/metrics"), timeout=10).status_code == 404
    assert_live(svc)


def test_allowed_app_ids_that_could_overfill_the_global_cap_are_a_start_up_error():
    r = run_binary(["--env-file=/dev/null", "--set", "ALLOWED_APP_IDS=a,b,c", "--set", "MAX_SERIES_PER_APP=400",
                    "--set", "MAX_SERIES=1000"])
    assert r.returncode == 2
    assert "apps x MAX_SERIES_PER_APP (1200) must not exceed MAX_SERIES (1000)" in r.stderr


# --- names merge after sanitising -----------------------------------------------------------

def test_names_that_sanitise_like_another_name_of_the_app_are_rejected(service):
    r = service.post_metrics("names", [seed_metric(name="cpu.usage", value=1), seed_metric(name="cpu_usage", value=2),
                                       seed_metric(name="cpu-usage", value=3)])
    assert r.status_code == 200
    assert r.json()["accepted"] == 1
    assert [(e["index"], e["field"]) for e in r.json()["rejected"]] == [(1, "name"), (2, "name")]
    assert '"cpu.usage"' in r.json()["rejected"][0]["error"]
    # Later batches too; the multi-byte case; another app may use its own spelling.
    r = service.post_metrics("names", [seed_metric(name="cpu_usage", value=4)])
    assert r.status_code == 400 and r.json()["error"]["details"][0]["field"] == "name"
    r = service.post_metrics("names", [seed_metric(name="temp_é"), seed_metric(name="temp_ü")])
    assert [(e["index"], e["field"]) for e in r.json()["rejected"]] == [(1, "name")]
    assert service.post_metrics("other", [seed_metric(name="cpu_usage")]).json()["accepted"] == 1
    service.wait_consumed(3)
    held = {(m["name"], m["value"]) for m in all_series(service, "names")}
    assert held == {("cpu.usage", 1.0), ("temp_é", 75.5)}


# --- a future timestamp pins a series -------------------------------------------------------

def test_a_future_timestamp_cannot_hold_a_series_against_current_writes(service):
    tags = {"host": "h"}
    r = service.post_metrics("clock", [seed_metric(value=666, timestamp=now_ms() + 3_500_000, tags=tags)])
    assert r.json() == {"accepted": 1, "rejected": []}
    service.wait_consumed(1)
    # The real client's current values win at once (its timestamp is at least the receive time
    # the first sample was set to; on a tie the later write wins).
    r = service.post_metrics("clock", [seed_metric(value=42, timestamp=now_ms(), tags=tags)])
    assert r.json() == {"accepted": 1, "rejected": []}
    wait_until(lambda: [m["value"] for m in all_series(service, "clock")] == [42], timeout=10,
               what="the current write to replace the one dated ahead")
    assert self_metric(service, "mca_ingest_timestamps_clamped_total") == 1


# --- numbers ----------------------------------------------------------------------------------

def test_an_integer_beyond_64_bits_does_not_fail_the_batch(service):
    items = [json.dumps(seed_metric(name=f"good{i}")) for i in range(100)]
    items.insert(50, '{"name":"big","value":18446744073709551616,"profileId":"p"}')
    r = post_raw(service, "bigint", '{"metrics":[%s]}' % ",".join(items))
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 101, "rejected": []}
    service.wait_consumed(101)
    big = [m for m in all_series(service, "bigint") if m["name"] == "big"]
    assert big[0]["value"] == 18446744073709551616


def test_tiny_numbers_are_zero_and_huge_ones_rejected_per_item(service):
    r = post_raw(service, "edges", '{"metrics":[{"name":"tiny","value":1e-999,"profileId":"p"},'
                                   '{"name":"huge","value":1e999,"profileId":"p"},'
                                   '{"name":"neg","value":-1e999,"profileId":"p"}]}')
    assert r.status_code == 200
    assert r.json()["accepted"] == 1
    assert [(e["index"], e["field"]) for e in r.json()["rejected"]] == [(1, "value"), (2, "value")]
    service.wait_consumed(1)
    assert [(m["name"], m["value"]) for m in all_series(service, "edges")] == [("tiny", 0)]


def test_responses_write_the_shortest_round_trip_decimal(service):
    now = now_ms()
    service.post_metrics("my-app", [seed_metric(), seed_metric(name="one", value=1, timestamp=now),
                                    seed_metric(name="zero", value=0, timestamp=now)])
    service.wait_consumed(3)
    text = requests.get(service.url("/api/v2/app/my-app/metrics"), timeout=10).text
    assert '"value":75.5' in text and '"value":1,' in text and '"value":0,' in text, text
    assert "E1" not in text and "E0" not in text


def test_a_duplicate_key_is_400_naming_the_key_and_the_item(service):
    r = post_raw(service, "dup", '{"metrics":[%s,{"name":"a","value":1,"value":666,"profileId":"p"}]}'
                 % json.dumps(seed_metric()))
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "invalid_json" and '"value"' in err["message"]
    assert err["details"] == [{"index": 1, "field": "value", "error": "duplicate key"}]
    r = post_raw(service, "dup", '{"metrics":[{"name":"a","value":1,"profileId":"p","tags":{"h":"x","h":"y"}}]}')
    assert r.json()["error"]["details"] == [{"index": 0, "field": "tags.h", "error": "duplicate key"}]
    r = post_raw(service, "dup", '{"metrics":[],"metrics":[%s]}' % json.dumps(seed_metric()))
    assert r.status_code == 400 and r.json()["error"]["details"] == [{"field": "metrics", "error": "duplicate key"}]
    assert all_series(service, "dup") == []


def test_nul_in_profile_id_is_refused(service):
    r = service.post_metrics("nul", [seed_metric(profileId="user\u0000admin")])
    assert r.status_code == 400
    assert r.json()["error"]["details"] == [{"index": 0, "field": "profileId", "error": "must not contain NUL"}]


@pytest.mark.parametrize("app_id", [".", "..", "%2E%2E", "..."])
def test_app_ids_of_only_dots_are_refused(service, app_id):
    body = json.dumps({"metrics": [seed_metric()]}).encode()
    status, _, answer = raw_exchange(service.port, (
        f"POST /api/v2/app/{app_id}/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
    assert status == 400, answer
    assert json.loads(answer)["error"]["code"] == "invalid_app_id"
    status, _, _ = raw_exchange(service.port, f"GET /api/v2/app/{app_id}/health HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status == 400


# --- series size not bounded by the caps ----------------------------------------------------

def maximal_metric(i, app_id):
    """A metric as large as the default limits allow: 200-byte name, 32 tags of 100 + 1024 bytes."""
    name = f"{i:06d}".ljust(200, "n")
    tags = {f"k{k:03d}".ljust(100, "k"): f"{i:06d}{k:03d}".ljust(1024, "v") for k in range(32)}
    return {"name": name, "value": i, "tags": tags, "profileId": "p" * 256}


def counted_bytes(app_id, m):
    """The weight the README documents: the series key, the original name and tags, the largest
    profileId (256) and 512 bytes of overhead."""
    key = len(app_id) + 1 + len("client_metric_") + len(m["name"])
    key += sum(2 + len(k) + len(v) for k, v in m["tags"].items())  # label names equal the keys here
    return key + len(m["name"]) + sum(len(k) + len(v) for k, v in m["tags"].items()) + 256 + 512


def test_an_apps_series_are_bounded_in_bytes_at_and_past_the_budget(start_service):
    budget = 4 * MiB
    # Under ASan, freed memory sits in a 256 MiB quarantine by default: RSS would measure that.
    asan = os.environ.get("ASAN_OPTIONS", "")
    svc = start_service(env={"MAX_SERIES_BYTES_PER_APP": str(budget), "MAX_SERIES_BYTES": str(8 * MiB),
                             "ASAN_OPTIONS": (asan + ":" if asan else "") + "quarantine_size_mb=8"})
    weight = counted_bytes("big", maximal_metric(0, "big"))
    fits = budget // weight  # 57 series of maximal size
    before = peak_rss_kib(svc.proc.pid)
    accepted, rejected = 0, []
    for i in range(0, 5400, 25):  # the finding: 5,400 maximal series held 424 MB
        r = svc.post_metrics("big", [maximal_metric(i + k, "big") for k in range(25)])
        assert r.status_code in (200, 400), r.text
        body = r.json()
        if r.status_code == 200:
            accepted += body["accepted"]
            rejected += body["rejected"]
        else:
            rejected += body["error"]["details"]
    assert accepted == fits, (accepted, fits, weight)
    assert rejected and all(e["field"] == "series" and "MAX_SERIES_BYTES_PER_APP" in e["error"] for e in rejected)
    # A second app holds its own budget; a third finds the service-wide budget spent.
    assert svc.post_metrics("big2", [maximal_metric(k, "big2") for k in range(25)]).json()["accepted"] == 25
    svc.wait_consumed(fits + 25)
    grown_mib = (peak_rss_kib(svc.proc.pid) - before) / 1024
    print(f"\nbyte budget {budget // MiB} MiB: {fits} maximal series accepted, peak RSS +{grown_mib:.0f} MiB")
    assert grown_mib < 128, f"peak RSS grew {grown_mib:.0f} MiB"
    # One page of the app's series is bounded by the budget too (the finding: one GET of 198 MB).
    r = requests.get(svc.url("/api/v2/app/big/metrics"), timeout=60)
    assert r.status_code == 200 and len(r.json()["metrics"]) == fits
    assert len(r.content) < 3 * budget
    assert_live(svc)


# --- paginated GET ------------------------------------------------------------------------------

def test_app_metrics_are_paginated_with_a_stable_cursor(start_service):
    svc = start_service()
    for b in range(3):
        names = [f"s{b * 1000 + i:05d}" for i in range(1000 if b < 2 else 500)]
        assert svc.post_metrics("paged", [seed_metric(name=n) for n in names]).json()["accepted"] == len(names)
    svc.wait_consumed(2500)
    first = app_page(svc, "paged")
    assert len(first["metrics"]) == 1000 and first["next_cursor"]
    # Series written during the walk before the cursor are not listed, none is listed twice, and
    # every series present throughout is listed exactly once.
    assert svc.post_metrics("paged", [seed_metric(name="a-early")]).json()["accepted"] == 1
    seen = [m["name"] for m in first["metrics"]]
    cursor = first["next_cursor"]
    while cursor:
        page = app_page(svc, "paged", cursor=cursor, limit=700)
        assert len(page["metrics"]) <= 700
        seen += [m["name"] for m in page["metrics"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 2500
    assert "a-early" not in seen
    assert app_page(svc, "paged", limit=1000)["next_cursor"] is not None
    limit_rule, cursor_rule = "must be an integer from 1 to 1000", "is not a next_cursor this service gave"
    for bad, rule in (({"limit": 0}, limit_rule), ({"limit": 1001}, limit_rule), ({"limit": "x"}, limit_rule),
                      ({"cursor": "!!"}, cursor_rule), ({"cursor": "Zm9v"}, cursor_rule)):
        [field] = bad
        r = requests.get(svc.url("/api/v2/app/paged/metrics"), params=bad, timeout=10)
        assert r.status_code == 400, bad
        assert r.json() == {"error": {"code": "invalid_request", "message": f"{field} {rule}",
                                      "details": [{"field": field, "error": rule}]}}, bad


# --- configuration --------------------------------------------------------------------------------

def test_print_config_masks_url_user_info_and_key_material():
    r = run_binary(["--print-config", "--env-file=/dev/null"], env={
        "KAFKA_BOOTSTRAP_SERVERS": "broker:9092",
        "SCHEMA_REGISTRY_URL": "https://user:pw@registry.example:8081",
        "KAFKA_PROPERTY_SSL_KEY_PEM": "-----BEGIN PRIVATE KEY-----MIIE",
        "KAFKA_PROPERTY_SASL_OAUTHBEARER_CLIENT_SECRET": "s3cr3t"})
    assert r.returncode == 0, r.stderr
    assert "user:pw" not in r.stdout and "PRIVATE KEY" not in r.stdout and "s3cr3t" not in r.stdout
    assert "SCHEMA_REGISTRY_URL=https://****@registry.example:8081" in r.stdout
    assert "KAFKA_PROPERTY_SSL_KEY_PEM=****" in r.stdout


def test_an_embedded_log_smaller_than_a_batch_is_a_start_up_error():
    r = run_binary(["--env-file=/dev/null", "--set", "EMBEDDED_LOG_CAPACITY=999"])
    assert r.returncode == 2
    assert "EMBEDDED_LOG_CAPACITY (999) must be at least MAX_BATCH_METRICS (1000)" in r.stderr
