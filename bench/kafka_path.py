#!/usr/bin/env python3
"""R1 and R7 alone, for working on the Kafka path: each repetition runs every service variant
given (a binary and environment settings) and the two raw-producer baselines, in the same
session and on the same stack, then prints medians and per-repetition paired ratios.

    bench/kafka_path.py --build-dir build/release --env-file .stack/env \
        --variant new=build/release/metrics-collection-api \
        --variant old=/tmp/mca-old [--variant x=BIN,KAFKA_LINGER_MS=1] --reps 3 --duration 5

As in bench/run.py (whose pieces it uses): the service with HTTP_THREADS=1 on CPU 1 and the
generator on CPU 0 (taskset), a fresh topic and consumer group per service start, R1 = 100
metrics per POST over 8 connections (closed loop), then, once the service's consumer has caught
up, R7 = one metric per POST over 8 connections; R1.base = `kafka_baseline produce` (8 batches
of 100 in flight), R7.base = `kafka_baseline latency` (one record at a time, linger.ms 0). The
order of the variants and the baselines rotates between repetitions.

Per service run it also reads every thread's CPU time (/proc/PID/task/*/stat) around R1 and
prints it grouped by thread name, with librdkafka's threads told apart by the handle that
created them (the producer's are started first, then the consumer's and the changelog
clients'; see the per-thread listing with --threads).

With --ceiling each repetition also measures what R1's work costs at its minimum, per metric, on
the same pinned core: the raw producer's whole process (R1.base), a raw librdkafka consumer
reading those same records back (`kafka_baseline consume --impl raw`, the topic R1.base just
wrote) and the Beast baseline server receiving the same 100-metric POSTs over 8 connections
(HTTP alone, answering 200). The service must do all three on one core (it consumes its own
records into its store), the raw producer only the first, so no implementation can beat
raw_producer / (raw_producer + raw_consumer + beast) of the raw producer's CPU per metric. In
metrics/s the bound is that divided by the raw producer's cpu_share (the share of its core it
used): the raw producer leaves 1 − cpu_share of its core idle, a service at the minimum cost
would use all of it. Only meaningful when the broker is not the raw producer's limit (a quiet
machine: cpu_share 0.76–0.79 in the full runs).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aggregation_check  # noqa: E402
import run  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def thread_ticks(pid):
    """{tid: (name, utime+stime ticks, voluntary+involuntary switches)} of every thread."""
    out = {}
    base = f"/proc/{pid}/task"
    try:
        tids = os.listdir(base)
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"{base}/{tid}/stat") as f:
                stat = f.read()
            with open(f"{base}/{tid}/status") as f:
                status = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        switches = sum(int(line.split()[1]) for line in status.splitlines()
                       if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")))
        out[int(tid)] = (name, int(fields[11]) + int(fields[12]), switches)
    return out


def thread_delta(before, after):
    rows = []
    for tid, (name, ticks, sw) in sorted(after.items()):
        b = before.get(tid, (name, 0, 0))
        rows.append((tid, name, (ticks - b[1]) / TICK, sw - b[2]))
    return rows


def parse_variant(text):
    name, _, rest = text.partition("=")
    parts = rest.split(",")
    env = dict(p.split("=", 1) for p in parts[1:])
    return name, os.path.abspath(parts[0]), env


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", required=True, help="holds bench/loadgen and bench/kafka_baseline")
    ap.add_argument("--env-file", required=True, help="the stack's env file (scripts/stack up)")
    ap.add_argument("--variant", action="append", required=True,
                    help="NAME=BINARY[,KEY=VALUE...]: a service build and settings to measure")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--warmup", type=float, default=1)
    ap.add_argument("--threads", action="store_true", help="print every thread's CPU over R1")
    ap.add_argument("--ceiling", action="store_true",
                    help="also measure R1's ceiling: raw consumer and Beast server per metric")
    ap.add_argument("--json", help="write every measurement here")
    ap.add_argument("--nice", type=int, default=0,
                    help="run the service, the generator and the baselines at this nice value, their "
                         "sessions' autogroups too "
                         "(e.g. -15 on a machine busy with other work; needs the privilege)")
    a = ap.parse_args(argv)

    env = run.read_env_file(a.env_file)
    variants = [parse_variant(v) for v in a.variant]
    cfg = subprocess.run([variants[0][1], "--print-config"], capture_output=True, text=True,
                         env=run.Bench.service_env()).stdout
    cfg = dict(line.partition("=")[::2] for line in cfg.splitlines() if "=" in line)
    k = {"compression": cfg.get("KAFKA_COMPRESSION") or "zstd",
         "linger": cfg.get("KAFKA_LINGER_MS") or "0",
         "brokers": env["KAFKA_BOOTSTRAP_SERVERS"], "registry": env["SCHEMA_REGISTRY_URL"]}

    procs = run.Processes()
    work = tempfile.mkdtemp(prefix="mca-kafka-path.")
    bench = run.Bench(argparse.Namespace(mode="full", build_dir=a.build_dir), work, procs)
    bench.m = dict(bench.m, dur=a.duration, warm=a.warmup)
    if a.nice:
        bench.on_gen = [*run.niced(a.nice), *bench.on_gen]
        bench.on_srv = [*run.niced(a.nice), *bench.on_srv]
    run_id = f"{int(time.time())}-{os.getpid()}"
    rows = []

    def pick(scenario, rep):
        for r in rows:
            if r["scenario"] == scenario and r["rep"] == rep:
                return r
        return None

    def service_run(rep, name, binary, settings):
        bench.service = binary
        topic = f"kpath-{run_id}-{name}-{rep}"
        p, port = bench.start_service(name, KAFKA_BOOTSTRAP_SERVERS=k["brokers"],
                                      SCHEMA_REGISTRY_URL=k["registry"], KAFKA_TOPIC=topic,
                                      KAFKA_CONSUMER_GROUP=topic, **settings)
        if not p:
            return
        t0 = thread_ticks(p.pid)
        before = len(bench.results)
        r1 = bench.run_ingest(f"R1:{name}", rep, port, p, "--connections", run.CONNS, "--batch", 100)
        t1 = thread_ticks(p.pid)
        if r1:
            r1 = bench.results[-1]  # the recorded copy
            r1["threads"] = thread_delta(t0, t1)
            ok = r1["metrics_per_s"] * a.duration
            r1["cpu_us_per_metric"] = r1["server_cpu_s"] / ok * 1e6 if ok else None
            r1["switches_per_request"] = (sum(t[3] for t in r1["threads"]) / r1["requests"]
                                          if r1["requests"] else None)
        bench.wait_consumer_idle(port)
        t0 = thread_ticks(p.pid)
        r7 = bench.run_ingest(f"R7:{name}", rep, port, p, "--connections", run.CONNS, "--batch", 1)
        t1 = thread_ticks(p.pid)
        if r7:
            r7 = bench.results[-1]
            r7["threads"] = thread_delta(t0, t1)
            r7["cpu_us_per_request"] = (r7["server_cpu_s"] / r7["requests"] * 1e6
                                        if r7["requests"] else None)
            r7["switches_per_request"] = (sum(t[3] for t in r7["threads"]) / r7["requests"]
                                          if r7["requests"] else None)
        procs.stop(p)
        rows.extend(bench.results[before:])

    def baselines(rep):
        topic = ["--brokers", k["brokers"], "--topic", f"kpath-{run_id}-raw-{rep}"]
        window = ["--duration", a.duration, "--warmup", a.warmup]
        out = bench.tool(bench.on_srv, "kafka_baseline", "produce", *topic, "--compression",
                         k["compression"], "--linger", k["linger"], "--batch", 100, "--inflight",
                         run.CONNS, *window)
        if out:
            out["cpu_us_per_metric"] = out["cpu_s"] / (out["records_per_s"] * a.duration) * 1e6
            rows.append(dict(out, scenario="R1.base", rep=rep))
        out = bench.tool(bench.on_srv, "kafka_baseline", "latency", *topic, "--compression",
                         k["compression"], *window)
        if out:
            rows.append(dict(out, scenario="R7.base", rep=rep))
        if a.ceiling:
            ceiling(rep, topic)

    def ceiling(rep, topic):
        # Everything R1.base wrote to its topic (the warm-up too) is at least what its window
        # counted; the consumer reads that many from the beginning, after the fact, in large
        # fetches: the least a consumer can spend per record.
        base = pick("R1.base", rep)
        if base:
            n = int(base["records_per_s"] * a.duration)
            out = bench.tool(bench.on_srv, "kafka_baseline", "consume", *topic, "--expect", n,
                             "--impl", "raw")
            if out and out["records"]:
                out["cpu_us_per_metric"] = out["cpu_s"] / out["records"] * 1e6
                rows.append(dict(out, scenario="C.consume", rep=rep))
        p, port = bench.start_baseline_server()
        if p:
            out = bench.run_ingest("C.beast", rep, port, p, "--connections", run.CONNS, "--batch",
                                   100)
            procs.stop(p)
            if out and out["metrics_per_s"]:
                out = bench.results[-1]  # the recorded copy
                out["cpu_us_per_metric"] = (out["server_cpu_s"] / (out["metrics_per_s"] * a.duration)
                                            * 1e6)
                rows.append(out)

    try:
        for rep in range(1, a.reps + 1):
            steps = [lambda v=v: service_run(rep, *v) for v in variants] + [lambda: baselines(rep)]
            shift = (rep - 1) % len(steps)
            run.say(f"repetition {rep}/{a.reps}: load {os.getloadavg()[0]:.1f}")
            for s in steps[shift:] + steps[:shift]:
                s()
    finally:
        procs.stop_all()
        bench.loadgen_err.close()

    print(f"load average now {os.getloadavg()}; {a.reps} repetitions of {a.duration} s")
    print("| variant | R1 metrics/s | R1 ratio | CPU µs/metric | switches/req | R7 p50 ms | "
          "R7 p99 ms | R7 p50 − raw p50 ms | R7 CPU µs/req |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, _, _ in variants:
        ratio, diff, tput, cpu, sw, p50, p99, cpu7 = [], [], [], [], [], [], [], []
        for rep in range(1, a.reps + 1):
            r1, b1 = pick(f"R1:{name}", rep), pick("R1.base", rep)
            r7, b7 = pick(f"R7:{name}", rep), pick("R7.base", rep)
            if r1:
                tput.append(r1["metrics_per_s"])
                cpu.append(r1["cpu_us_per_metric"])
                sw.append(r1["switches_per_request"])
                if b1:
                    ratio.append(r1["metrics_per_s"] / b1["records_per_s"])
            if r7:
                p50.append(r7["latency_us"]["p50"] / 1000)
                p99.append(r7["latency_us"]["p99"] / 1000)
                cpu7.append(r7["cpu_us_per_request"])
                if b7:
                    diff.append((r7["latency_us"]["p50"] - b7["latency_us"]["p50"]) / 1000)

        def f(xs, d=3):
            m = median(xs)
            if m is None:
                return "–"
            return f"{m:,.{d}f} [{min(xs):,.{d}f}–{max(xs):,.{d}f}]"

        print(f"| {name} | {f(tput, 0)} | {f(ratio)} | {f(cpu, 2)} | {f(sw, 2)} | {f(p50)} | "
              f"{f(p99)} | {f(diff)} | {f(cpu7, 1)} |")
    b1 = [pick("R1.base", r) for r in range(1, a.reps + 1)]
    b7 = [pick("R7.base", r) for r in range(1, a.reps + 1)]
    print(f"| raw producer | {f_list([b['records_per_s'] for b in b1 if b], 0)} | 1 | "
          f"{f_list([b['cpu_us_per_metric'] for b in b1 if b], 2)} | | "
          f"{f_list([b['latency_us']['p50'] / 1000 for b in b7 if b], 3)} | "
          f"{f_list([b['latency_us']['p99'] / 1000 for b in b7 if b], 3)} | 0 | |")
    if a.ceiling:
        print_ceiling(a, variants, pick)
    if a.threads:
        for r in rows:
            if "threads" in r:
                print(f"\n{r['scenario']} rep {r['rep']}: service CPU {r['server_cpu_s']:.2f} s")
                for tid, name, cpu_s, sw in r["threads"]:
                    if cpu_s > 0 or sw > 0:
                        print(f"  {tid:>8} {name:<16} {cpu_s:6.2f} s {sw:>8} switches")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


def print_ceiling(a, variants, pick):
    """R1's ceiling per repetition: the raw producer's CPU per metric over the sum of the three
    pieces of work the service does on its core, next to each variant's measured ratio."""
    reps = range(1, a.reps + 1)
    cols = {"raw producer": "R1.base", "raw consumer": "C.consume", "Beast, 100/POST": "C.beast"}
    per = {c: [pick(s, r) for r in reps] for c, s in cols.items()}
    print("\nR1's ceiling: CPU µs per metric on the pinned core (median [min–max])")
    print("| piece | µs per metric | notes |")
    print("|---|---|---|")
    for c, rs in per.items():
        vals = [x["cpu_us_per_metric"] for x in rs if x]
        note = ""
        if c == "raw producer":
            note = f"cpu_share {f_list([x['cpu_share'] for x in rs if x], 2)}"
        if c == "Beast, 100/POST":
            note = f"{f_list([x['metrics_per_s'] for x in rs if x], 0)} metrics/s"
        print(f"| {c} | {f_list(vals, 3)} | {note} |")
    ceilings, rates = [], []
    for i, r in enumerate(reps):
        parts = [per[c][i] for c in cols]
        if all(parts):
            p, c, b = (x["cpu_us_per_metric"] for x in parts)
            ceilings.append(p / (p + c + b))
            rates.append(ceilings[-1] / parts[0]["cpu_share"])
    print(f"| CPU ceiling = producer / (producer + consumer + Beast) | {f_list(ceilings, 3)} | |")
    print(f"| metrics/s ceiling = CPU ceiling / producer's cpu_share | {f_list(rates, 3)} | |")
    for name, _, _ in variants:
        got = []
        for r in reps:
            r1, b1 = pick(f"R1:{name}", r), pick("R1.base", r)
            if r1 and b1 and r1["cpu_us_per_metric"]:
                got.append(b1["cpu_us_per_metric"] / r1["cpu_us_per_metric"])
        print(f"| {name}: raw producer CPU / service CPU per metric | {f_list(got, 3)} | |")


def f_list(xs, d):
    m = median(xs)
    if m is None:
        return "–"
    return f"{m:,.{d}f} [{min(xs):,.{d}f}–{max(xs):,.{d}f}]"


if __name__ == "__main__":
    raise SystemExit(main())
