#!/usr/bin/env python3
"""How long a replica takes to get a partition of many aggregate series back: from its
assignment (changelog read included) until the partition is rebuilt, i.e. /health turns 200.

The partition is filled through the real path: one run of the binary receives SERIES series (a
share of them LCP histograms, the rest counters) on a one-partition topic, snapshots them to the
changelog and stops (SIGTERM: the last snapshot is written at revocation). Then the binary is
started ROUNDS more times on the same topic and group; each run restores the changelog and
replays the partition (every record is within the TTL, so the whole partition is read again, each
record skipped as already counted), and its exposition must add up exactly. The figures come from
the binary's own log lines ("changelog read: ... in T ms", "partitions rebuilt in X ms", both
measured on the consumer thread) and from the wall clock (process start to /health 200).

Usage: bench/restore_time.py BINARY --env-file .stack/env [--series 100000] [--histograms 0.1]
       [--rounds 3]
The env file is the one scripts/stack writes (KAFKA_BOOTSTRAP_SERVERS, SCHEMA_REGISTRY_URL).
Needs confluent-kafka and requests (the venv of ./scripts/test). Prints the load average
before and after each run: on a shared machine the numbers are only comparable with it.
"""
import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import requests
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from harness import free_port, read_env_file, wait_until  # noqa: E402

APP = "restore-bench"


def load():
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


class Run:
    def __init__(self, binary, env, log_path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.started = time.monotonic()
        full = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "SCHEMA_", "MAX_"))}
        full.update(env)
        full.update({"HOST": "127.0.0.1", "PORT": str(self.port), "LOG_FORMAT": "text", "LOG_LEVEL": "info"})
        self.proc = subprocess.Popen([binary], env=full, cwd=tempfile.gettempdir(), stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def healthy(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"exited with {self.proc.returncode}: {self.log_path}")
        try:
            return requests.get(self.base + "/api/v2/app/probe/health", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=120)
        self.log.close()
        assert code == 0, f"exit {code}: {self.log_path}"

    def output(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def exposition(self):
        return requests.get(self.base + "/prometheus-metrics", timeout=60).text


def post_all(run, series, histograms):
    n_hist = int(series * histograms)
    items = []
    for i in range(series):
        if i < n_hist:
            items.append({"name": "web_vitals_lcp", "type": "histogram", "value": float(i % 6000),
                          "tags": {"s": str(i)}, "profileId": "bench"})
        else:
            items.append({"name": "restore_clicks", "type": "counter", "value": 1 + i % 7, "tags": {"s": str(i)},
                          "profileId": "bench"})
    for k in range(0, len(items), 1000):
        r = requests.post(f"{run.base}/api/v2/app/{APP}/metrics", json={"metrics": items[k:k + 1000]}, timeout=120)
        assert r.status_code == 200 and r.json()["accepted"] == len(items[k:k + 1000]), r.text[:500]
    return sum(1 + i % 7 for i in range(n_hist, series)), n_hist


def totals(text):
    clicks, lcp = 0.0, 0.0
    for line in text.splitlines():
        if line.startswith("client_metric_restore_clicks_total{"):
            clicks += float(line.rpartition(" ")[2])
        elif line.startswith("client_metric_web_vitals_lcp_count{"):
            lcp += float(line.rpartition(" ")[2])
    return clicks, lcp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--env-file", required=True)
    ap.add_argument("--series", type=int, default=100_000)
    ap.add_argument("--histograms", type=float, default=0.1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "restore-bench"))
    a = ap.parse_args()
    a.binary = os.path.abspath(a.binary)
    stack = read_env_file(a.env_file)
    os.makedirs(a.out, exist_ok=True)
    topic = "restore-bench-" + uuid.uuid4().hex[:8]
    admin = AdminClient({"bootstrap.servers": stack["KAFKA_BOOTSTRAP_SERVERS"]})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(30)
    wait_until(lambda: topic in admin.list_topics(timeout=5).topics, timeout=30, what="topic")
    # Every histogram exposes its buckets + 3 series: the caps must hold them all.
    env = {"KAFKA_BOOTSTRAP_SERVERS": stack["KAFKA_BOOTSTRAP_SERVERS"],
           "SCHEMA_REGISTRY_URL": stack["SCHEMA_REGISTRY_URL"], "KAFKA_TOPIC": topic,
           "KAFKA_CONSUMER_GROUP": topic, "MAX_SERIES": "5000000", "MAX_SERIES_PER_APP": "5000000",
           "MAX_SERIES_BYTES_PER_APP": str(8 << 30), "MAX_SERIES_BYTES": str(8 << 30),
           "AGGREGATE_SNAPSHOT_INTERVAL_MS": "1000"}
    print(f"machine: {os.cpu_count()} cores, load {load()}; topic {topic}, 1 partition")

    fill = Run(a.binary, env, os.path.join(a.out, "fill.log"))
    wait_until(fill.healthy, timeout=120, what="fill run healthy")
    t0 = time.monotonic()
    want_clicks, want_lcp = post_all(fill, a.series, a.histograms)
    wait_until(lambda: totals(fill.exposition()) == (want_clicks, want_lcp), timeout=600, interval=1,
               what="every series applied")
    print(f"filled {a.series} series ({want_lcp} histograms) in {time.monotonic() - t0:.1f} s, load {load()}")
    fill.stop()
    c = Consumer({"bootstrap.servers": stack["KAFKA_BOOTSTRAP_SERVERS"], "group.id": "restore-bench-probe"})
    lo, hi = c.get_watermark_offsets(TopicPartition(topic + "-aggregates", 0), timeout=10)
    c.close()
    print(f"changelog partition 0: offsets {lo}..{hi}")

    figures = []
    for k in range(a.rounds):
        before = load()
        run = Run(a.binary, env, os.path.join(a.out, f"restore-{k}.log"))
        wait_until(run.healthy, timeout=600, interval=0.05, what="restored run healthy")
        wall = time.monotonic() - run.started
        text = run.output()
        read = re.search(r"changelog read: (\d+) records, (\d+) entries restored in (\d+) ms", text)
        rebuilt = re.search(r"partitions rebuilt in (\d+) ms", text)
        assert read and rebuilt, text[-3000:]
        got = totals(run.exposition())
        assert got == (want_clicks, want_lcp), f"exposed {got}, posted {(want_clicks, want_lcp)}"
        run.stop()
        figures.append((int(read.group(3)), int(rebuilt.group(1)), wall))
        print(f"round {k}: changelog {read.group(1)} records / {read.group(2)} states read and restored in "
              f"{read.group(3)} ms; assignment to rebuilt {rebuilt.group(1)} ms; process start to healthy "
              f"{wall:.2f} s; load {before} -> {load()}; totals exact")
    med = [statistics.median(f[i] for f in figures) for i in range(3)]
    print(f"median: restore {med[0]:.0f} ms, assignment to rebuilt {med[1]:.0f} ms, start to healthy {med[2]:.2f} s")
    admin.delete_topics([topic, topic + "-aggregates"])


if __name__ == "__main__":
    main()
