"""Hostile-client suite: the real binary (MCA_BINARY) attacked the way a client on the open
network can, asserting the status it answers, that it stays live for a normal client, and how
much memory the attack cost (peak RSS, VmHWM, read before and after).

It reuses the end-to-end harness (tests/e2e/conftest.py) for starting and stopping the service."""
import importlib.util
import os
import socket
import sys
import time

import pytest

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TESTS)
from harness import wait_until  # noqa: E402,F401

# The e2e conftest under its own module name (this file is "conftest" to pytest).
_spec = importlib.util.spec_from_file_location("e2e_conftest", os.path.join(TESTS, "e2e", "conftest.py"))
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)
Service, seed_metric, run_binary = e2e.Service, e2e.seed_metric, e2e.run_binary
start_service, service = e2e.start_service, e2e.service  # fixtures


def peak_rss_kib(pid):
    """VmHWM of a process: the most resident memory it has had, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmHWM for pid {pid}")


class Conn:
    """A raw TCP connection to the service that reads HTTP/1.1 responses, keeping any bytes of the
    next response (pipelining) for the next read."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def sendall(self, data):
        self.sock.sendall(data)

    def close(self):
        self.sock.close()

    def _fill(self, deadline):
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = self.sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            return False
        if not chunk:
            return False
        self.buf += chunk
        return True

    def read_response(self, timeout=5.0):
        """One response: (status or None when nothing complete arrived, headers lower-cased, body).
        The body is read by Content-Length (responses of this service always carry one)."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            if time.monotonic() > deadline or not self._fill(deadline):
                return None, {}, self.buf
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        want = int(headers.get("content-length", "0"))
        self.buf = rest
        while len(self.buf) < want:
            if time.monotonic() > deadline or not self._fill(deadline):
                break
        body, self.buf = self.buf[:want], self.buf[want:]
        return status, headers, body

    def closed_by_peer(self, timeout=5.0):
        """True when the service closes the connection (EOF or reset) within `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except ConnectionResetError:
                return True
            if not chunk:
                return True
            self.buf += chunk
        return False


def raw_exchange(port, payload, timeout=5.0):
    """Sends raw bytes on a new connection and reads one response."""
    with Conn(port, timeout) as c:
        c.sendall(payload)
        return c.read_response(timeout)


def assert_live(svc, within=2.0):
    """A normal client gets /livez within `within` seconds."""
    import requests
    start = time.monotonic()
    r = requests.get(svc.url("/livez"), timeout=within)
    assert r.status_code == 200
    return time.monotonic() - start
