#!/usr/bin/env python3
"""KAFKA_LINGER_MS study: the service on Kafka at several producer lingers.

For each linger and repetition the service is started fresh (HTTP_THREADS=1, pinned to CPU 1 on a
machine with two or more cores; the generator on CPU 0), and `loadgen` runs closed-loop against
it at every (connections, metrics per request) cell. Recorded per cell: metrics/s, requests/s,
p50/p99 latency of the generator, and the service's CPU seconds (user + system from
/proc/<pid>/stat) per million metrics acknowledged. Prints a Markdown table of the medians over
the repetitions (min–max in brackets) and, with --json, every raw measurement.

    scripts/stack up --dir .stack
    bench/linger_study.py --service build/release/metrics-collection-api \
        --loadgen build/release/bench/loadgen --env-file .stack/env \
        --lingers 0,0.5,1,2,5 --cells 8x1,8x100,256x1,256x100 --duration 3 --reps 2

Lingers and cells are interleaved per repetition (rep 1 of every linger, then rep 2), so a slow
moment of a shared machine spreads over all of them instead of one.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_env_file(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            k, v = line.split("=", 1)
            env[k.strip()] = v.strip().strip('"')
    return env


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15)


NICE = []  # ["nice", "-n", "-15"] with --nice -15


def pin(cpu):
    return NICE + (["taskset", "-c", str(cpu)] if (os.cpu_count() or 1) >= 2 else [])


def wait_ready(port, proc, deadline_s=60):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def run_cell(args, port, pid, conns, batch):
    t0 = cpu_ticks(pid)
    out = subprocess.run(
        pin(0)
        + [args.loadgen, "--port", str(port), "--connections", str(conns), "--batch", str(batch),
           "--duration", str(args.duration), "--warmup", str(args.warmup)],
        capture_output=True, text=True, timeout=args.duration + args.warmup + 180)
    t1 = cpu_ticks(pid)
    if not out.stdout.strip():
        raise RuntimeError(f"loadgen printed nothing: {out.stderr.strip()[-400:]}")
    d = json.loads(out.stdout)
    # The ticks include the warm-up; the metrics do not: scale by the measured share.
    d["server_cpu_s"] = (t1 - t0) / os.sysconf("SC_CLK_TCK") * (
        args.duration / (args.duration + args.warmup))
    ok = d["metrics_per_s"] * d["elapsed_s"]
    d["cpu_s_per_million"] = d["server_cpu_s"] / ok * 1e6 if ok else None
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--service", required=True)
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--env-file", required=True, help="the stack's env (scripts/stack up)")
    ap.add_argument("--lingers", default="0,0.5,1,2,5")
    ap.add_argument("--cells", default="8x1,8x100,256x1,256x100",
                    help="connections x metrics per request, comma-separated")
    ap.add_argument("--duration", type=float, default=3)
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--json", help="write every measurement here (JSON lines)")
    ap.add_argument("--nice", type=int,
                    help="run the service and the generator at this niceness (e.g. -15, needs "
                    "root): on a machine busy with other work they then get most of their core")
    ap.add_argument("--passthrough", action="store_true",
                    help="set linger.ms as KAFKA_PROPERTY_LINGER_MS (a binary whose "
                    "KAFKA_LINGER_MS takes whole milliseconds only)")
    args = ap.parse_args()

    if args.nice is not None:
        NICE[:] = ["nice", "-n", str(args.nice)]
    stack = read_env_file(args.env_file)
    lingers = args.lingers.split(",")
    cells = [tuple(int(x) for x in c.split("x")) for c in args.cells.split(",")]
    rows = []
    for rep in range(args.reps):
        for linger in lingers:
            port = free_port()
            env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
                   "HOST": "127.0.0.1", "PORT": str(port), "LOG_LEVEL": "warn",
                   "HTTP_THREADS": "1", "METRIC_TTL_SECONDS": "0",
                   "MAX_SERIES": "10000000", "MAX_SERIES_PER_APP": "10000000"}
            env.update({k: v for k, v in stack.items()
                        if k.startswith(("KAFKA_", "SCHEMA_REGISTRY_"))})
            env["KAFKA_PROPERTY_LINGER_MS" if args.passthrough else "KAFKA_LINGER_MS"] = linger
            # A fresh topic and group per start, as scripts/bench does: the in-process consumer
            # would otherwise replay every earlier run's records during the measurement.
            run = f"linger-{os.getpid()}-{time.time_ns() // 1_000_000}"
            env["KAFKA_TOPIC"] = run
            env["KAFKA_CONSUMER_GROUP"] = run
            env["KAFKA_CHANGELOG_TOPIC"] = run + "-aggregates"
            env["KAFKA_DLQ_TOPIC"] = run + "-dlq"
            proc = subprocess.Popen(pin(1) + [args.service], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True)
            try:
                if not wait_ready(port, proc):
                    raise RuntimeError(f"service (linger {linger}) did not become ready")
                for conns, batch in cells:
                    d = run_cell(args, port, proc.pid, conns, batch)
                    d.update(linger=linger, rep=rep)
                    rows.append(d)
                    print(f"linger {linger} rep {rep} {conns}x{batch}: "
                          f"{d['metrics_per_s']:.0f} metrics/s p50 {d['latency_us']['p50']:.0f} "
                          f"p99 {d['latency_us']['p99']:.0f} us, "
                          f"{d['cpu_s_per_million'] or 0:.1f} CPU s/M, statuses {d['statuses']}",
                          file=sys.stderr, flush=True)
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    if args.json:
        with open(args.json, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")

    def cell(values, fmt):
        values = [v for v in values if v is not None]
        if not values:
            return "—"
        m = statistics.median(values)
        return f"{fmt(m)} [{fmt(min(values))}–{fmt(max(values))}]"

    print("| linger ms | connections × metrics | metrics/s | p50 ms | p99 ms | CPU s per M metrics |")
    print("|---|---|---|---|---|---|")
    for conns, batch in cells:
        for linger in lingers:
            rs = [r for r in rows if r["linger"] == linger and r["connections"] == conns
                  and r["batch"] == batch]
            print(f"| {linger} | {conns} × {batch} "
                  f"| {cell([r['metrics_per_s'] for r in rs], lambda v: f'{v:,.0f}')} "
                  f"| {cell([r['latency_us']['p50'] / 1000 for r in rs], lambda v: f'{v:.2f}')} "
                  f"| {cell([r['latency_us']['p99'] / 1000 for r in rs], lambda v: f'{v:.1f}')} "
                  f"| {cell([r['cpu_s_per_million'] for r in rs], lambda v: f'{v:.1f}')} |")


if __name__ == "__main__":
    main()
