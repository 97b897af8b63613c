#!/usr/bin/env python3
"""Turns the measurements of one scripts/bench run into the results table.

Input: one JSON object per line, each tagged with "scenario" and "rep" (or "skipped"), and the
Google Benchmark JSON of bench_micro. Output: the table on stdout, and the same as JSON and
Markdown. Ratios are taken per repetition (ours and its baseline ran back to back) and the median
of those is the result; min/max show the spread.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def by_scenario(rows):
    out = {}
    for r in rows:
        out.setdefault(r["scenario"], []).append(r)
    return out


def get(d, path):
    for p in path.split("."):
        d = d[p]
    return d


def spread(values):
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def series_of(runs, path):
    return [get(r, path) for r in runs if "skipped" not in r]


def paired(ours, base, f):
    """f(ours_run, base_run) for each repetition both have."""
    b = {r["rep"]: r for r in base if "skipped" not in r}
    return [f(o, b[o["rep"]]) for o in ours if "skipped" not in o and o["rep"] in b]


def fmt(x, unit=""):
    if x is None:
        return "—"
    if abs(x) >= 100:
        s = f"{x:,.0f}"
    elif abs(x) >= 10:
        s = f"{x:.1f}"
    else:
        s = f"{x:.3g}"
    return s + unit


def fmt_spread(s, unit="", scale=1.0):
    if s is None:
        return "—"
    if s["n"] == 1:
        return fmt(s["median"] * scale, unit)
    return f"{fmt(s['median'] * scale, unit)} [{fmt(s['min'] * scale)}–{fmt(s['max'] * scale)}]"


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=False).stdout.strip()
    except OSError:
        commit = ""
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "load_1m_at_end": load, "commit": commit}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--micro")
    ap.add_argument("--pinning", default="")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--duration", type=float, default=0)
    ap.add_argument("--connections", type=int, default=0)
    ap.add_argument("--json", required=True)
    ap.add_argument("--markdown", required=True)
    a = ap.parse_args(argv)

    rows = load(a.results)
    sc = by_scenario(rows)
    skipped = {r["scenario"]: r["skipped"] for r in rows if "skipped" in r}
    judge = a.mode != "smoke"
    table = []  # dicts: id, scenario, ours, base, ratio, goal, met

    def verdict(ok):
        if not judge:
            return "not judged (smoke)"
        return "met" if ok else "MISSED"

    def throughput_row(rid, title, ours_key, base_key, ours_path, base_path, unit, goal, goal_text):
        if ours_key in skipped or base_key in skipped:
            table.append({"id": rid, "scenario": title,
                          "skipped": skipped.get(ours_key) or skipped.get(base_key)})
            return
        ours, base = sc.get(ours_key, []), sc.get(base_key, [])
        ratios = paired(ours, base, lambda o, b: get(o, ours_path) / get(b, base_path)
                        if get(b, base_path) else 0.0)
        r = spread(ratios)
        table.append({"id": rid, "scenario": title, "unit": unit,
                      "ours": spread(series_of(ours, ours_path)),
                      "base": spread(series_of(base, base_path)), "ratio": r,
                      "goal": goal_text,
                      "met": verdict(r is not None and r["median"] >= goal) if r else "no data"})

    throughput_row("R1", "ingest, 100/batch, Kafka acks=all vs raw librdkafka producer", "R1",
                   "R1.base", "metrics_per_s", "records_per_s", "metrics/s", 0.85, "≥ 0.85")
    throughput_row("R2", "ingest, 1/request (embedded log) vs minimal Beast server", "R2",
                   "R2.base", "requests_per_s", "requests_per_s", "requests/s", 0.6, "≥ 0.6")

    def latency_rows(rid, title, ours_key, base_key, base_title, goal_q, goal_ms):
        """p50, p99 and p99.9 of ours against its baseline's, per repetition (title has a {} for
        the percentile); the goal is that ours at goal_q is at most goal_ms above the baseline's."""
        if ours_key in skipped or base_key in skipped:
            table.append({"id": rid, "scenario": title.format("").replace("  ", " "),
                          "skipped": skipped.get(ours_key) or skipped.get(base_key)})
            return
        ours, base = sc.get(ours_key, []), sc.get(base_key, [])
        for q, label in (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9")):
            d = spread(paired(ours, base, lambda o, b: (o["latency_us"][q] - b["latency_us"][q]) / 1000))
            row = {"id": rid, "scenario": f"{title.format(label)} vs {base_title}",
                   "unit": "ms", "ours": spread([v / 1000 for v in series_of(ours, f"latency_us.{q}")]),
                   "base": spread([v / 1000 for v in series_of(base, f"latency_us.{q}")]),
                   "diff_ms": d}
            if q == goal_q:
                row["goal"] = f"{label} ≤ raw {label} + {goal_ms:g} ms"
                row["met"] = verdict(d is not None and d["median"] <= goal_ms) if d else "no data"
            table.append(row)

    # R3: durable-ack latency at half the service's max throughput; goal on p99.
    latency_rows("R3", "durable-ack latency {} at 50 % load", "R3", "R3.base", "raw delivery", "p99", 1.0)

    throughput_row("R4", "consume into the store vs raw librdkafka consumer", "R4", "R4.base",
                   "records_per_s", "records_per_s", "records/s", 0.5, "≥ 0.5")

    # R5: render time (lower is better: ratio = ours / prometheus-cpp), ns and RSS per series.
    for key in sorted((k for k in sc if k.startswith("R5.") and not k.endswith(".base")),
                      key=lambda k: int(k.split(".")[1])):
        n = int(key.split(".")[1])
        ours, base = sc[key], sc.get(key + ".base", [])
        r = spread(paired(ours, base, lambda o, b: o["render_ms"]["median"] / b["render_ms"]["median"]))
        ns = spread(series_of(ours, "ns_per_series"))
        rss = spread(series_of(ours, "rss_per_series_bytes"))
        ok = (r is not None and r["median"] <= 0.1 and ns["median"] <= 100 and rss["median"] <= 300)
        table.append({"id": "R5", "scenario": f"/prometheus-metrics render, {n:,} series vs prometheus-cpp",
                      "unit": "ms", "ours": spread(series_of(ours, "render_ms.median")),
                      "base": spread(series_of(base, "render_ms.median")), "ratio": r,
                      "ns_per_series": ns, "rss_per_series": rss,
                      "base_ns_per_series": spread(series_of(base, "ns_per_series")),
                      "base_rss_per_series": spread(series_of(base, "rss_per_series_bytes")),
                      "goal": "≤ 0.1×, ≤ 100 ns and ≤ 300 B per series",
                      "met": verdict(ok) if r else "no data"})

    if "R6.base" in skipped:
        table.append({"id": "R6", "scenario": "push the same series vs Pushgateway",
                      "skipped": skipped["R6.base"]})
    else:
        throughput_row("R6", "push series (embedded log) vs Prometheus Pushgateway", "E100",
                       "R6.base", "metrics_per_s", "metrics_per_s", "series/s", 10, "≥ 10")
        if "R1" in sc:
            throughput_row("R6k", "push series (Kafka acks=all) vs Prometheus Pushgateway", "R1",
                           "R6.base", "metrics_per_s", "metrics_per_s", "series/s", 10, "≥ 10")

    # R7: one metric per POST through Kafka, 8 connections, closed loop, against a raw producer
    # with linger.ms 0 sending one record at a time; goal on p50.
    latency_rows("R7", "one-metric POST latency {} (Kafka, 8 connections, closed loop)", "R7", "R7.base",
                 "raw producer, one record at a time (linger.ms 0)", "p50", 0.5)

    # R8: aggregation of the same observations against statsd_exporter. Throughput is judged; CPU
    # per million items and RSS are shown. A run of ours that did not aggregate everything it was
    # sent is a failure of the service, not a slow result: the run fails (also in --smoke).
    lost_ours = []
    if "R8" in skipped or "R8.base" in skipped:
        table.append({"id": "R8", "scenario": "aggregate counters and histograms vs statsd_exporter",
                      "skipped": skipped.get("R8") or skipped.get("R8.base")})
    elif "R8" in sc or "R8.base" in sc:
        ours, base = sc.get("R8", []), sc.get("R8.base", [])

        def exactness(runs):
            bad = [r for r in runs if not (r["complete"] and r["sum_matches"] and r["buckets_match"])]
            if not runs:
                return "no data"
            if not bad:
                return f"exact in {len(runs)} of {len(runs)}"
            lost = max(r["lost_observations"] for r in bad)
            lost_counter = max(r["lost_increments"] for r in bad)
            refused = max(r.get("refused_items", 0) for r in bad)
            return (f"NOT EXACT in {len(bad)} of {len(runs)} (up to {refused:,.0f} items refused, "
                    f"{lost:,.0f} observations and {lost_counter:,.0f} of the counter total missing; sum "
                    f"{'ok' if all(r['sum_matches'] for r in bad) else 'differs'}, buckets "
                    f"{'ok' if all(r['buckets_match'] for r in bad) else 'differ'})")

        lost_ours = [r for r in ours if not (r["complete"] and r["sum_matches"] and r["buckets_match"])]
        throughput_row("R8", "aggregate counters and histograms (embedded log) vs statsd_exporter",
                       "R8", "R8.base", "items_per_s", "items_per_s", "observations/s", 1.0, "≥ 1")
        row = table[-1]
        row["exact"], row["base_exact"] = exactness(ours), exactness(base)
        if lost_ours and judge:
            row["met"] = "MISSED (not exact)"
        elif lost_ours:
            row["met"] = "not exact"
        # A smoke run is too short for a CPU tick: no ratio then rather than 0×.
        cpu = spread([r for r in paired(ours, base, lambda o, b: o["server_cpu_s_per_million"]
                                        / b["server_cpu_s_per_million"]
                                        if b.get("server_cpu_s_per_million") else None)
                      if r is not None])
        # On a busy machine the wall-clock ratio also depends on how much of its core each server
        # got; CPU time per observation does not, so the same goal is judged on it too.
        table.append({"id": "R8", "scenario": "server CPU per million observations vs statsd_exporter",
                      "unit": "s", "ours": spread(series_of(ours, "server_cpu_s_per_million")),
                      "base": spread(series_of(base, "server_cpu_s_per_million")), "ratio": cpu,
                      "goal": "≤ 1", "met": verdict(cpu is not None and cpu["median"] <= 1.0)
                      if cpu else ("not judged (smoke)" if not judge else "no data")})
        rss = spread([r for r in paired(ours, base, lambda o, b: o["rss_kib"] / b["rss_kib"]
                                        if b.get("rss_kib") else None) if r is not None])
        n = [r["histogram_series"] + r["counter_series"] for r in ours + base]
        table.append({"id": "R8", "scenario": f"RSS after the run, {max(n) if n else 0:,} series "
                      "(half histograms, half counters) vs statsd_exporter", "unit": "MiB",
                      "ours": spread([v / 1024 for v in series_of(ours, "rss_kib")]),
                      "base": spread([v / 1024 for v in series_of(base, "rss_kib")]), "ratio": rss,
                      "per_series": spread(series_of(ours, "rss_per_series_bytes")),
                      "base_per_series": spread(series_of(base, "rss_per_series_bytes")),
                      "base_go_heap": spread([r["go_heap_alloc_bytes"] / 1048576 for r in base
                                              if r.get("go_heap_alloc_bytes")])})

    # Cost figures.
    extras = []
    for key, title in (("E100", "embedded log, 100/batch"), ("R1", "Kafka, 100/batch"),
                       ("R2", "embedded log, 1/request")):
        runs = [r for r in sc.get(key, []) if "skipped" not in r and r.get("metrics_per_s")]
        if runs:
            cpm = spread([r["server_cpu_s"] / (r["metrics_per_s"] * r["elapsed_s"]) * 1e6 for r in runs])
            extras.append({"what": f"service CPU s per million metrics ({title})", "value": cpm})
    gen = {}
    for key in ("R1", "R2", "R2.base", "E100", "R3", "R6.base"):
        runs = [r for r in sc.get(key, []) if "skipped" not in r and "cpu_share" in r]
        if runs:
            gen[key] = spread([r["cpu_share"] for r in runs])
    for r in sc.get("RSS", []):
        if "skipped" not in r:
            short = (f" of {r['sent']:,} sent: the rest were refused"
                     if r.get("sent", r["series"]) > r["series"] else "")
            extras.append({"what": f"service RSS holding {r['series']:,} series{short} (embedded log)",
                           "value": {"median": r["rss_kib"] / 1024, "min": r["rss_kib"] / 1024,
                                     "max": r["rss_kib"] / 1024, "n": 1}, "unit": "MiB",
                           "per_series_bytes": (r["rss_kib"] - r["rss_start_kib"]) * 1024 / max(r["series"], 1)})

    micro = []
    if a.micro and os.path.exists(a.micro) and os.path.getsize(a.micro) > 0:
        try:
            with open(a.micro) as f:
                m = json.load(f)
            for b in m.get("benchmarks", []):
                # CPU time: on a shared machine wall time includes time spent descheduled.
                micro.append({"name": b["name"], "time": b["cpu_time"], "unit": b["time_unit"],
                              "items_per_second": b.get("items_per_second")})
        except (json.JSONDecodeError, KeyError):
            pass

    meta = {"mode": a.mode, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "repetitions": a.reps, "duration_s": a.duration, "connections": a.connections,
            "pinning": a.pinning, "machine": machine()}
    doc = {"meta": meta, "table": table, "cost": extras, "generator_cpu_share": gen,
           "micro": micro, "raw": rows}
    with open(a.json, "w") as f:
        json.dump(doc, f, indent=1)

    md = []
    md.append(f"Run: {meta['date']}, mode `{a.mode}`, {a.reps} repetition(s) of {a.duration:g} s, "
              f"{a.connections} connections, {a.pinning}; {meta['machine']['cpu']}, "
              f"{meta['machine']['cores']} cores, commit {meta['machine']['commit']}. "
              "Medians [min–max] over repetitions; ratios are per repetition against the baseline "
              "measured right after it.")
    md.append("")
    md.append("| id | scenario | ours | baseline | ratio / difference | goal | result |")
    md.append("|---|---|---|---|---|---|---|")
    for t in table:
        if "skipped" in t:
            md.append(f"| {t['id']} | {t['scenario']} | skipped: {t['skipped']} | | | | skipped |")
            continue
        unit = t.get("unit", "")
        ours, base = fmt_spread(t["ours"]), fmt_spread(t["base"])
        if "diff_ms" in t:
            rd = ("+" if t["diff_ms"] and t["diff_ms"]["median"] >= 0 else "") + fmt_spread(t["diff_ms"], " ms")
        else:
            rd = fmt_spread(t["ratio"], "×")
        extra = base_extra = ""
        if "exact" in t:
            extra, base_extra = f"; {t['exact']}", f"; {t['base_exact']}"
        if t.get("per_series"):
            extra = f"; {fmt(t['per_series']['median'])} B per series over the empty process"
            base_extra = (f"; {fmt(t['base_per_series']['median'])} B per series"
                          if t.get("base_per_series") else "")
            if t.get("base_go_heap"):
                base_extra += f"; Go heap {fmt(t['base_go_heap']['median'])} MiB"
        if "ns_per_series" in t:
            extra = (f"; {fmt(t['ns_per_series']['median'])} ns and {fmt(t['rss_per_series']['median'])} B "
                     f"per series (prometheus-cpp {fmt(t['base_ns_per_series']['median']) if t['base_ns_per_series'] else '—'} ns, "
                     f"{fmt(t['base_rss_per_series']['median']) if t['base_rss_per_series'] else '—'} B)")
        md.append(f"| {t['id']} | {t['scenario']} | {ours} {unit}{extra} | {base} {unit}{base_extra} | {rd} | "
                  f"{t.get('goal', '')} | {t.get('met', '')} |")
    md.append("")
    if extras:
        md.append("| cost | value |")
        md.append("|---|---|")
        for e in extras:
            v = fmt_spread(e["value"], " " + e.get("unit", "s"))
            if "per_series_bytes" in e:
                v += f" ({fmt(e['per_series_bytes'])} B per series over the empty service)"
            md.append(f"| {e['what']} | {v} |")
        md.append("")
    if gen:
        md.append("Generator CPU (share of one core over the measured window): " + ", ".join(
            f"{k} {fmt_spread(v)}" for k, v in gen.items()) + ".")
        md.append("")
    if micro:
        md.append("| micro-benchmark | CPU time | items/s |")
        md.append("|---|---|---|")
        for b in micro:
            ips = fmt(b["items_per_second"]) if b["items_per_second"] else ""
            md.append(f"| {b['name']} | {fmt(b['time'])} {b['unit']} | {ips} |")
        md.append("")
    text = "\n".join(md)
    with open(a.markdown, "w") as f:
        f.write(text)
    print(text)
    # A scenario that was neither measured nor skipped with a reason means the harness broke:
    # fail, so the smoke run in scripts/test catches it (timings themselves are never judged here).
    broken = [t["id"] for t in table if t.get("met") == "no data"]
    if broken:
        print(f"bench: no measurement for {', '.join(broken)}")
        return 1
    if lost_ours:
        print("bench: R8: the service did not aggregate exactly what it accepted")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
