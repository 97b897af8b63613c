"""Scale-out harness: the stack (scripts/stack, started with a stripped PATH), N replicas of the
real binary in one consumer group, and a real Prometheus scraping them through file_sd."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
import requests
from confluent_kafka.admin import AdminClient, NewTopic

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "scripts"))
from harness import ROOT, SANITIZER_MARKS, free_port, read_env_file, wait_until  # noqa: E402
from install_lists import stripped_path  # noqa: E402

STACK = os.path.join(ROOT, "scripts/stack")
STACK_DIR = os.environ.get("MCA_SCALE_STACK_DIR", os.path.join(ROOT, ".stack/scale"))
OUTPUT_DIR = os.path.join(ROOT, "tests/output/scale")
PROMETHEUS = "/usr/bin/prometheus"
PARTITIONS = 6


class Stack:
    def __init__(self, directory):
        self.env = read_env_file(os.path.join(directory, "env"))
        self.bootstrap = self.env["KAFKA_BOOTSTRAP_SERVERS"]
        self.registry_url = self.env["SCHEMA_REGISTRY_URL"]
        self.admin = AdminClient({"bootstrap.servers": self.bootstrap})

    def create_topic(self, name, partitions):
        self.admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name].result(30)
        wait_until(lambda: name in self.admin.list_topics(timeout=5).topics, timeout=30, what=f"topic {name}")


@pytest.fixture(scope="session", autouse=True)
def fresh_figures():
    """figures.json holds this run's figures only."""
    path = os.path.join(OUTPUT_DIR, "figures.json")
    if os.path.exists(path):
        os.remove(path)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """scripts/stack with PATH holding only the programs of the packages ./scripts/run and the
    stack's own install lists provide: the stack must start on a machine where only
    ./scripts/run has run."""
    env = dict(os.environ, PATH=stripped_path("scripts/stack", str(tmp_path_factory.mktemp("path"))))
    status = subprocess.run([STACK, "status", "--dir", STACK_DIR], env=env, stdout=subprocess.DEVNULL, timeout=60)
    if status.returncode == 0:
        yield Stack(STACK_DIR)
        return
    subprocess.run([STACK, "down", "--dir", STACK_DIR], env=env, check=True, timeout=120)
    try:
        subprocess.run([STACK, "up", "--dir", STACK_DIR], env=env, check=True, timeout=900)
        yield Stack(STACK_DIR)
    finally:
        if os.environ.get("MCA_KEEP_STACK") != "1":
            subprocess.run([STACK, "down", "--dir", STACK_DIR], env=env, timeout=120)


class Replica:
    """One replica of the real binary; restartable on the same port (the file_sd target stays)."""

    def __init__(self, stack, topic, group, index, env=None):
        self.index = index
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "SCHEMA_REGISTRY_"))}
        self.env.update({"HOST": "127.0.0.1", "PORT": str(self.port), "LOG_LEVEL": "info", "LOG_FORMAT": "text",
                         "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap, "KAFKA_TOPIC": topic,
                         "KAFKA_CONSUMER_GROUP": group, "SCHEMA_REGISTRY_URL": stack.registry_url,
                         "KAFKA_GROUP_INSTANCE_ID": f"replica-{index}"})
        self.env.update(env or {})
        self.runs = 0
        self.proc = None
        self.start()

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        os.makedirs(OUTPUT_DIR, exist_ok=True)
        self.log_path = os.path.join(OUTPUT_DIR, f"replica-{self.index}-run{self.runs}-{self.port}.log")
        self.runs += 1
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([os.environ["MCA_BINARY"]], env=self.env, cwd=tempfile.gettempdir(),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(self.live, timeout=30, what=f"replica {self.index} live")

    def live(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"replica {self.index} exited with {self.proc.returncode}: {self.log_path}")
        try:
            return requests.get(self.base + "/livez", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def healthy(self):
        try:
            return requests.get(self.base + "/api/v2/app/probe/health", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def wait_ready(self, timeout=60):
        wait_until(self.healthy, timeout=timeout, interval=0.1, what=f"replica {self.index} healthy")

    def terminate(self, timeout=30):
        """SIGTERM and wait; returns the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self.log.close()
        return code

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def output(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


class Prometheus:
    def __init__(self, directory, targets):
        self.port = free_port()
        self.dir = directory
        self.sd_file = os.path.join(directory, "replicas.json")
        self.set_targets(targets)
        config = os.path.join(directory, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
scrape_configs:
  - job_name: metrics-collection-api
    metrics_path: /prometheus-metrics
    file_sd_configs:
      - files: ['{self.sd_file}']
        refresh_interval: 1s
""")
        self.log = open(os.path.join(OUTPUT_DIR, "prometheus.log"), "wb")
        self.proc = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={directory}/data",
                                      f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(self._ready, timeout=60, what="prometheus ready")

    def set_targets(self, targets):
        tmp = self.sd_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump([{"targets": targets, "labels": {"env": "scale-test"}}], f)
        os.replace(tmp, self.sd_file)

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited with {self.proc.returncode}")
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/-/ready", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def query(self, promql):
        r = requests.get(f"http://127.0.0.1:{self.port}/api/v1/query", params={"query": promql}, timeout=10)
        body = r.json()
        assert body["status"] == "success", body
        return body["data"]["result"]

    def scalar(self, promql):
        """The single value of an instant query; 0 for an empty result."""
        result = self.query(promql)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else 0.0

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


@pytest.fixture
def prometheus(tmp_path):
    os.makedirs(OUTPUT_DIR, exist_ok=True)
    p = Prometheus(str(tmp_path), [])
    yield p
    p.stop()


@pytest.fixture
def replicas(stack, request):
    """start(n, env) -> n replicas in one group on a fresh 6-partition topic. Every replica still
    running at the end is stopped with SIGTERM and must exit 0 without a sanitizer report."""
    started = []

    def start(n, env=None):
        topic = "scale-" + uuid.uuid4().hex[:8]
        stack.create_topic(topic, PARTITIONS)
        group = "scale-" + uuid.uuid4().hex[:8]
        for i in range(n):
            started.append(Replica(stack, topic, group, i, env))
        return topic, started

    yield start
    errors = []
    for r in started:
        if r.proc.poll() is None:
            code = r.terminate()
            if code != 0:
                errors.append(f"replica {r.index} exited with {code}: {r.log_path}")
        text = r.output()
        if any(m in text for m in SANITIZER_MARKS):
            errors.append(f"sanitizer report in {r.log_path}")
    if errors:
        pytest.fail("\n".join(errors))


def record_figure(name, value):
    """Adds one figure of this run to tests/output/scale/figures.json."""
    os.makedirs(OUTPUT_DIR, exist_ok=True)
    path = os.path.join(OUTPUT_DIR, "figures.json")
    figures = {}
    if os.path.exists(path):
        with open(path) as f:
            figures = json.load(f)
    figures[name] = value
    with open(path, "w") as f:
        json.dump(figures, f, indent=2, sort_keys=True)
    print(f"figure: {name} = {value}")
