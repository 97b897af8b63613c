"""HTTPS on the service's port (TLS_CERT_FILE + TLS_KEY_FILE) and mutual TLS (TLS_CLIENT_CA_FILE),
with a test CA made by the openssl CLI: the handshake, the same limits inside TLS, a client that
trusts another CA, client certificates required, invalid files refused at start."""
import os
import socket
import ssl
import subprocess
import tempfile

import pytest
import requests

from conftest import run_binary, seed_metric
from harness import wait_until


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


def tls_options(pki, client_ca=False, env=None):
    """Service options for HTTPS with the test CA's server certificate (and, with client_ca,
    client certificates of the test CA required; the service then presents pki["client"])."""
    tls = {"TLS_CERT_FILE": pki["server"][0], "TLS_KEY_FILE": pki["server"][1]}
    if client_ca:
        tls["TLS_CLIENT_CA_FILE"] = pki["ca"]
    return {"env": {**tls, **(env or {})}, "https": (pki["ca"], pki["client"] if client_ca else None)}


@pytest.fixture
def tls_service(pki, start_service):
    return lambda client_ca=False, env=None: start_service(**tls_options(pki, client_ca, env))


def test_https_serves_the_api_with_a_certificate_of_the_test_ca(tls_service, pki):
    svc = tls_service()
    r = requests.post(svc.base + "/api/v2/app/tls-app/metrics", json={"metrics": [seed_metric()]},
                      verify=pki["ca"], timeout=10)
    assert r.status_code == 200 and r.json()["accepted"] == 1
    wait_until(lambda: "client_metric_cpu_usage" in svc.get("/prometheus-metrics").text, timeout=10,
               what="the series over https")
    assert "listening on https://" in svc.stderr()


def test_plain_http_on_the_https_port_gets_no_answer(tls_service):
    svc = tls_service()
    with pytest.raises(requests.RequestException):
        requests.get(f"http://127.0.0.1:{svc.port}/livez", timeout=5)
    assert svc.get("/livez").status_code == 200


def test_the_edge_limits_apply_inside_tls(tls_service, pki):
    svc = tls_service()
    assert svc.get("/livez", headers={"X-Big": "a" * 20000}).status_code == 431
    r = requests.post(svc.base + "/api/v2/app/tls-app/metrics", data=b"x" * (2 << 20), verify=pki["ca"],
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
