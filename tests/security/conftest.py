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
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
import requests

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import ROOT, SANITIZER_MARKS, free_port, read_env_file, wait_until  # noqa: E402

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


class Service:
    """One run of the real binary with an env file; its stderr and stdout go to one log file."""

    def __init__(self, env_file, name, workdir, ccache=None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        os.makedirs(OUTPUT_DIR, exist_ok=True)
        self.log_path = os.path.join(OUTPUT_DIR, f"{name}.log")
        settings = read_env_file(env_file)
        # Nothing of the service's own configuration may leak in from the environment running
        # the tests: the env file is the whole of it.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("KAFKA_", "SCHEMA_REGISTRY_", "KRB5", "MAX_", "METRIC_",
                                    "LOG_", "APP_ENV", "FLASK_ENV", "HOST", "PORT"))}
        if "KRB5_CONFIG" in settings:
            env["KRB5_CONFIG"] = settings["KRB5_CONFIG"]
            env["KRB5CCNAME"] = "FILE:" + (ccache or os.path.join(workdir, f"{name}.ccache"))
        binary = os.environ.get("MCA_BINARY")
        if not binary or not os.access(binary, os.X_OK):
            raise AssertionError(f"MCA_BINARY must name the built service binary (got {binary!r})")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [binary, "--env-file", env_file, "--host", "127.0.0.1", "--port", str(self.port)],
            env=env, cwd=workdir, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
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

    def health(self, app_id="x"):
        return requests.get(self.url(f"/api/v2/app/{app_id}/health"), timeout=30)

    def post(self, app_id, metrics, timeout=60):
        return requests.post(self.url(f"/api/v2/app/{app_id}/metrics"), json={"metrics": metrics},
                             timeout=timeout)

    def exposition(self):
        r = requests.get(self.url("/prometheus-metrics"), timeout=10)
        assert r.status_code == 200, r.text
        return r.text

    def app_metrics(self, app_id):
        r = requests.get(self.url(f"/api/v2/app/{app_id}/metrics"), timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

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
        if not self.log.closed:
            self.log.close()
        return self.proc.returncode

    def check_clean_exit(self):
        code = self.stop()
        text = self.output()
        for mark in SANITIZER_MARKS:
            assert mark not in text, f"sanitizer report in service log {self.log_path}"
        assert code == 0, f"service exited with {code}; log: {self.log_path}\n{text[-4000:]}"


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
    started = []

    def start(env_file, ccache=None):
        s = Service(env_file, f"{request.node.name}-{len(started)}-{uuid.uuid4().hex[:6]}", str(tmp_path),
                    ccache=ccache)
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
