"""HTTPS on the service's port (TLS_CERT_FILE + TLS_KEY_FILE) and mutual TLS (TLS_CLIENT_CA_FILE),
with a test CA made by the openssl CLI: the handshake, the same limits inside TLS, a client that
trusts another CA, client certificates required, invalid files refused at start."""
import os
import signal
import socket
import ssl
import subprocess
import tempfile

import pytest
import requests

from conftest import BINARY, run_binary, seed_metric
from harness import SANITIZER_MARKS, free_port, wait_until


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", cwd=d)
    return os.path.join(d, f"{name}.pem")


def make_cert(d, ca, name, server=True):
    """A certificate signed by `ca`: for 127.0.0.1/localhost (server) or a client."""
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", cwd=d)
    ext = os.path.join(d, f"{name}.ext")
    with open(ext, "w") as f:
        if server:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
        else:
            f.write("extendedKeyUsage=clientAuth\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", f"{name}.pem", cwd=d)
    return os.path.join(d, f"{name}.pem"), os.path.join(d, f"{name}.key")


@pytest.fixture(scope="module")
def pki():
    with tempfile.TemporaryDirectory(prefix="mca-tls-") as d:
        out = {"dir": d, "ca": make_ca(d, "test-ca"), "other_ca": make_ca(d, "other-ca")}
        out["server"] = make_cert(d, "test-ca", "server")
        out["client"] = make_cert(d, "test-ca", "client", server=False)
        out["stranger"] = make_cert(d, "other-ca", "stranger", server=False)
        yield out


class TlsService:
    def __init__(self, pki, client_ca=False, env=None):
        self.port = free_port()
        self.base = f"https://127.0.0.1:{self.port}"
        self.ca = pki["ca"]
        self.log = tempfile.NamedTemporaryFile(prefix="mca-tls-", suffix=".log", delete=False)
        full = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "SCHEMA_REGISTRY_", "MAX_", "TLS_"))}
        full.update({"HOST": "127.0.0.1", "PORT": str(self.port), "LOG_LEVEL": "info",
                     "TLS_CERT_FILE": pki["server"][0], "TLS_KEY_FILE": pki["server"][1]})
        if client_ca:
            full["TLS_CLIENT_CA_FILE"] = pki["ca"]
            self.cert = pki["client"]
        else:
            self.cert = None
        full.update(env or {})
        self.proc = subprocess.Popen([BINARY], env=full, cwd=tempfile.gettempdir(),
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        wait_until(self._live, timeout=30, what="https /livez")

    def _live(self):
        assert self.proc.poll() is None, self.stderr()
        try:
            return requests.get(self.base + "/livez", verify=self.ca, cert=self.cert, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def get(self, path, **kw):
        kw.setdefault("verify", self.ca)
        kw.setdefault("cert", self.cert)
        return requests.get(self.base + path, timeout=10, **kw)

    def stderr(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        text = self.stderr()
        for mark in SANITIZER_MARKS:
            assert mark not in text, text
        assert self.proc.returncode == 0, text[-4000:]


@pytest.fixture
def tls_service(pki):
    started = []

    def start(**kw):
        s = TlsService(pki, **kw)
        started.append(s)
        return s
    yield start
    for s in started:
        s.stop()


def test_https_serves_the_api_with_a_certificate_of_the_test_ca(tls_service):
    svc = tls_service()
    r = requests.post(svc.base + "/api/v2/app/tls-app/metrics", json={"metrics": [seed_metric()]},
                      verify=svc.ca, timeout=10)
    assert r.status_code == 200 and r.json()["accepted"] == 1
    wait_until(lambda: "client_metric_cpu_usage" in svc.get("/prometheus-metrics").text, timeout=10,
               what="the series over https")
    assert "listening on https://" in svc.stderr()


def test_plain_http_on_the_https_port_gets_no_answer(tls_service):
    svc = tls_service()
    with pytest.raises(requests.RequestException):
        requests.get(f"http://127.0.0.1:{svc.port}/livez", timeout=5)
    assert svc.get("/livez").status_code == 200


def test_the_edge_limits_apply_inside_tls(tls_service):
    svc = tls_service()
    assert svc.get("/livez", headers={"X-Big": "a" * 20000}).status_code == 431
    r = requests.post(svc.base + "/api/v2/app/tls-app/metrics", data=b"x" * (2 << 20), verify=svc.ca,
                      headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 413


def test_a_client_trusting_another_ca_refuses_the_handshake(tls_service, pki):
    svc = tls_service()
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(svc.base + "/livez", verify=pki["other_ca"], timeout=5)


def handshake(port, ca, cert=None):
    """A raw TLS handshake plus one request; returns the status line, or raises."""
    ctx = ssl.create_default_context(cafile=ca)
    if cert:
        ctx.load_cert_chain(*cert)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = s.recv(4096)
            if not data:
                raise ssl.SSLError("closed without an answer")
            return data.split(b"\r\n", 1)[0]


def test_mutual_tls_requires_a_client_certificate_of_the_client_ca(tls_service, pki):
    svc = tls_service(client_ca=True)
    assert handshake(svc.port, pki["ca"], pki["client"]) == b"HTTP/1.1 200 OK"
    # No certificate, or one from another CA: the handshake is refused (with TLS 1.3 the client
    # learns it on its first read).
    for cert in (None, pki["stranger"]):
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            handshake(svc.port, pki["ca"], cert)
    metrics = svc.get("/prometheus-metrics").text
    assert "mca_http_tls_handshake_failures_total 2" in metrics


def test_invalid_tls_files_are_a_start_up_error(pki):
    r = run_binary(env={"TLS_CERT_FILE": pki["server"][0], "TLS_KEY_FILE": pki["client"][1],
                        "PORT": "0", "HOST": "127.0.0.1"})
    assert r.returncode == 1 and "cannot start: TLS key" in r.stderr and "mismatch" in r.stderr
    r = run_binary(env={"TLS_CERT_FILE": pki["server"][0]})
    assert r.returncode == 2 and "TLS_CERT_FILE and TLS_KEY_FILE must be set together" in r.stderr
