"""Counters and histograms across three replicas behind a real Prometheus: 1,000 simulated clients
each observe one LCP value and count one page view; summed over the replicas, Prometheus sees
exactly 1,000 observations with every bucket as the inputs put them, histogram_quantile and
sum(rate(...)) answer over the three; and after a SIGKILL of the replica that owns a counter's
partition, the survivor continues that counter from the changelog: Prometheus never sees the
counter (summed over instances) decrease, and it ends at exactly what was posted."""
import math
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from conftest import record_figure, scrape_ready, wait_until

CLIENTS = 1000
PAGES = [f"/p{i}" for i in range(12)]  # 12 series per family, spread over the 6 partitions
APP = "vitals-app"
LCP = "client_metric_web_vitals_lcp"
VIEWS = "client_metric_page_views_total"


def post(replica, metrics, timeout=30):
    return requests.post(f"{replica.base}/api/v2/app/{APP}/metrics", json={"metrics": metrics}, timeout=timeout)


def bucket_quantile(q, buckets):
    """Prometheus's histogram_quantile over cumulative (le, count) pairs (le ascending, +Inf last)."""
    total = buckets[-1][1]
    if total == 0:
        return math.nan
    rank = q * total
    b = next(i for i, (_, c) in enumerate(buckets) if c >= rank)
    if b == len(buckets) - 1:
        return buckets[-2][0]
    if b == 0 and buckets[0][0] <= 0:
        return buckets[0][0]
    start, prev = (0.0, 0.0) if b == 0 else buckets[b - 1]
    end, count = buckets[b][0], buckets[b][1] - prev
    return start + (end - start) * ((rank - prev) / count)


def test_lcp_histogram_and_counters_sum_exactly_over_three_replicas_and_survive_a_sigkill(stack, replicas, prometheus):
    topic, reps = replicas(3, {"AGGREGATE_SNAPSHOT_INTERVAL_MS": "1000"})
    scrape_ready(prometheus, reps)

    # 1,000 clients, one request each, round robin over the replicas: one LCP observation and one
    # page view.
    rnd = random.Random(17)
    lcps = [round(rnd.choice([rnd.uniform(0, 8000), rnd.lognormvariate(7.6, 0.5), 2500.0, 4000.0]), 3)
            for _ in range(CLIENTS)]
    pages = [PAGES[i % len(PAGES)] for i in range(CLIENTS)]

    def client(i):
        resp = post(reps[i % 3], [
            {"name": "web_vitals_lcp", "type": "histogram", "value": lcps[i], "tags": {"page": pages[i]},
             "profileId": f"client-{i}"},
            {"name": "page_views", "type": "counter", "value": 1, "tags": {"page": pages[i]},
             "profileId": f"client-{i}"}])
        assert resp.status_code == 200 and resp.json()["accepted"] == 2, resp.text
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(client, range(CLIENTS)))

    # Each metric has its own series key and so its own partition: the LCP observation and the page
    # view of one request may be consumed (and scraped) at different moments, so wait for both.
    wait_until(lambda: prometheus.scalar(f"sum({LCP}_count)") == CLIENTS
               and prometheus.scalar(f"sum({VIEWS})") == CLIENTS, timeout=30, interval=0.2,
               what="1,000 observations and 1,000 page views summed over the replicas")
    assert prometheus.scalar(f"count(count by (instance) ({LCP}_count))") == 3, "spread over three replicas"
    # Every bucket exactly as the inputs: cumulative counts per le, summed over replicas and pages.
    exposed = {}
    for s in prometheus.query(f"sum by (le) ({LCP}_bucket)"):
        le = s["metric"]["le"]
        exposed[math.inf if le == "+Inf" else float(le)] = float(s["value"][1])
    assert math.inf in exposed and len(exposed) >= 2, exposed
    for le, count in exposed.items():
        assert count == sum(1 for v in lcps if v <= le), f"le={le}: {count}"
    assert math.isclose(prometheus.scalar(f"sum({LCP}_sum)"), sum(lcps), rel_tol=1e-9)
    buckets = sorted(exposed.items())
    for q in (0.5, 0.75, 0.9):
        got = prometheus.scalar(f"histogram_quantile({q}, sum by (le) ({LCP}_bucket))")
        assert math.isclose(got, bucket_quantile(q, buckets), rel_tol=1e-9), (q, got)
    # Over a window, as dashboards ask: rate() extrapolates each series from its own first and
    # last samples, so the interpolation within the bucket may differ, never the bucket.
    p75 = prometheus.scalar(f"histogram_quantile(0.75, sum by (le) (rate({LCP}_bucket[1m])))")
    exact_p75 = bucket_quantile(0.75, buckets)
    upper = min(le for le, _ in buckets if le >= exact_p75)
    lower = max([le for le, _ in buckets if le < exact_p75], default=0.0)
    assert lower <= p75 <= upper, (p75, exact_p75, lower, upper)
    record_figure("aggregates_lcp_p75_ms", round(p75, 1))
    assert prometheus.scalar(f"sum({VIEWS})") == CLIENTS
    assert prometheus.scalar(f"sum(rate({VIEWS}[1m]))") > 0

    # The replica owning the partition of page_views{page="/p0"}.
    owner = prometheus.query(f'{VIEWS}{{page="/p0"}}')
    assert len(owner) == 1, owner
    victim = next(r for r in reps if f"127.0.0.1:{r.port}" == owner[0]["metric"]["instance"])
    survivors = [r for r in reps if r is not victim]
    # Let a snapshot be taken, then keep counting through the kill on the survivors.
    time.sleep(2)
    posted = {p: pages.count(p) for p in PAGES}
    lock, stop, errors, refused = threading.Lock(), threading.Event(), [], []

    def load():
        k = 0
        while not stop.is_set():
            page = PAGES[k % len(PAGES)]
            try:
                resp = post(survivors[k % 2], [{"name": "page_views", "type": "counter", "value": 1,
                                                "tags": {"page": page}, "profileId": f"load-{k}"}])
            except requests.RequestException as e:
                errors.append(str(e))
                continue
            if resp.status_code == 200:
                with lock:
                    posted[page] += 1
            elif resp.status_code == 503 and resp.headers.get("Retry-After"):
                refused.append((page, resp.text[:200]))
            else:
                errors.append(f"{resp.status_code} {resp.text[:200]}")
            k += 1
            time.sleep(0.02)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    time.sleep(1)
    killed_at = time.time()
    victim.kill()
    # A survivor takes the partition over and exposes the counter again, restored.
    wait_until(lambda: any(s["metric"]["instance"] != owner[0]["metric"]["instance"]
                           for s in prometheus.query(f'{VIEWS}{{page="/p0"}}')),
               timeout=45, interval=0.2, what="a survivor exposing page_views{page=/p0}")
    back_after = time.time() - killed_at
    time.sleep(3)
    stop.set()
    thread.join(timeout=30)
    assert not errors, errors[:5]
    def off():
        seen = {p: prometheus.scalar(f'sum({VIEWS}{{page="{p}"}})') for p in PAGES}
        return {p: (seen[p], posted[p]) for p in PAGES if seen[p] != posted[p]}
    try:
        wait_until(lambda: not off(), timeout=30, interval=0.2, what="every page's views exactly as posted")
    except AssertionError:
        raise AssertionError(f"(exposed, posted) per page: {off()}; refused: {refused}")
    record_figure("aggregates_counter_back_after_sigkill_seconds", round(back_after, 1))

    # What Prometheus stored, every second from before the kill: the counter summed over the
    # instances never goes down (samples missing during the takeover are a gap, not a decrease).
    end = time.time()
    r = requests.get(f"http://127.0.0.1:{prometheus.port}/api/v1/query_range",
                     params={"query": f'sum({VIEWS}{{page="/p0"}})', "start": killed_at - 5, "end": end,
                             "step": "1s"}, timeout=10).json()
    assert r["status"] == "success", r
    values = [float(v) for _, v in r["data"]["result"][0]["values"]]
    assert values == sorted(values), f"the counter decreased: {values}"
    assert values and values[-1] <= posted["/p0"], (values[-1:], posted["/p0"])  # never above
    assert prometheus.scalar(f'sum(resets({VIEWS}{{page="/p0"}}[5m]))') == 0
