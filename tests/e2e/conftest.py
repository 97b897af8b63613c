"""End-to-end harness: runs the real binary (MCA_BINARY) on a free 127.0.0.1 port, over HTTP
(tests/harness.py: Service)."""
import os
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import BINARY, ROOT, Service, free_port, service_binary, service_environ, services, wait_until  # noqa: E402,F401


@pytest.fixture
def start_service():
    """start_service(env=None, args=(), **service options) -> a running Service; every one is
    stopped at the end of the test and must exit cleanly."""
    with services(lambda env=None, args=(), **kw: Service(env=env, args=args, name="mca-e2e", **kw)) as start:
        yield start


@pytest.fixture
def service(start_service):
    return start_service()


def seed_metric(**overrides):
    m = {"name": "cpu_usage", "value": 75.5, "timestamp": 1640995200000,
         "tags": {"host": "server1", "environment": "production"}, "profileId": "user-123"}
    m.update(overrides)
    return m


def run_binary(args=(), env=None, cwd=None, timeout=30):
    return subprocess.run([service_binary(), *args], env=service_environ(env), cwd=cwd or tempfile.gettempdir(),
                          capture_output=True, text=True, timeout=timeout)


def assert_promtool_accepts(text, tmp_path):
    """promtool (Prometheus's own checker) accepts an exposition without a single remark."""
    f = tmp_path / "metrics.prom"
    f.write_text(text)
    with open(f) as stdin:
        check = subprocess.run(["promtool", "check", "metrics"], stdin=stdin, capture_output=True, text=True)
    assert check.returncode == 0 and check.stdout + check.stderr == "", check.stdout + check.stderr
