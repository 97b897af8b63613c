"""Integration harness: a real Kafka broker and Schema Registry (scripts/stack), the real binary
(MCA_BINARY) over HTTP, and Confluent's Python client as the independent reference.

Every test gets its own topic (3 partitions) and consumer group, and starts its own service
instances, so tests do not see each other's records. The stack is started once per session and
always torn down (MCA_KEEP_STACK=1 keeps it for debugging).
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
import requests
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import ROOT, SANITIZER_MARKS, free_port, read_env_file, wait_until  # noqa: E402

STACK = os.path.join(ROOT, "scripts/stack")
STACK_DIR = os.environ.get("MCA_STACK_DIR", os.path.join(ROOT, ".stack/integration"))
SCHEMA_FILE = os.path.join(ROOT, "schemas/metric.avsc")
OUTPUT_DIR = os.path.join(ROOT, "tests/output/integration")


class Stack:
    """The broker and registry that scripts/stack runs in STACK_DIR."""

    def __init__(self, directory):
        self.dir = directory
        self.env = read_env_file(os.path.join(directory, "env"))
        self.info = read_env_file(os.path.join(directory, "stack.info"))
        self.bootstrap = self.env["KAFKA_BOOTSTRAP_SERVERS"]
        self.registry_url = self.env["SCHEMA_REGISTRY_URL"]
        self.registry_bin = self.info["REGISTRY_BIN"]
        self.admin = AdminClient({"bootstrap.servers": self.bootstrap})
        self.registry = SchemaRegistryClient({"url": self.registry_url})

    def run(self, *args):
        subprocess.run([STACK, *args, "--dir", self.dir], check=True, timeout=300)

    def stop_broker(self):
        self.run("stop-broker")

    def start_broker(self):
        self.run("start-broker")

    def create_topic(self, name, partitions=3):
        futures = self.admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        futures[name].result(timeout=30)
        # Metadata reaches every client shortly after creation: wait until the broker lists it.
        wait_until(lambda: name in self.admin.list_topics(timeout=5).topics, timeout=30,
                   what=f"topic {name} in metadata")

    def read_topic(self, topic, min_count=0, timeout=30.0, idle=2.0):
        """Every record on `topic` from the beginning: waits until at least min_count were read,
        then until no new record arrived for `idle` seconds."""
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "it-reader-" + uuid.uuid4().hex,
                      "auto.offset.reset": "earliest", "enable.auto.commit": False})
        try:
            md = self.admin.list_topics(topic, timeout=10).topics[topic]
            c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in md.partitions])
            records = []
            deadline = time.monotonic() + timeout
            last_new = time.monotonic()
            while time.monotonic() < deadline:
                msg = c.poll(0.2)
                if msg is None:
                    if len(records) >= min_count and time.monotonic() - last_new >= idle:
                        break
                    continue
                if msg.error():
                    continue
                records.append(msg)
                last_new = time.monotonic()
            assert len(records) >= min_count, f"{len(records)} records on {topic}, wanted {min_count}"
            return records
        finally:
            c.close()

    def deserializer(self):
        return AvroDeserializer(self.registry)

    def decode(self, topic, msg):
        return self.deserializer()(msg.value(), SerializationContext(topic, MessageField.VALUE))


class Service:
    """One run of the real binary, configured for the stack and a topic."""

    def __init__(self, stack, topic, group, env=None, name="service"):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        os.makedirs(OUTPUT_DIR, exist_ok=True)
        self.log_path = os.path.join(OUTPUT_DIR, f"{name}-{self.port}.log")
        full_env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("KAFKA_", "SCHEMA_REGISTRY_", "MAX_", "METRIC_"))}
        full_env.update({
            "HOST": "127.0.0.1", "PORT": str(self.port), "LOG_LEVEL": "info", "LOG_FORMAT": "text",
            "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap, "KAFKA_TOPIC": topic,
            "KAFKA_CONSUMER_GROUP": group, "SCHEMA_REGISTRY_URL": stack.registry_url,
        })
        full_env.update(env or {})
        binary = os.environ.get("MCA_BINARY")
        if not binary or not os.access(binary, os.X_OK):
            raise AssertionError(f"MCA_BINARY must name the built service binary (got {binary!r})")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([binary, "--port", str(self.port)], env=full_env,
                                     cwd=tempfile.gettempdir(), stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_until(self._live, timeout=30, what=f"{self.base}/livez")
        except AssertionError:
            self.stop()
            raise AssertionError("service did not start:\n" + self.output()[-4000:])

    def _live(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"service exited with {self.proc.returncode}:\n" + self.output()[-4000:])
        try:
            return requests.get(self.base + "/livez", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def url(self, path):
        return self.base + path

    def post(self, app_id, metrics, timeout=60, **kw):
        return requests.post(self.url(f"/api/v2/app/{app_id}/metrics"), json={"metrics": metrics},
                             timeout=timeout, **kw)

    def health(self, app_id="probe"):
        return requests.get(self.url(f"/api/v2/app/{app_id}/health"), timeout=30)

    def app_metrics(self, app_id):
        r = requests.get(self.url(f"/api/v2/app/{app_id}/metrics"), timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def exposition(self):
        r = requests.get(self.url("/prometheus-metrics"), timeout=10)
        assert r.status_code == 200, r.text
        return r.text

    def client_metric_lines(self):
        """The exposition's client metrics (samples, HELP and TYPE), in order."""
        return [l for l in self.exposition().splitlines()
                if l.startswith(("client_metric_", "# HELP client_metric_", "# TYPE client_metric_"))]

    def wait_ready(self, timeout=60):
        """Until /health answers 200: registry id known, broker reachable, partitions assigned."""
        return wait_until(lambda: self.health().status_code == 200, timeout=timeout,
                          what=f"{self.base} healthy")

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"service did not stop within {timeout}s of SIGTERM")
        self.log.close()
        return self.proc.returncode

    def kill(self):
        """SIGKILL: no shutdown at all (a crash). The test's clean-exit check then only looks for
        sanitizer reports."""
        self.killed = True
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def check_clean_exit(self):
        if getattr(self, "killed", False):
            text = self.output()
            for mark in SANITIZER_MARKS:
                assert mark not in text, f"sanitizer report in service log {self.log_path}"
            return
        code = self.stop()
        text = self.output()
        for mark in SANITIZER_MARKS:
            assert mark not in text, f"sanitizer report in service log {self.log_path}"
        assert code == 0, f"service exited with {code}; log: {self.log_path}\n{text[-4000:]}"


@pytest.fixture(scope="session")
def stack():
    """The stack in MCA_STACK_DIR: reused (and left running) when it already runs there, else
    started for this session and always torn down (MCA_KEEP_STACK=1 keeps it)."""
    running = subprocess.run([STACK, "status", "--dir", STACK_DIR], stdout=subprocess.DEVNULL,
                             timeout=60).returncode == 0
    if running:
        yield Stack(STACK_DIR)
        return
    # A killed run may have left processes or data behind: start from nothing.
    subprocess.run([STACK, "down", "--dir", STACK_DIR], check=True, timeout=120)
    try:
        subprocess.run([STACK, "up", "--dir", STACK_DIR], check=True, timeout=900)
        yield Stack(STACK_DIR)
    finally:
        if os.environ.get("MCA_KEEP_STACK") != "1":
            subprocess.run([STACK, "down", "--dir", STACK_DIR], timeout=120)


@pytest.fixture
def topic(stack, request):
    name = f"it-{request.node.name[5:40].replace('_', '-')}-{uuid.uuid4().hex[:8]}"
    stack.create_topic(name)
    return name


@pytest.fixture
def start_service(stack, topic, request):
    """start_service(env=None, group=None) -> a running Service on this test's topic. Every
    service is stopped at the end of the test and must exit cleanly."""
    started = []
    default_group = "it-" + uuid.uuid4().hex[:12]

    def start(env=None, group=None):
        s = Service(stack, topic, group or default_group, env=env,
                    name=f"{request.node.name}-{len(started)}")
        started.append(s)
        return s

    yield start
    errors = []
    for s in started:
        try:
            s.check_clean_exit()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n".join(errors))


def metric_schema_text():
    with open(SCHEMA_FILE) as f:
        return f.read()


def evolved_schema_text():
    """Version 2 of Metric: one optional field with a default (a backward-compatible change)."""
    s = json.loads(metric_schema_text())
    s["fields"].append({"name": "unit", "type": ["null", "string"], "default": None,
                        "doc": "Unit of the value"})
    return json.dumps(s)


def header(msg, name):
    for k, v in msg.headers() or []:
        if k == name:
            return v.decode() if isinstance(v, bytes) else v
    return None


def sample_value(lines, name, labels):
    """The value of the sample `name{labels}` in exposition lines, labels in any order, or None."""
    for line in lines:
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        got = {}
        if "{" in head:
            body = head[head.index("{") + 1:head.rindex("}")]
            for part in split_labels(body):
                k, _, v = part.partition("=")
                got[k] = json.loads(v)
        if got == labels:
            return float(value)
    return None


def split_labels(body):
    parts, cur, quoted, esc = [], "", False, False
    for ch in body:
        if esc:
            cur += ch
            esc = False
        elif ch == "\\":
            cur += ch
            esc = True
        elif ch == '"':
            cur += ch
            quoted = not quoted
        elif ch == "," and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        parts.append(cur)
    return parts
