"""What every Python suite (tests/e2e, tests/integration, tests/security) needs to drive the real
binary: the repository root, free ports, polling with a deadline instead of sleeping, env files,
and the lines that mean a sanitizer fired. Each suite's conftest.py puts tests/ on sys.path."""
import os
import socket
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


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
