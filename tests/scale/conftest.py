"""Scale-out harness: the stack (scripts/stack, started with a stripped PATH), N replicas of the
real binary in one consumer group, and a real Prometheus scraping them through file_sd."""
import json
import os
import subprocess
import sys
import uuid

import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "scripts"))
from harness import ROOT, Service, free_port, services, wait_until  # noqa: E402,F401
from kafka_stack import Stack, running_stack  # noqa: E402
from install_lists import stripped_path  # noqa: E402

STACK_DIR = os.environ.get("MCA_SCALE_STACK_DIR", os.path.join(ROOT, ".stack/scale"))
OUTPUT_DIR = os.path.join(ROOT, "tests/output/scale")
PROMETHEUS = "/usr/bin/prometheus"
PARTITIONS = 6


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
    with running_stack(STACK_DIR, env=env):
        yield Stack(STACK_DIR)


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
    running at the end is stopped with SIGTERM and must exit 0 (unless it was killed) without a
    sanitizer report."""
    def replica(topic, group, i, env):
        # A static member (KAFKA_GROUP_INSTANCE_ID), restartable on the same port: the file_sd
        # target stays.
        return Service(env={**stack.service_env(topic, group), "KAFKA_GROUP_INSTANCE_ID": f"replica-{i}",
                            **(env or {})}, name=f"replica-{i}", log_dir=OUTPUT_DIR)

    with services(replica) as start_replica:
        def start(n, env=None):
            topic = "scale-" + uuid.uuid4().hex[:8]
            stack.create_topic(topic, PARTITIONS)
            group = "scale-" + uuid.uuid4().hex[:8]
            return topic, [start_replica(topic, group, i, env) for i in range(n)]

        yield start


def scrape_ready(prometheus, reps):
    """Every replica healthy and scraped by Prometheus, the six partitions split over all of them
    (every replica owns some)."""
    for r in reps:
        r.wait_ready()
    prometheus.set_targets([f"127.0.0.1:{r.port}" for r in reps])
    wait_until(lambda: prometheus.scalar('count(up{job="metrics-collection-api"} == 1)') == len(reps),
               timeout=30, what=f"{len(reps)} targets up")
    wait_until(lambda: prometheus.scalar("sum(mca_consumer_assigned_partitions)") == PARTITIONS
               and prometheus.scalar("count(mca_consumer_assigned_partitions > 0)") == len(reps),
               timeout=30, what=f"{PARTITIONS} partitions over {len(reps)} replicas")


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
