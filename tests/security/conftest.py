"""Security harness: the secure stack (scripts/secure-stack: an MIT KDC, a CA and a Kafka broker
with a GSSAPI, a SCRAM-SHA-512 and a TLS listener) and the real binary (MCA_BINARY) over HTTP.

The service is configured only through the env files the stack writes (passed with --env-file;
the address to listen on comes from --host/--port). A test that needs a broken setting writes a
copy of the env file with that one line changed. The Kerberos library's own variables
(KRB5_CONFIG, KRB5CCNAME) are in the real environment, as they must be in production: the service
does not read them, libkrb5 and kinit do. Every service run gets its own credential cache, so a
ticket obtained by an earlier run can never make a broken setting look like it works.

tests/security/run.sh brings the stack up (MCA_SECURE_STACK_DIR) and always down.
"""
import json
import os
import subprocess
import sys
import time
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import ROOT, Service, read_env_file, services, wait_until  # noqa: E402,F401

SECURE_STACK = os.path.join(ROOT, "scripts/secure-stack")
STACK_DIR = os.environ.get("MCA_SECURE_STACK_DIR", os.path.join(ROOT, ".stack-secure/test"))
OUTPUT_DIR = os.path.join(ROOT, "tests/output/security")

# The seed's walk-through: this metric in, this line out.
SEED_LINE = 'client_metric_cpu_usage{app_id="my-app",environment="production",host="server1"} 75.5'


def seed_metric(profile_id):
    """The seed metric, stamped now (so it is the newest sample of its series even when the topic
    already holds the same series from an earlier test) with a profileId that identifies this
    test's record."""
    return {"name": "cpu_usage", "value": 75.5, "timestamp": int(time.time() * 1000),
            "tags": {"host": "server1", "environment": "production"}, "profileId": profile_id}


class SecureStack:
    """The secure stack that run.sh started in STACK_DIR."""

    def __init__(self, directory):
        self.dir = directory

    def env_file(self, mode):
        return os.path.join(self.dir, f"{mode}.env")

    def settings(self, mode):
        return read_env_file(self.env_file(mode))

    def path(self, *parts):
        return os.path.join(self.dir, *parts)


@pytest.fixture(scope="session")
def secure_stack():
    status = subprocess.run([SECURE_STACK, "status", "--dir", STACK_DIR], capture_output=True,
                            text=True, timeout=120)
    if status.returncode != 0:
        pytest.fail(f"the secure stack in {STACK_DIR} is not up (tests/security/run.sh starts it):\n"
                    + status.stdout + status.stderr)
    for mode in ("kerberos", "scram", "tls", "mtls"):
        if not os.path.exists(os.path.join(STACK_DIR, f"{mode}.env")):
            pytest.fail(f"{STACK_DIR}/{mode}.env is missing: the stack must be up with every mode")
    return SecureStack(STACK_DIR)


@pytest.fixture
def start_service(request, tmp_path):
    """start_service(env_file, ccache=None) -> a running Service (with its own Kerberos credential
    cache unless `ccache` names one); every one is stopped at the end of the test and must exit
    cleanly."""
    def make(env_file, ccache=None):
        name = f"{request.node.name}-{uuid.uuid4().hex[:8]}"
        # The env file is the whole of the service's configuration; only the Kerberos library's
        # own variables are in the real environment, with a credential cache of this run's own.
        env = {}
        settings = read_env_file(env_file)
        if "KRB5_CONFIG" in settings:
            env["KRB5_CONFIG"] = settings["KRB5_CONFIG"]
            env["KRB5CCNAME"] = "FILE:" + (ccache or str(tmp_path / f"{name}.ccache"))
        return Service(env=env, args=["--env-file", env_file], listen_args=True, name=name,
                       log_dir=OUTPUT_DIR, cwd=str(tmp_path))

    with services(make) as start:
        yield start


@pytest.fixture
def env_file_with(tmp_path):
    """env_file_with(source, **changes) -> a copy of the env file `source` with the given
    variables replaced (or added; None removes one), the rest unchanged."""
    def make(source, **changes):
        settings = read_env_file(source)
        settings.update(changes)
        settings = {k: v for k, v in settings.items() if v is not None}
        path = tmp_path / f"{uuid.uuid4().hex[:8]}.env"
        path.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        return str(path)

    return make


def health_json(service):
    r = service.health()
    try:
        body = r.json()
    except ValueError:
        body = {"raw": r.text}
    return r.status_code, body


def walk_through(service, health_timeout=90.0):
    """The seed walk-through on a service: healthy, POST the seed metric -> 200, the seed line in
    /prometheus-metrics, and this very record (its profileId) in the app's metrics."""
    wait_until(lambda: health_json(service)[0] == 200, timeout=health_timeout,
               what=f"{service.base} healthy ({service.log_path})")
    profile = "user-" + uuid.uuid4().hex[:12]
    r = service.post("my-app", [seed_metric(profile)])
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 1, "rejected": []}
    wait_until(lambda: SEED_LINE in service.exposition().splitlines(), timeout=30,
               what="the seed line in /prometheus-metrics")
    wait_until(lambda: any(m["profileId"] == profile for m in service.app_metrics("my-app")["metrics"]),
               timeout=30, what=f"profileId {profile} consumed back")


def wait_refused(service, mark, timeout=45.0):
    """Until the service is up but unhealthy (503) and its transport reports an error containing
    `mark`; returns the health body."""
    def refused():
        code, body = health_json(service)
        if code != 503:
            return None
        text = json.dumps(body)
        return body if mark in text else None

    return wait_until(refused, timeout=timeout, what=f"health 503 naming {mark!r}")
