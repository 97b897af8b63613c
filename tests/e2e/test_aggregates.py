"""Counters and histograms through the real binary (embedded transport): many clients' samples
aggregate into one series per app and tag set, exposed as Prometheus counter and histogram
families that promtool accepts, and shown with their type in the JSON app view."""
import random
import time

import requests

from conftest import assert_promtool_accepts, wait_until


def scrape_samples(text):
    """{(name, frozenset(labels)): value} of every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        if "{" in series:
            name, rest = series.split("{", 1)
            labels = []
            for part in rest.rstrip("}").split('",'):
                k, v = part.split('="', 1)
                labels.append((k, v.rstrip('"')))
            out[(name, frozenset(labels))] = float(value)
        else:
            out[(series, frozenset())] = float(value)
    return out


def post_all(service, app, metrics, batch):
    for i in range(0, len(metrics), batch):
        r = service.post_metrics(app, metrics[i:i + batch])
        assert r.status_code == 200, r.text
        assert r.json() == {"accepted": len(metrics[i:i + batch]), "rejected": []}, r.text


def test_a_thousand_clients_observing_lcp_give_one_exact_histogram(service, tmp_path):
    rng = random.Random(17)
    # Every client observes one LCP value; some sit exactly on a bound (le: counted in it).
    values = [rng.choice([rng.randrange(0, 30000), 2500, 4000, 1000]) for _ in range(1000)]
    now = int(time.time() * 1000)
    metrics = [{"name": "web_vitals_lcp", "type": "histogram", "value": v, "timestamp": now,
                "tags": {"page": "/home"}, "profileId": f"client-{i}"} for i, v in enumerate(values)]
    # Clients report alone and in batches of different sizes, as pages do.
    post_all(service, "web", metrics[:300], 1)
    post_all(service, "web", metrics[300:], 37)

    labels = frozenset({("app_id", "web"), ("page", "/home")})
    wait_until(lambda: scrape_samples(service.exposition()).get(("client_metric_web_vitals_lcp_count", labels)) == 1000,
               timeout=60, what="_count 1000")
    text = service.exposition()
    samples = scrape_samples(text)
    assert "# TYPE client_metric_web_vitals_lcp histogram" in text
    assert samples[("client_metric_web_vitals_lcp_sum", labels)] == sum(values)
    buckets = {dict(k[1])["le"]: v for k, v in samples.items()
               if k[0] == "client_metric_web_vitals_lcp_bucket" and ("app_id", "web") in k[1]}
    bounds = sorted(float(le) for le in buckets if le != "+Inf")
    assert 2500.0 in bounds and 4000.0 in bounds  # LCP's good and poor thresholds
    for le, got in buckets.items():
        bound = float("inf") if le == "+Inf" else float(le)
        assert got == sum(1 for v in values if v <= bound), le
    assert buckets["+Inf"] == 1000
    assert_promtool_accepts(text, tmp_path)

    # The JSON app view: type, count, sum and the cumulative buckets.
    body = requests.get(service.url("/api/v2/app/web/metrics"), timeout=10).json()
    (item,) = [m for m in body["metrics"] if m["name"] == "web_vitals_lcp"]
    assert item["type"] == "histogram"
    assert item["count"] == 1000 and item["sum"] == sum(values)
    by_bound = {(float("inf") if le == "+Inf" else float(le)): v for le, v in buckets.items()}
    assert [(b["le"], b["count"]) for b in item["buckets"]] == [
        ("+Inf" if bound == float("inf") else bound, by_bound[bound]) for bound in sorted(by_bound)]
    assert item["buckets"][-1] == {"le": "+Inf", "count": 1000}


def test_counters_sum_across_clients_per_app_and_tag_set(service, tmp_path):
    now = int(time.time() * 1000)
    metrics = []
    for i in range(200):
        metrics.append({"name": "checkout.clicks", "type": "counter", "value": 1 + i % 3, "timestamp": now,
                        "tags": {"step": "pay" if i % 2 else "cart"}, "profileId": f"c{i}"})
    post_all(service, "shop", metrics, 25)
    # Another app's counter of the same name is its own series.
    post_all(service, "blog", [{"name": "checkout.clicks", "type": "counter", "value": 5, "timestamp": now,
                                "tags": {"step": "pay"}, "profileId": "x"}], 1)
    want_pay = sum(1 + i % 3 for i in range(200) if i % 2)
    want_cart = sum(1 + i % 3 for i in range(200) if not i % 2)

    def totals():
        s = scrape_samples(service.exposition())
        return (s.get(("client_metric_checkout_clicks_total", frozenset({("app_id", "shop"), ("step", "pay")}))),
                s.get(("client_metric_checkout_clicks_total", frozenset({("app_id", "shop"), ("step", "cart")}))),
                s.get(("client_metric_checkout_clicks_total", frozenset({("app_id", "blog"), ("step", "pay")}))))
    wait_until(lambda: totals() == (want_pay, want_cart, 5), timeout=60, what="counter totals")
    text = service.exposition()
    assert "# TYPE client_metric_checkout_clicks_total counter" in text
    assert "# HELP client_metric_checkout_clicks_total Client metric: checkout.clicks" in text
    assert_promtool_accepts(text, tmp_path)
    body = requests.get(service.url("/api/v2/app/shop/metrics"), timeout=10).json()
    assert {(m["tags"]["step"], m["type"], m["value"]) for m in body["metrics"]} == {
        ("pay", "counter", want_pay), ("cart", "counter", want_cart)}


def test_a_histogram_counts_its_buckets_plus_three_against_the_per_app_cap(start_service):
    # A layout of 5 bounds: 8 series. MAX_SERIES_PER_APP=10: one histogram and two gauges fit
    # exactly, a second histogram is refused in the answer (field series), and the store holds
    # what was accepted without dropping anything.
    s = start_service(env={"HISTOGRAM_BUCKETS": "lat=1,2,3,4,5", "MAX_SERIES_PER_APP": "10"})
    now = int(time.time() * 1000)
    first = [{"name": "lat", "type": "histogram", "value": 2, "timestamp": now, "tags": {"p": "a"}, "profileId": "x"},
             {"name": "g", "value": 1, "timestamp": now, "tags": {"k": "1"}, "profileId": "x"},
             {"name": "g", "value": 1, "timestamp": now, "tags": {"k": "2"}, "profileId": "x"}]
    r = s.post_metrics("cap", first)
    assert r.status_code == 200 and r.json() == {"accepted": 3, "rejected": []}, r.text
    r = s.post_metrics("cap", [{"name": "lat", "type": "histogram", "value": 2, "timestamp": now,
                                "tags": {"p": "b"}, "profileId": "x"}])
    # The batch's only item is refused: 400 no_valid_metrics with the item's reason.
    assert r.status_code == 400 and r.json()["error"]["code"] == "no_valid_metrics", r.text
    (refused,) = r.json()["error"]["details"]
    assert refused["index"] == 0 and refused["field"] == "series", r.text
    assert "counts 8 series" in refused["error"] and "MAX_SERIES_PER_APP" in refused["error"], r.text
    s.wait_consumed(3)
    text = s.exposition()
    assert 'client_metric_lat_bucket{app_id="cap",p="a",le="5"} 1' in text
    assert 'p="b"' not in text
    assert "mca_store_exposed_series 10" in text
    assert "mca_store_dropped_series_total{reason=\"max_series_per_app\"} 0" in text
