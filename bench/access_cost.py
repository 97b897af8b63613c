#!/usr/bin/env python3
"""What API keys and rate limits cost per request: the same ingest load (bench/loadgen, closed
loop) against the binary started three ways, interleaved so that a busy machine slows each
variant alike:

  open    no API_KEYS_FILE, no limits (the default)
  keys    API_KEYS_FILE with 100 keys; every request sends a valid ingest key (Bearer)
  keys+rl keys, plus RATE_LIMIT_PER_CLIENT and RATE_LIMIT_PER_APP set too high to refuse anything

Usage: bench/access_cost.py BINARY LOADGEN [--rounds 3] [--duration 5] [--batch 1] [--connections 4]
Prints one line per run and a table of medians: requests/s, p50 and p99 latency in microseconds,
and the service's own CPU time per request (utime + stime from /proc, which a busy machine
disturbs much less than throughput does), with the load average before and after.
"""
import argparse
import hashlib
import json
import os
import secrets
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(binary, env):
    port = free_port()
    full = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "SCHEMA_REGISTRY_"))}
    full.update({"HOST": "127.0.0.1", "PORT": str(port), "LOG_LEVEL": "warn", "HTTP_THREADS": "1",
                 "METRIC_TTL_SECONDS": "0", **env})
    proc = subprocess.Popen([binary], env=full, cwd=tempfile.gettempdir(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=1)
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the service did not start")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("loadgen")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--connections", type=int, default=4)
    a = ap.parse_args()
    a.binary, a.loadgen = os.path.abspath(a.binary), os.path.abspath(a.loadgen)

    tmp = tempfile.mkdtemp(prefix="mca-access-cost-")
    key = "mca_" + secrets.token_urlsafe(32)
    keys = [{"id": "bench", "sha256": hashlib.sha256(key.encode()).hexdigest(), "scopes": ["ingest"], "apps": ["*"]}]
    keys += [{"id": f"other-{i}", "sha256": hashlib.sha256(secrets.token_bytes(32)).hexdigest(),
              "scopes": ["ingest", "read"], "apps": [f"app-{i}"]} for i in range(99)]
    path = os.path.join(tmp, "keys.json")
    with open(path, "w") as f:
        json.dump({"keys": keys}, f)
    variants = {
        "open": ({}, []),
        "keys": ({"API_KEYS_FILE": path}, ["--header", f"Authorization: Bearer {key}"]),
        "keys+rl": ({"API_KEYS_FILE": path, "RATE_LIMIT_PER_CLIENT": "1000000", "RATE_LIMIT_PER_APP": "100000000"},
                    ["--header", f"Authorization: Bearer {key}"]),
    }
    print(f"load average before: {os.getloadavg()}, cores: {os.cpu_count()}")
    results = {name: [] for name in variants}
    for rnd in range(a.rounds):
        for name, (env, extra) in variants.items():
            proc, port = start(a.binary, env)
            try:
                cpu0 = cpu_seconds(proc.pid)
                out = subprocess.run([a.loadgen, "--port", str(port), "--connections", str(a.connections),
                                      "--batch", str(a.batch), "--duration", str(a.duration), "--warmup", "0",
                                      "--series", "1000", *extra], capture_output=True, text=True, timeout=300)
                cpu1 = cpu_seconds(proc.pid)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
            r = json.loads(out.stdout)
            r["cpu_us_per_request"] = (cpu1 - cpu0) * 1e6 / max(1, r["requests"])
            results[name].append(r)
            print(f"round {rnd + 1} {name:8s} {r['requests_per_s']:.0f} req/s, p50 {r['latency_us']['p50']:.0f} us, "
                  f"p99 {r['latency_us']['p99']:.0f} us, service CPU {r['cpu_us_per_request']:.1f} us/request, "
                  f"statuses {r['statuses']}")
    print(f"load average after: {os.getloadavg()}")
    print("| variant | requests/s | p50 µs | p99 µs | service CPU µs/request |")
    print("|---|---|---|---|---|")
    for name, runs in results.items():
        med = lambda f: statistics.median(f(x) for x in runs)
        print(f"| {name} | {med(lambda x: x['requests_per_s']):.0f} | {med(lambda x: x['latency_us']['p50']):.0f} | "
              f"{med(lambda x: x['latency_us']['p99']):.0f} | {med(lambda x: x['cpu_us_per_request']):.1f} |")


if __name__ == "__main__":
    main()
