"""Every documented limit, at the limit and just past it (defaults unless a test sets one)."""
import gzip
import json
import time

import pytest
import requests

import conftest
from conftest import run_binary, seed_metric


def post_raw(service, app_id, body, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return requests.post(service.url(f"/api/v2/app/{app_id}/metrics"), data=body, headers=h, timeout=30)


def padded_body(size):
    """A valid one-metric body of exactly `size` bytes (JSON whitespace as padding)."""
    core = json.dumps({"metrics": [seed_metric()]})
    assert len(core) < size
    return core[:-1] + " " * (size - len(core)) + "}"


def rejected_of(r):
    assert r.status_code in (200, 400), r.text
    if r.status_code == 200:
        return r.json()["rejected"]
    return r.json()["error"]["details"]


def test_body_at_limit_is_accepted_and_one_byte_more_is_413(service):
    limit = 1 << 20
    assert post_raw(service, "body", padded_body(limit)).status_code == 200
    r = post_raw(service, "body", padded_body(limit + 1))
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"


def test_configured_body_limit_applies_to_gzip_bodies_after_decoding(start_service):
    s = start_service(env={"MAX_BODY_BYTES": "4096"})
    assert post_raw(s, "gz", gzip.compress(padded_body(4096).encode()), {"Content-Encoding": "gzip"}).status_code == 200
    r = post_raw(s, "gz", gzip.compress(padded_body(4097).encode()), {"Content-Encoding": "gzip"})
    assert r.status_code == 413


def test_gzip_bomb_is_413_without_inflating_it(service):
    bomb = gzip.compress(b'{"metrics":[' + b" " * (64 << 20) + b"]}")
    assert len(bomb) < (1 << 20)
    r = post_raw(service, "bomb", bomb, {"Content-Encoding": "gzip"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"


def test_batch_of_1000_is_accepted_and_1001_is_413(service):
    ok = service.post_metrics("batch", [seed_metric(tags={"i": str(i)}) for i in range(1000)])
    assert ok.status_code == 200
    assert ok.json()["accepted"] == 1000
    r = service.post_metrics("batch", [seed_metric()] * 1001)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "batch_too_large"


def test_configured_batch_limit(start_service):
    s = start_service(env={"MAX_BATCH_METRICS": "3"})
    assert s.post_metrics("b", [seed_metric()] * 3).status_code == 200
    assert s.post_metrics("b", [seed_metric()] * 4).status_code == 413


@pytest.mark.parametrize("field,ok_value,bad_value", [
    ("name", "n" * 200, "n" * 201),
    ("profileId", "p" * 256, "p" * 257),
])
def test_string_lengths_at_and_past_the_limit(service, field, ok_value, bad_value):
    r = service.post_metrics("len", [seed_metric(**{field: ok_value}), seed_metric(**{field: bad_value})])
    assert r.status_code == 200
    assert r.json()["accepted"] == 1
    [rej] = r.json()["rejected"]
    assert rej["index"] == 1 and rej["field"] == field


def test_32_tags_accepted_33_rejected(service):
    r = service.post_metrics("tags", [seed_metric(tags={f"k{i}": "v" for i in range(32)}),
                                      seed_metric(tags={f"k{i}": "v" for i in range(33)})])
    assert r.json()["accepted"] == 1
    assert r.json()["rejected"][0]["index"] == 1
    assert r.json()["rejected"][0]["field"] == "tags"


def test_tag_key_and_value_lengths(service):
    r = service.post_metrics("tagl", [
        seed_metric(tags={"k" * 100: "v" * 1024}),
        seed_metric(tags={"k" * 101: "v"}),
        seed_metric(tags={"k": "v" * 1025}),
    ])
    body = r.json()
    assert body["accepted"] == 1
    assert [(x["index"], x["field"]) for x in body["rejected"]] == [(1, "tags"), (2, "tags.k")]
    assert "100" in body["rejected"][0]["error"]


@pytest.mark.parametrize("app_id,status", [
    ("a" * 64, 200), ("a" * 65, 400), ("A.b_c-9", 200), ("bad$app", 400), ("sp%20ace", 400),
])
def test_app_id_pattern(service, app_id, status):
    r = service.post_metrics(app_id, [seed_metric()])
    assert r.status_code == status, r.text
    if status == 400:
        assert r.json()["error"]["code"] == "invalid_app_id"
        assert r.json()["error"]["details"][0]["field"] == "app_id"


def test_timestamp_policy_future_skew_negative_and_non_integer(service):
    now = int(time.time() * 1000)
    r = service.post_metrics("ts", [
        seed_metric(timestamp=now + 3500 * 1000),    # within the 1 h skew allowance
        seed_metric(timestamp=now + 3700 * 1000),    # past it
        seed_metric(timestamp=-1),
        seed_metric(timestamp=1.5),
        seed_metric(timestamp="1640995200000"),
        seed_metric(timestamp=0),
    ])
    body = r.json()
    assert body["accepted"] == 2
    assert [(x["index"], x["field"]) for x in body["rejected"]] == [(1, "timestamp"), (2, "timestamp"), (3, "timestamp"), (4, "timestamp")]


def test_configured_future_skew(start_service):
    s = start_service(env={"MAX_FUTURE_SKEW_SECONDS": "0"})
    now = int(time.time() * 1000)
    r = s.post_metrics("skew", [seed_metric(timestamp=now - 1000), seed_metric(timestamp=now + 600_000)])
    assert r.json()["accepted"] == 1


def test_series_caps_reject_new_series_in_the_answer(start_service):
    s = start_service(env={"MAX_SERIES_PER_APP": "2", "MAX_SERIES": "3"})
    r = s.post_metrics("cap", [seed_metric(name=f"m{i}") for i in range(3)])
    assert r.status_code == 200
    assert r.json()["accepted"] == 2
    assert [(e["index"], e["field"]) for e in r.json()["rejected"]] == [(2, "series")]
    assert "MAX_SERIES_PER_APP" in r.json()["rejected"][0]["error"]
    r = s.post_metrics("other", [seed_metric(name=f"m{i}") for i in range(2)])
    assert r.status_code == 200
    assert r.json()["accepted"] == 1
    assert [(e["index"], e["field"]) for e in r.json()["rejected"]] == [(1, "series")]
    assert "MAX_SERIES)" in r.json()["rejected"][0]["error"]
    s.wait_consumed(3)
    # What was accepted is held, and the store dropped nothing it had been promised.
    held = requests.get(s.url("/api/v2/app/cap/metrics"), timeout=10).json()["metrics"]
    assert len(held) == 2
    assert 'mca_store_dropped_series_total{reason="max_series_per_app"} 0' in s.exposition()
    assert 'mca_ingest_series_refused_total{reason="max_series_per_app"} 1' in s.exposition()
    # An update of a held series is still accepted at the cap.
    r = s.post_metrics("cap", [seed_metric(name="m0", value=99, timestamp=1640995300000)])
    assert r.json() == {"accepted": 1, "rejected": []}
    conftest.wait_until(lambda: any(m["value"] == 99 for m in requests.get(s.url("/api/v2/app/cap/metrics"), timeout=10).json()["metrics"]),
                        what="update at cap")


def test_series_expire_after_ttl(start_service):
    s = start_service(env={"METRIC_TTL_SECONDS": "1"})
    assert s.post_metrics("ttl", [seed_metric()]).status_code == 200
    s.wait_consumed(1)
    import conftest
    conftest.wait_until(lambda: "client_metric_cpu_usage{" not in s.exposition(), timeout=10, what="expiry")
    assert requests.get(s.url("/api/v2/app/ttl/metrics"), timeout=10).json()["metrics"] == []


def test_full_embedded_log_is_503_with_retry_after(start_service):
    # The smallest log that takes a full batch; concurrent batches fill it faster than the
    # consumer drains it, and each refused batch is a 503 whose metrics are never exposed.
    s = start_service(env={"EMBEDDED_LOG_CAPACITY": "2", "MAX_BATCH_METRICS": "2", "RETRY_AFTER_SECONDS": "3"})
    from concurrent.futures import ThreadPoolExecutor

    def send(i):
        return i, s.post_metrics("full", [seed_metric(name=f"a{i}"), seed_metric(name=f"b{i}")])

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(200)))
    accepted = set()
    for i, r in answers:
        assert r.status_code in (200, 503), r.text
        if r.status_code == 503:
            assert r.headers["Retry-After"] == "3"
            assert r.json()["error"]["code"] == "unavailable"
        else:
            accepted |= {f"a{i}", f"b{i}"}
    s.wait_consumed(len(accepted))
    names = set()
    cursor = None
    while True:
        page = requests.get(s.url("/api/v2/app/full/metrics"), params={"cursor": cursor} if cursor else {}, timeout=10).json()
        names |= {m["name"] for m in page["metrics"]}
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert names == accepted


def test_embedded_log_smaller_than_a_batch_is_a_start_up_error():
    r = run_binary(["--set", "EMBEDDED_LOG_CAPACITY=999", "--env-file=/dev/null"])
    assert r.returncode == 2
    assert "EMBEDDED_LOG_CAPACITY (999) must be at least MAX_BATCH_METRICS (1000)" in r.stderr
