"""What every Python suite (tests/e2e, tests/hostile, tests/integration, tests/scale,
tests/security) needs to drive the real binary: the repository root, free ports, polling with a
deadline instead of sleeping, env files, and `Service`, one run of the binary (started with a
clean environment, ready when /livez answers, its output in one log file, stopped within a
deadline, its exit status and log checked for sanitizer reports). Each suite's conftest.py puts
tests/ on sys.path."""
import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time

import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
# The service's own settings and what its libraries read: none of them leaks in from the
# environment that runs the tests, so a test's service is configured by the test alone.
SERVICE_ENV_PREFIXES = ("KAFKA_", "SCHEMA_REGISTRY_", "MAX_", "METRIC_", "TLS_", "KRB5", "LOG_",
                        "APP_ENV", "FLASK_ENV", "HOST", "PORT")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=30.0, interval=0.05, what="condition"):
    """Polls until predicate() is truthy; returns its value or fails after the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def read_env_file(path):
    """The variables of an env file, in order (NAME=VALUE lines; comments and blanks skipped)."""
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                out[k] = v
    return out


# The binary under test: MCA_BINARY, else the release build.
BINARY = os.environ.get("MCA_BINARY") or os.path.join(ROOT, "build/release/metrics-collection-api")


def service_binary():
    """BINARY, checked to be an executable."""
    if not os.access(BINARY, os.X_OK):
        raise AssertionError(f"MCA_BINARY must name the built service binary (got {BINARY!r})")
    return BINARY


def service_environ(env=None):
    """The environment of a service run: this one without the service's settings, plus `env`."""
    out = {k: v for k, v in os.environ.items() if not k.startswith(SERVICE_ENV_PREFIXES)}
    out.update(env or {})
    return out


def sample(text, name):
    """The value of the unlabelled sample `name` in an exposition, or None."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


class Service:
    """One run of the real binary on a free 127.0.0.1 port, restartable on the same port.

    env: variables on top of the clean environment (service_environ). args: command-line
    arguments. The address goes in HOST/PORT (with LOG_LEVEL=info) unless listen_args, which
    passes --host/--port instead and adds nothing else (for runs configured by an env file).
    stdout and stderr go to one log file in log_dir (a temporary file without one). https=(ca,
    cert) speaks HTTPS, trusting `ca` and presenting the client certificate `cert` (or None).
    wrapper: a command that runs the binary (e.g. prlimit ... --), in the same process."""

    def __init__(self, env=None, args=(), *, name="mca", log_dir=None, cwd=None, listen_args=False,
                 https=None, wrapper=()):
        self.name = name
        self.wrapper = list(wrapper)
        self.port = free_port()
        self.log_dir = log_dir
        self.cwd = cwd or tempfile.gettempdir()
        self.args = list(args)
        self.env = dict(env or {})
        if listen_args:
            self.args += ["--host", "127.0.0.1", "--port", str(self.port)]
        else:
            self.env = {"HOST": "127.0.0.1", "PORT": str(self.port), "LOG_LEVEL": "info", **self.env}
        self.scheme = "https" if https else "http"
        self.base = f"{self.scheme}://127.0.0.1:{self.port}"
        self.http = {"verify": https[0], "cert": https[1]} if https else {}
        self.scrape_headers = {}  # e.g. an Authorization header when API_KEYS_FILE is set
        self.runs = 0
        self.proc = None
        self.start()

    def start(self):
        """Starts a run (the first, or again after stop/kill) and waits until /livez answers."""
        if self.log_dir:
            os.makedirs(self.log_dir, exist_ok=True)
            run = f"-run{self.runs}" if self.runs else ""
            self.log_path = os.path.join(self.log_dir, f"{self.name}-{self.port}{run}.log")
            self.log = open(self.log_path, "wb")
        else:
            self.log = tempfile.NamedTemporaryFile(prefix=f"{self.name}-", suffix=".log", delete=False)
            self.log_path = self.log.name
        self.runs += 1
        self.killed = False
        self.exit_code = None
        self.proc = subprocess.Popen([*self.wrapper, service_binary(), *self.args], env=service_environ(self.env),
                                     cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        try:
            wait_until(self._live, timeout=30, what=f"{self.base}/livez")
        except AssertionError:
            self.stop()
            raise AssertionError(f"service did not start; log {self.log_path}:\n" + self.output()[-4000:])

    def _live(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"service exited with {self.proc.returncode}:\n" + self.output()[-4000:])
        try:
            return self.get("/livez", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def url(self, path):
        return self.base + path

    def get(self, path, timeout=10, **kw):
        return requests.get(self.url(path), timeout=timeout, **{**self.http, **kw})

    def post(self, app_id, metrics, timeout=60, **kw):
        return requests.post(self.url(f"/api/v2/app/{app_id}/metrics"), json={"metrics": metrics},
                             timeout=timeout, **{**self.http, **kw})

    post_metrics = post

    def health(self, app_id="probe"):
        return self.get(f"/api/v2/app/{app_id}/health", timeout=30)

    def healthy(self):
        try:
            return self.get("/api/v2/app/probe/health", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def wait_ready(self, timeout=60):
        """Until /health answers 200: registry id known, broker reachable, partitions assigned."""
        return wait_until(self.healthy, timeout=timeout, interval=0.1, what=f"{self.base} healthy")

    def app_metrics(self, app_id):
        r = self.get(f"/api/v2/app/{app_id}/metrics")
        assert r.status_code == 200, r.text
        return r.json()

    def exposition(self):
        r = self.get("/prometheus-metrics", headers=self.scrape_headers)
        assert r.status_code == 200, r.text
        return r.text

    def client_metric_lines(self):
        """The exposition's client metrics (samples, HELP and TYPE), in order."""
        return [l for l in self.exposition().splitlines()
                if l.startswith(("client_metric_", "# HELP client_metric_", "# TYPE client_metric_"))]

    def consumed(self):
        return sample(self.exposition(), "kafka_metrics_consumed_total") or 0.0

    def wait_consumed(self, n, timeout=10):
        wait_until(lambda: self.consumed() >= n, timeout=timeout, what=f"{n} metrics consumed")

    def output(self):
        """This run's log: stdout and stderr."""
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()

    stderr = output

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Sends `sig` and waits; returns the exit status. Fails (after a SIGKILL) when the run
        has not ended within `timeout` seconds."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"service did not stop within {timeout}s of signal {sig}; log {self.log_path}")
            finally:
                self.log.close()
        self.log.close()
        self.exit_code = self.proc.returncode
        return self.exit_code

    terminate = stop

    def kill(self):
        """SIGKILL: no shutdown at all (a crash). check_clean_exit then only looks for sanitizer
        reports."""
        self.killed = True
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def check_clean_exit(self):
        """Stops the run if it still runs; no sanitizer report in its log, and exit status 0
        unless it was killed."""
        code = self.stop()
        text = self.output()
        for mark in SANITIZER_MARKS:
            assert mark not in text, f"sanitizer report in service log {self.log_path}:\n{text[-8000:]}"
        if not self.killed:
            assert code == 0, f"service exited with {code}; log {self.log_path}:\n{text[-4000:]}"


@contextlib.contextmanager
def services(make):
    """For a fixture: yields start(...), which runs make(...) (a new Service) and remembers it. At
    the end every service started is stopped and checked (check_clean_exit); the test fails
    naming each one that did not exit cleanly."""
    started = []

    def start(*args, **kw):
        s = make(*args, **kw)
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
        import pytest  # only fixtures use this; bench/ scripts import the rest without pytest

        pytest.fail("\n".join(errors))
