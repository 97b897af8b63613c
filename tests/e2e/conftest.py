"""End-to-end harness: runs the real binary (MCA_BINARY) on a free 127.0.0.1 port, over HTTP."""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
import requests

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import ROOT, SANITIZER_MARKS, free_port, read_env_file, wait_until  # noqa: E402

BINARY = os.environ.get("MCA_BINARY", os.path.join(os.path.dirname(__file__), "../../build/release/metrics-collection-api"))


class Service:
    def __init__(self, env=None, args=(), cwd=None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="mca-e2e-", suffix=".log", delete=False)
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "SCHEMA_REGISTRY_", "MAX_", "METRIC_"))}
        full_env.update({"HOST": "127.0.0.1", "PORT": str(self.port), "LOG_LEVEL": "info"})
        full_env.update(env or {})
        self.proc = subprocess.Popen([BINARY, *args], env=full_env, cwd=cwd or tempfile.gettempdir(),
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        self.exit_code = None
        self.scrape_headers = {}  # e.g. an Authorization header when API_KEYS_FILE is set
        try:
            wait_until(self._live, timeout=30, what=f"{self.base}/livez")
        except AssertionError:
            self.stop()
            raise AssertionError("service did not start:\n" + self.stderr())

    def _live(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"service exited with {self.proc.returncode}:\n" + self.stderr())
        try:
            return requests.get(self.base + "/livez", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def url(self, path):
        return self.base + path

    def post_metrics(self, app_id, metrics, **kw):
        return requests.post(self.url(f"/api/v2/app/{app_id}/metrics"), json={"metrics": metrics}, timeout=30, **kw)

    def exposition(self):
        r = requests.get(self.url("/prometheus-metrics"), headers=self.scrape_headers, timeout=10)
        assert r.status_code == 200
        return r.text

    def consumed(self):
        for line in self.exposition().splitlines():
            if line.startswith("kafka_metrics_consumed_total "):
                return float(line.split()[1])
        return 0.0

    def wait_consumed(self, n, timeout=10):
        wait_until(lambda: self.consumed() >= n, timeout=timeout, what=f"{n} metrics consumed")

    def stderr(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("service did not stop within %ss after signal %s" % (timeout, sig))
        self.exit_code = self.proc.returncode
        return self.exit_code

    def check_clean_exit(self):
        code = self.stop()
        text = self.stderr()
        for mark in SANITIZER_MARKS:
            assert mark not in text, f"sanitizer report in service log:\n{text}"
        assert code == 0, f"service exited with {code}:\n{text[-4000:]}"


@pytest.fixture
def start_service():
    started = []

    def start(env=None, args=()):
        s = Service(env=env, args=args)
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


@pytest.fixture
def service(start_service):
    return start_service()


def seed_metric(**overrides):
    m = {"name": "cpu_usage", "value": 75.5, "timestamp": 1640995200000,
         "tags": {"host": "server1", "environment": "production"}, "profileId": "user-123"}
    m.update(overrides)
    return m


def run_binary(args=(), env=None, cwd=None, timeout=30):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "SCHEMA_REGISTRY_"))}
    full_env.update(env or {})
    return subprocess.run([BINARY, *args], env=full_env, cwd=cwd or tempfile.gettempdir(),
                          capture_output=True, text=True, timeout=timeout)
