#!/usr/bin/env python3
"""R8's clock and check: waits until an exposition holds every observation a `loadgen --workload
aggregate` run delivered, then prints one JSON object with the throughput and what was found.

    aggregation_check.py --url URL --histogram NAME --counter NAME --sent LOADGEN_JSON
                         [--pid PID --rss-start KIB --cpu-start TICKS] [--quiet 0.3]
                         [--every 5] [--stall 10] [--timeout 300]

The aggregation is complete when the histogram's `_count` summed over its series equals the
observations delivered and the counter summed over its series equals the increments' total.
Every item the generator meant to send must have been delivered, or the run is not complete.
Throughput = items delivered (observations + increments) / (the moment the server finished that
work - the generator's start).

Scraping while the server still works would take its core from the work being timed (a scrape of
statsd_exporter holding 10,000 histograms takes about a second), so with --pid the server is
watched through its CPU time instead (/proc/PID/stat, every 50 ms): once it has used no CPU for
--quiet seconds it has nothing left to do, and only then is it scraped. If the scrape shows
everything, the work ended at the last sample where its CPU time still grew; if not (a flush
timer still pending, a retry), the watch goes on. A server that is never quiet is scraped every
--every seconds all the same. Without --pid it scrapes every max(20 ms, 2 x the last scrape's
duration) and the time is that of the first complete scrape.

When the server has been idle (without --pid: its totals unchanged) for --stall seconds short of
what was sent, the run is reported with what arrived (`lost_observations`, `lost_increments`:
the counter total missing, `complete: false`) and the time of the last change. The check then
compares `_sum` and every cumulative `le` bucket (summed over the series) with what was sent,
counts the series, notes a Go server's heap (go_memstats_heap_alloc_bytes at the complete
scrape: live data plus garbage not yet collected), and with --pid reads the server's RSS (VmRSS,
also per series over --rss-start) and its CPU time from --cpu-start to the end of the work (per
million items).
"""
import argparse
import json
import math
import os
import re
import sys
import time
import urllib.request

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
LE = re.compile(r'(?:^|,)le="([^"]*)"')


def scrape(url):
    with urllib.request.urlopen(url, timeout=60) as r:
        return r.read().decode()


def parse(text, histogram, counter):
    """Totals of the two families: count, sum, per-le cumulative buckets (keys as floats), the
    counter's total and the number of series of each."""
    out = {"count": 0.0, "sum": 0.0, "buckets": {}, "counter": 0.0, "histogram_series": 0,
           "counter_series": 0, "samples": 0}
    names = {histogram + "_count", histogram + "_sum", histogram + "_bucket", counter,
             "go_memstats_heap_alloc_bytes"}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        m = SAMPLE.match(line)
        if not m or m.group(1) not in names:
            continue
        name, labels, value = m.group(1), m.group(3) or "", float(m.group(4))
        if name == "go_memstats_heap_alloc_bytes":  # a Go server's heap (statsd_exporter's)
            out["go_heap_alloc_bytes"] = value
            continue
        out["samples"] += 1
        if name == counter:
            out["counter"] += value
            out["counter_series"] += 1
        elif name.endswith("_count"):
            out["count"] += value
            out["histogram_series"] += 1
        elif name.endswith("_sum"):
            out["sum"] += value
        else:
            le = LE.search(labels)
            if le:
                key = float(le.group(1))
                out["buckets"][key] = out["buckets"].get(key, 0.0) + value
    return out


def cpu_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--histogram", required=True, help="the histogram family (without _count)")
    ap.add_argument("--counter", required=True, help="the counter's sample name")
    ap.add_argument("--sent", required=True, help="loadgen's JSON output")
    ap.add_argument("--pid", type=int)
    ap.add_argument("--rss-start", type=int, help="VmRSS in KiB before the run")
    ap.add_argument("--cpu-start", type=int, help="the server's CPU ticks before the run")
    ap.add_argument("--stall", type=float, default=10.0)
    ap.add_argument("--quiet", type=float, default=0.3)
    ap.add_argument("--every", type=float, default=5.0)
    ap.add_argument("--timeout", type=float, default=300.0)
    a = ap.parse_args()

    sent = json.loads(a.sent)
    want_count, want_counter = sent["observations"], sent["counter_total"]
    start = sent["start_unix_s"]
    begin = time.time()
    polls, seen, scrape_s = 0, None, 0.0
    last_change_at, last_key = begin, None
    done_at = None
    ticks = cpu_ticks(a.pid) if a.pid else None
    last_busy, scraped_since_busy = begin, False
    ticks_done = ticks
    last_scrape = begin
    while True:
        now = time.time()
        if ticks is not None:
            t = cpu_ticks(a.pid)
            if t is None:
                print("aggregation_check: the server exited", file=sys.stderr)
                break
            if t != ticks:
                ticks, last_busy, scraped_since_busy = t, now, False
            # A server that never goes quiet (background work) is scraped every --every s anyway.
            due = ((not scraped_since_busy and now - last_busy >= a.quiet)
                   or now - last_scrape >= a.every)
        else:
            due = True
        if due:
            t0 = time.time()
            try:
                text = scrape(a.url)
            except OSError as e:
                print(f"aggregation_check: scrape failed: {e}", file=sys.stderr)
                text = None
            t1 = time.time()
            last_scrape = t1
            polls += 1
            scrape_s = t1 - t0
            scraped_since_busy = True
            if text is not None:
                seen = parse(text, a.histogram, a.counter)
                key = (seen["count"], seen["counter"])
                if key != last_key:
                    last_key, last_change_at = key, (last_busy if ticks is not None else t0)
                if seen["count"] >= want_count and seen["counter"] >= want_counter:
                    done_at = last_busy if ticks is not None else t0
                    ticks_done = ticks
                    break
            if ticks is not None:
                ticks = cpu_ticks(a.pid)  # the scrape's own CPU is not work
        now = time.time()
        if now - begin > a.timeout:
            break
        # Stalled: idle (or, without --pid, unchanged) for --stall seconds short of the totals.
        if (now - last_busy if ticks is not None else now - last_change_at) > a.stall:
            break
        time.sleep(0.05 if ticks is not None else max(0.02, 2 * scrape_s))

    if seen is None:
        try:
            seen = parse(scrape(a.url), a.histogram, a.counter)
        except OSError:
            pass
    # Everything the generator meant to send must have been delivered (a request answered 4xx
    # delivers nothing, and a check of nothing would pass).
    refused = sent.get("requested_items", sent["items"]) - sent["items"]
    complete = done_at is not None and refused == 0
    end = done_at if complete else last_change_at
    elapsed = max(end - start, 1e-9)
    seen = seen or parse("", a.histogram, a.counter)
    want_buckets = {float(k): v for k, v in sent.get("buckets", {}).items()}
    res = {
        "complete": complete,
        "elapsed_s": round(elapsed, 4),
        "items_per_s": sent["items"] / elapsed if complete else
        (seen["count"] + sent["increments"] * (seen["counter"] / want_counter if want_counter else 0)) / elapsed,
        "send_elapsed_s": sent["elapsed_s"],
        "items": sent["items"],
        "refused_items": refused,
        "observations": want_count,
        "counter_total": want_counter,
        "seen_count": seen["count"],
        "seen_counter": seen["counter"],
        "lost_observations": want_count - seen["count"],
        "lost_increments": want_counter - seen["counter"],
        "sum_matches": math.isclose(seen["sum"], sent["observation_sum"], rel_tol=1e-12, abs_tol=1e-6),
        "buckets_match": bool(want_buckets) and seen["buckets"] == want_buckets,
        "histogram_series": seen["histogram_series"],
        "counter_series": seen["counter_series"],
        "sample_lines": seen["samples"],
        "go_heap_alloc_bytes": seen.get("go_heap_alloc_bytes"),
        "polls": polls,
        "last_scrape_ms": round(scrape_s * 1000, 2),
        "retries": sent.get("retries", 0),
        "rejected_items": sent.get("rejected_items", 0),
        "io_errors": sent.get("io_errors", 0),
        "generator_cpu_s": sent.get("cpu_s"),
    }
    if not res["buckets_match"] and want_buckets:
        res["buckets_seen"] = {repr(k): v for k, v in sorted(seen["buckets"].items())}
    if a.pid and a.cpu_start is not None and ticks_done is not None:
        # The server's CPU for the whole run up to the end of the work (not the check's scrape).
        res["server_cpu_s"] = (ticks_done - a.cpu_start) / os.sysconf("SC_CLK_TCK")
        res["server_cpu_s_per_million"] = res["server_cpu_s"] / max(sent["items"], 1) * 1e6
    if a.pid:
        rss = rss_kib(a.pid)
        res["rss_kib"] = rss
        if rss is not None and a.rss_start is not None:
            res["rss_start_kib"] = a.rss_start
            n = seen["histogram_series"] + seen["counter_series"]
            res["rss_per_series_bytes"] = (rss - a.rss_start) * 1024 / max(n, 1)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
