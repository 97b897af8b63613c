#!/usr/bin/env python3
"""The benchmark run behind ./scripts/bench (which installs and builds, then runs this).

    run.py --mode full|quick|smoke --build-dir DIR [--statsd-exporter PATH] [--statsd-why TEXT]

Starts what each scenario needs on free 127.0.0.1 ports (the service, the Beast baseline server,
the Pushgateway, statsd_exporter, and Kafka + Schema Registry through scripts/stack), runs every
scenario next to its baseline in each repetition, and hands the measurements to report.py, which
prints the table and writes bench/results/<date>-<mode>.json and .md. docs/PERFORMANCE.md
explains the scenarios and their baselines.

Every process it starts gets a process group of its own and is stopped (SIGTERM, then SIGKILL
after 10 s) when its scenario ends and, whatever happens, on exit, Ctrl-C or SIGTERM; so is the
stack it started. The generator runs on CPU 0 and the server under test on CPU 1 (taskset) when
the process may use two CPUs or more.
"""
import argparse
import datetime
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aggregation_check  # noqa: E402  (cpu_ticks, rss_kib: the same readings R8's check takes)
import report  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONNS = 8

# Per mode: repetitions, seconds measured and of warm-up per load run, render sizes, records R4
# reads back, series for the RSS stage, Google Benchmark's min time, and R8's pages (a histogram
# and a counter per page) and requests of 100 items.
MODES = {
    "full": dict(reps=3, dur=5, warm=1, render_sizes=[10_000, 100_000, 1_000_000], consume_n=500_000,
                 rss_series=1_000_000, micro_min=0.5, agg_pages=10_000, agg_requests=10_000),
    "quick": dict(reps=3, dur=2, warm=0.5, render_sizes=[10_000, 100_000], consume_n=100_000,
                  rss_series=100_000, micro_min=0.02, agg_pages=2000, agg_requests=3000),
    "smoke": dict(reps=1, dur=0.3, warm=0.1, render_sizes=[2000], consume_n=2000, rss_series=2000,
                  micro_min=0.001, agg_pages=20, agg_requests=10),
}
# The smoke run keeps to the micro-benchmarks that need no large store to set up.
MICRO_FILTER = {
    "full": ".",
    "quick": "^(encode_fast/|encode_avro_c/|decode_fast/|parse_and_validate/|series_key|store_update/10000)",
    "smoke": "^(encode_fast/2|encode_avro_c/2|parse_and_validate/1|series_key_build_and_hash|store_update/10000)$",
}

# R8: both sides aggregate the same observations into the same histogram layout, the web-vitals
# LCP layout (ms): the service gets it as HISTOGRAM_BUCKETS, statsd_exporter as its default
# histogram buckets (every statsd timer, histogram and distribution becomes a histogram).
LCP_BOUNDS = "250,500,1000,1500,2000,2500,3000,3500,4000,5000,6000,8000,10000,20000"

T0 = time.monotonic()


def say(msg):
    print(f"==> {msg}", file=sys.stderr, flush=True)


def step(msg):
    say(f"[{int(time.monotonic() - T0)} s] {msg}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=1.0):
    """The body of a 200 answer, or None."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.read().decode() if r.status == 200 else None
    except (OSError, ValueError, http.client.HTTPException):
        return None


def sample(text, name):
    """The value of the unlabelled sample `name` in an exposition, or None."""
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == name:
            return float(parts[1])
    return None


def niced(n):
    """A command prefix running a program at nice `n`, its session's autogroup too. With
    kernel.sched_autogroup_enabled (Debian's default) every session is one scheduling entity and a
    thread's nice value only weighs against the threads of its own session; Processes.start gives
    every program a session of its own, so `nice` alone gives it nothing over another session's
    compiler (docs/PERFORMANCE.md, "R3: where the tail comes from"). Needs the privilege that a
    negative nice needs; without autogroups the first half does nothing."""
    return ["sh", "-c", f'{{ echo {n} > /proc/self/autogroup; }} 2>/dev/null; exec nice -n {n} "$@"',
            "niced"]


def tail(path, n=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def read_env_file(path):
    """KEY=value lines (the stack's env file, the service's --print-config)."""
    out = {}
    with open(path) as f:
        for line in f:
            key, sep, value = line.rstrip("\n").partition("=")
            if sep and not key.startswith("#"):
                out[key.strip()] = value
    return out


class Processes:
    """Every process the run starts, each in a process group of its own (so a Ctrl-C in the
    terminal reaches only this script, and stopping a group also stops what a program forked)."""

    def __init__(self):
        self.live = []

    def start(self, cmd, stdout=subprocess.DEVNULL, stderr=None, env=None):
        p = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, env=env, start_new_session=True)
        self.live.append(p)
        return p

    def stop(self, p):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        if p in self.live:
            self.live.remove(p)

    def run(self, cmd, stderr=None, env=None):
        """Runs cmd to its end: (exit status, stdout)."""
        p = self.start(cmd, stdout=subprocess.PIPE, stderr=stderr, env=env)
        try:
            out, _ = p.communicate()
        finally:
            self.stop(p)
        return p.returncode, out.decode(errors="replace").strip()

    def stop_all(self):
        for p in list(self.live):
            self.stop(p)


class Bench:
    def __init__(self, a, work, procs):
        self.a = a
        self.mode = a.mode
        self.m = MODES[a.mode]
        self.work = work
        self.procs = procs
        self.service = os.path.join(a.build_dir, "metrics-collection-api")
        self.bin = os.path.join(a.build_dir, "bench")
        self.results = []
        self.stack_dir = None  # a stack this run started (and stops)
        # Generator on CPU 0, the server under test on CPU 1, when there are two.
        if len(os.sched_getaffinity(0)) >= 2 and shutil.which("taskset"):
            self.on_gen, self.on_srv = ["taskset", "-c", "0"], ["taskset", "-c", "1"]
            self.pinning = "generator on CPU 0, server on CPU 1 (taskset)"
        else:
            self.on_gen, self.on_srv = [], []
            self.pinning = "not pinned (fewer than 2 CPUs or no taskset)"
        self.loadgen_err = open(os.path.join(work, "loadgen.err"), "ab")

    # --- results ---------------------------------------------------------------------------

    def record(self, scenario, rep, d):
        self.results.append(dict(d, scenario=scenario, rep=rep))

    def skip(self, scenario, why):
        self.results.append({"scenario": scenario, "skipped": why})
        say(f"skipped {scenario}: {why}")

    def tool(self, on, name, *args):
        """A bench program to its end; its JSON result, or None when it failed."""
        rc, out = self.procs.run([*on, os.path.join(self.bin, name), *map(str, args)])
        try:
            if rc == 0:
                return json.loads(out)
        except json.JSONDecodeError:
            pass
        say(f"{name} {args[0] if args else ''} failed (exit status {rc}); it printed: {out[-300:]!r}")
        return None

    # --- processes -------------------------------------------------------------------------

    def wait_http(self, url, p, timeout=60):
        """Until the URL answers 200 (True), or the process exits or 60 s pass (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if http_get(url) is not None:
                return True
            if p.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    def start_server(self, what, cmd, ready_url, log, env=None):
        """A server pinned to the server's CPU; the process once ready_url answers, else None."""
        with open(log, "wb") as out:
            p = self.procs.start([*self.on_srv, *cmd], stdout=out, stderr=subprocess.STDOUT, env=env)
        if self.wait_http(ready_url(), p):
            return p
        say(f"{what} did not become ready; last lines of its log:")
        sys.stderr.write(tail(log))
        self.procs.stop(p)
        return None

    @staticmethod
    def service_env(**settings):
        """The service's environment: none of the caller's, only PATH, HOME and `settings`."""
        return {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
                **{k: str(v) for k, v in settings.items()}}

    def start_service(self, name, **settings):
        """The service on a free port with HTTP_THREADS=1 and no TTL, plus `settings`: (process,
        port) or (None, None)."""
        port = free_port()
        env = self.service_env(HOST="127.0.0.1", PORT=port, LOG_LEVEL="warn", HTTP_THREADS=1,
                               METRIC_TTL_SECONDS=0, **settings)
        p = self.start_server(f"service ({name})", [self.service],
                              lambda: f"http://127.0.0.1:{port}/readyz",
                              os.path.join(self.work, f"{name}.log"), env=env)
        return (p, port) if p else (None, None)

    def start_baseline_server(self):
        out = os.path.join(self.work, "baseline.out")
        with open(out, "wb") as f:
            p = self.procs.start([*self.on_srv, os.path.join(self.bin, "baseline_beast_server"),
                                  "--port", "0"], stdout=f, stderr=subprocess.STDOUT)
        for _ in range(100):
            for line in tail(out, 5).splitlines():
                if line.startswith("listening on "):
                    return p, int(line.split()[-1])
            time.sleep(0.05)
        self.procs.stop(p)
        return None, None

    def wait_consumer_idle(self, port):
        """Until kafka_metrics_consumed_total holds still for 1 s (30 s at most)."""
        last, deadline = None, time.monotonic() + 30
        while time.monotonic() < deadline:
            now = sample(http_get(f"http://127.0.0.1:{port}/prometheus-metrics", 5),
                         "kafka_metrics_consumed_total")
            if now is not None and now == last:
                return
            last = now
            time.sleep(1)

    # --- load runs -------------------------------------------------------------------------

    def loadgen(self, *args):
        """The generator, pinned, to its end: its JSON result or None."""
        _, out = self.procs.run([*self.on_gen, os.path.join(self.bin, "loadgen"), "--warmup",
                                 str(self.m["warm"]), *map(str, args)], stderr=self.loadgen_err)
        try:
            return json.loads(out) if out else None
        except json.JSONDecodeError:
            say(f"loadgen printed no result: {out[-300:]!r}")
            return None

    def run_ingest(self, scenario, rep, port, p, *args):
        """A timed load run, recorded with the server's CPU seconds over it."""
        t0 = aggregation_check.cpu_ticks(p.pid) or 0
        out = self.loadgen("--port", port, "--duration", self.m["dur"], *args)
        t1 = aggregation_check.cpu_ticks(p.pid) or 0
        if out is None:
            say(f"{scenario}: the generator printed nothing")
            return None
        out["server_cpu_s"] = (t1 - t0) / os.sysconf("SC_CLK_TCK")
        self.record(scenario, rep, out)
        return out

    # --- R8: aggregation against statsd_exporter -------------------------------------------

    def run_aggregation(self, scenario, rep, p, url, hist, counter, *args):
        """R8's observations into one server, then aggregation_check.py waits until the
        exposition holds all of them and records the throughput, what arrived and the RSS."""
        rss0 = aggregation_check.rss_kib(p.pid)
        cpu0 = aggregation_check.cpu_ticks(p.pid)
        sent = self.loadgen("--workload", "aggregate", "--series", self.m["agg_pages"], "--requests",
                            self.m["agg_requests"], "--batch", 100, "--connections", CONNS,
                            "--buckets", LCP_BOUNDS, *args)
        if sent is None:
            say(f"{scenario}: the generator printed nothing")
            return
        rc, out = self.procs.run([*self.on_gen, sys.executable,
                                  os.path.join(ROOT, "bench", "aggregation_check.py"), "--url", url,
                                  "--histogram", hist, "--counter", counter, "--sent", json.dumps(sent),
                                  "--pid", str(p.pid), "--rss-start", str(rss0), "--cpu-start", str(cpu0)])
        if rc != 0 or not out:
            say(f"{scenario}: the check failed")
            return
        self.record(scenario, rep, json.loads(out))

    def r8_ours(self, rep):
        p, port = self.start_service(
            "aggregate", MAX_SERIES=10_000_000, MAX_SERIES_PER_APP=10_000_000,
            MAX_SERIES_BYTES_PER_APP=8_589_934_592, MAX_SERIES_BYTES=8_589_934_592,
            HISTOGRAM_BUCKETS=f"web_vitals_lcp={LCP_BOUNDS}")
        if p:
            self.run_aggregation("R8", rep, p, f"http://127.0.0.1:{port}/prometheus-metrics",
                                 "client_metric_web_vitals_lcp", "client_metric_bench_clicks_total",
                                 "--port", port)
            self.procs.stop(p)

    def r8_base(self, rep):
        # On free ports, pinned, TCP only (UDP would drop silently under load).
        # --statsd.event-queue-size=100 bounds what it buffers between reading and aggregating to
        # 100 flushes of 1,000 events, the same 100,000 as the embedded log's
        # EMBEDDED_LOG_CAPACITY; its default (10,000 flushes) lets it read ahead by up to 10M
        # events, which only moves the backlog into its heap (and its RSS).
        web, tcp = free_port(), free_port()
        while tcp == web:
            tcp = free_port()
        p = self.start_server(
            "statsd_exporter",
            [self.a.statsd_exporter, f"--web.listen-address=127.0.0.1:{web}",
             f"--statsd.listen-tcp=127.0.0.1:{tcp}", "--statsd.listen-udp=",
             f"--statsd.mapping-config={self.statsd_mapping}", "--statsd.event-queue-size=100",
             "--log.level=warn"],
            lambda: f"http://127.0.0.1:{web}/-/ready", os.path.join(self.work, "statsd_exporter.log"))
        if p:
            self.run_aggregation("R8.base", rep, p, f"http://127.0.0.1:{web}/metrics", "web_vitals_lcp",
                                 "bench_clicks", "--target", "statsd", "--port", tcp)
            self.procs.stop(p)

    # --- Kafka -----------------------------------------------------------------------------

    def kafka_stack(self):
        """--quick and the full run use a stack of their own (build/bench-stack), so nobody
        else's traffic or restarts land in the numbers; --smoke only borrows the default one if it
        runs. Returns (its env file or None, why not)."""
        stack = os.path.join(ROOT, "scripts", "stack")
        if self.mode == "smoke":
            env = os.path.join(ROOT, ".stack", "env")
            rc, _ = self.procs.run([stack, "status"], stderr=subprocess.DEVNULL)
            if rc == 0 and os.path.isfile(env):
                say(f"using the running stack ({env})")
                return env, ""
            return None, "no stack"
        say("starting Kafka + Schema Registry (scripts/stack, build/bench-stack)")
        self.stack_dir = os.path.join(ROOT, "build", "bench-stack")  # torn down even half-started
        p = self.procs.start([stack, "up", "--dir", self.stack_dir], stdout=sys.stderr)
        try:
            p.wait()
        finally:
            self.procs.stop(p)
        if p.returncode != 0:
            return None, "no stack (scripts/stack up failed)"
        return os.path.join(self.stack_dir, "env"), ""

    def kafka_scenarios(self, rep, k):
        """R1 and R3 (100-metric batches) and R7 (one metric per POST) on one service instance on
        Kafka, then their raw-producer baselines; R4 on a topic of its own."""
        m = self.m
        step("R1, R3, R7 (service on Kafka, raw producer)")
        topic = f"bench-{self.run_id}-{rep}"
        kafka = ["--brokers", k["brokers"], "--topic", topic]
        raw = [*kafka, "--compression", k["compression"], "--linger", k["linger"]]
        p, port = self.start_service("kafka", KAFKA_BOOTSTRAP_SERVERS=k["brokers"],
                                     SCHEMA_REGISTRY_URL=k["registry"], KAFKA_TOPIC=topic,
                                     KAFKA_CONSUMER_GROUP=f"bench-{self.run_id}-{rep}")
        if p:
            # R1: 100-metric batches, closed loop, against the raw producer.
            r1 = self.run_ingest("R1", rep, port, p, "--connections", CONNS, "--batch", 100)
            # R3 in the steady state: the in-process consumer first catches up with what R1
            # wrote (its backlog would otherwise share the core with the requests being timed).
            self.wait_consumer_idle(port)
            # R3: both at half the service's throughput just measured, open loop (batches/s).
            rate = round(max(10.0, r1["requests_per_s"] / 2), 1) if r1 else 10
            self.run_ingest("R3", rep, port, p, "--connections", CONNS, "--batch", 100, "--rate", rate)
            # R7: one metric per POST, 8 connections, closed loop: the latency of each answer.
            self.wait_consumer_idle(port)
            self.run_ingest("R7", rep, port, p, "--connections", CONNS, "--batch", 1)
            self.procs.stop(p)
            window = ["--duration", m["dur"], "--warmup", m["warm"]]
            # R3's baseline keeps at most CONNS batches outstanding in open loop (--open-cap), as
            # the generator's CONNS connections do: a due batch waits for one, and its latency
            # still counts from when it was due (docs/PERFORMANCE.md, "R3: where the tail comes from").
            for scenario, extra in (("R1.base", []), ("R3.base", ["--rate", rate, "--open-cap"])):
                out = self.tool(self.on_srv, "kafka_baseline", "produce", *raw, "--batch", 100,
                                "--inflight", CONNS, *window, *extra)
                if out:
                    self.record(scenario, rep, out)
            # R7's baseline: latency-tuned (linger.ms 0), one record at a time.
            out = self.tool(self.on_srv, "kafka_baseline", "latency", *kafka, "--compression",
                            k["compression"], *window)
            if out:
                self.record("R7.base", rep, out)
        # R4: fill a topic, then read it back with the raw consumer and with our consume path.
        step("R4 (raw consumer, consume path)")
        ctopic = ["--brokers", k["brokers"], "--topic", f"bench-{self.run_id}-consume-{rep}"]
        filled = self.tool([], "kafka_baseline", "produce", *ctopic, "--compression", k["compression"],
                           "--linger", k["linger"], "--batch", 100, "--inflight", CONNS, "--batches",
                           m["consume_n"] // 100, "--series", 100_000)
        if filled:
            for scenario, impl in (("R4.base", "raw"), ("R4", "mca")):
                out = self.tool(self.on_srv, "kafka_baseline", "consume", *ctopic, "--expect",
                                m["consume_n"], "--impl", impl)
                if out:
                    self.record(scenario, rep, out)

    # --- the run ---------------------------------------------------------------------------

    def run(self):
        m, mode = self.m, self.mode
        self.run_id = f"{datetime.datetime.now(datetime.timezone.utc):%Y%m%d%H%M%S}-{os.getpid()}"

        stack_env, kafka_why = self.kafka_stack()
        k = None
        if stack_env:
            # The raw producer gets exactly the service's producer settings: the defaults, as the
            # service runs without the caller's environment.
            cfg = subprocess.run([self.service, "--print-config"], capture_output=True, text=True,
                                 env=self.service_env()).stdout
            cfg = dict(line.partition("=")[::2] for line in cfg.splitlines() if "=" in line)
            env = read_env_file(stack_env)
            k = {"compression": cfg.get("KAFKA_COMPRESSION") or "lz4",
                 "linger": cfg.get("KAFKA_LINGER_MS") or "5",
                 "brokers": env.get("KAFKA_BOOTSTRAP_SERVERS", ""),
                 "registry": env.get("SCHEMA_REGISTRY_URL", "")}

        pushgateway = shutil.which("prometheus-pushgateway")
        statsd_why = ""
        if not self.a.statsd_exporter:
            statsd_why = self.a.statsd_why or "statsd_exporter not built"
        self.statsd_mapping = os.path.join(self.work, "statsd-mapping.yml")
        with open(self.statsd_mapping, "w") as f:
            f.write("defaults:\n  observer_type: histogram\n  histogram_options:\n"
                    f"    buckets: [{LCP_BOUNDS}]\nmappings: []\n")

        say(f"mode {mode}: {m['reps']} repetition(s) of {m['dur']} s, {CONNS} connections; {self.pinning}")
        for rep in range(1, m["reps"] + 1):
            step(f"repetition {rep}/{m['reps']}")

            # R2 baseline: a minimal Beast server, 1 metric per request.
            step("R2 baseline (Beast server)")
            p, port = self.start_baseline_server()
            if p:
                self.run_ingest("R2.base", rep, port, p, "--connections", CONNS, "--batch", 1)
                self.procs.stop(p)

            # The service on the embedded log: R2 (1 metric per request), 100-metric batches (CPU
            # per million metrics, and our side of R6).
            step("R2, E100 (service, embedded log)")
            p, port = self.start_service("embedded")
            if p:
                self.run_ingest("R2", rep, port, p, "--connections", CONNS, "--batch", 1)
                self.run_ingest("E100", rep, port, p, "--connections", CONNS, "--batch", 100)
                self.procs.stop(p)

            # R6 baseline: the Pushgateway fed the same series by the same generator.
            if pushgateway:
                step("R6 baseline (Pushgateway)")
                port = free_port()
                p = self.start_server("the Pushgateway",
                                      [pushgateway, f"--web.listen-address=127.0.0.1:{port}"],
                                      lambda: f"http://127.0.0.1:{port}/-/ready",
                                      os.path.join(self.work, "pushgateway.log"))
                if p:
                    self.run_ingest("R6.base", rep, port, p, "--target", "pushgateway",
                                    "--connections", CONNS, "--batch", 100)
                    self.procs.stop(p)
            elif rep == 1:
                self.skip("R6.base", "prometheus-pushgateway not installed")

            # R8: the same observations aggregated by the service (embedded log) and by
            # statsd_exporter; which goes first alternates between repetitions.
            if not statsd_why:
                step("R8 (aggregation: service, statsd_exporter)")
                pair = (self.r8_ours, self.r8_base) if rep % 2 == 1 else (self.r8_base, self.r8_ours)
                for f in pair:
                    f(rep)
            elif rep == 1:
                self.skip("R8", statsd_why)

            if k:
                self.kafka_scenarios(rep, k)
            elif rep == 1:
                for s in ("R1", "R3", "R4", "R7"):
                    self.skip(s, kafka_why)

            # R5: render against prometheus-cpp, each in its own process (RSS per series).
            step("R5 (render)")
            for n in m["render_sizes"]:
                r = 1 if mode == "smoke" else 3 if n >= 1_000_000 else 5 if n >= 100_000 else 20
                for impl, scenario in (("mca", f"R5.{n}"), ("prometheus-cpp", f"R5.{n}.base")):
                    out = self.tool(self.on_srv, "render_bench", "--impl", impl, "--series", n,
                                    "--repeat", r)
                    if out:
                        self.record(scenario, rep, out)

        self.rss_stage()

        step("micro-benchmarks")
        micro = os.path.join(self.work, "micro.json")
        micro_err = os.path.join(self.work, "micro.err")
        with open(micro, "wb") as out, open(micro_err, "wb") as err:
            p = self.procs.start([*self.on_srv, os.path.join(self.bin, "bench_micro"),
                                  f"--benchmark_min_time={m['micro_min']}",
                                  f"--benchmark_filter={MICRO_FILTER[mode]}", "--benchmark_format=json"],
                                 stdout=out, stderr=err)
            p.wait()
            self.procs.stop(p)
        if p.returncode != 0:
            say(f"bench_micro failed: {tail(micro_err, 3)}")

        results = os.path.join(self.work, "results.jsonl")
        with open(results, "w") as f:
            for r in self.results:
                f.write(json.dumps(r) + "\n")
        os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
        stem = os.path.join(ROOT, "bench", "results",
                            f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d}-{mode}")
        status = report.main(["--mode", mode, "--results", results, "--micro", micro, "--pinning",
                              self.pinning, "--reps", str(m["reps"]), "--duration", str(m["dur"]),
                              "--connections", str(CONNS), "--json", stem + ".json", "--markdown",
                              stem + ".md"])
        say(f"results: {os.path.relpath(stem, ROOT)}.json and .md")
        return status

    def rss_stage(self):
        """RSS of the service holding many series (embedded log; once, not per repetition). The
        byte budgets are raised with the counts (at the defaults one app stops at ~19,000 series
        of the generator's shape): this measures what a series costs, not where the caps are."""
        n = self.m["rss_series"]
        step(f"RSS with {n} series")
        p, port = self.start_service("rss", MAX_SERIES=n, MAX_SERIES_PER_APP=n, MAX_SERIES_BYTES=1 << 40,
                                     MAX_SERIES_BYTES_PER_APP=1 << 40, EMBEDDED_LOG_CAPACITY=1_000_000)
        if not p:
            return
        rss0 = aggregation_check.rss_kib(p.pid)
        self.procs.run([*self.on_gen, os.path.join(self.bin, "loadgen"), "--port", str(port), "--batch",
                        "100", "--connections", str(CONNS), "--series", str(n), "--series-per-app",
                        str(n), "--requests", str(n // 100)], stderr=self.loadgen_err)
        # Until the consumer has applied everything (the count stops moving for 5 s: some were
        # refused).
        held, last_change = 0, time.monotonic()
        while time.monotonic() - last_change < 5:
            now = int(sample(http_get(f"http://127.0.0.1:{port}/prometheus-metrics", 30),
                             "mca_store_series") or 0)
            if now != held:
                last_change = time.monotonic()
            held = now
            if held >= n:
                break
            time.sleep(0.5)
        self.record("RSS", 1, {"series": held, "sent": n, "rss_start_kib": rss0,
                               "rss_kib": aggregation_check.rss_kib(p.pid)})
        self.procs.stop(p)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=sorted(MODES), default="full")
    ap.add_argument("--build-dir", required=True, help="holds metrics-collection-api and bench/")
    ap.add_argument("--statsd-exporter", default="", help="R8's baseline; empty: R8 is skipped")
    ap.add_argument("--statsd-why", default="", help="why there is no statsd_exporter")
    a = ap.parse_args(argv)
    os.chdir(ROOT)

    # Ctrl-C and SIGTERM end the run through the finally below (SIGINT also when the caller
    # started it with SIGINT ignored, as a shell does for a background job).
    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    procs = Processes()
    work = tempfile.mkdtemp(prefix="mca-bench.")
    bench = None
    try:
        bench = Bench(a, work, procs)
        return bench.run()
    except KeyboardInterrupt:
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # cleanup is not interrupted halfway
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        procs.stop_all()
        if bench and bench.stack_dir:
            subprocess.run([os.path.join(ROOT, "scripts", "stack"), "down", "--dir", bench.stack_dir],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if bench:
            bench.loadgen_err.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
