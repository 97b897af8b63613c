"""Hostile clients against API keys and rate limits: a client rotating addresses to escape its
limit or to grow the table of buckets, guessing keys, sending huge or malformed credentials and
X-Forwarded-For chains. Each asserts the answers, that a normal client is still served, and what
the attack cost in peak RSS."""
import hashlib
import json
import socket

import requests

from conftest import Conn, assert_live, peak_rss_kib

KEY = "mca_hostile-suite-scrape-and-ingest-key-000000001"


def sanitized(pid):
    """ASan keeps freed memory in quarantine (up to 256 MiB), so peak RSS says little there."""
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


def rss_budget_kib(pid, release_kib):
    return 512 * 1024 if sanitized(pid) else release_kib


def keys_file(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": [
        {"id": "ops", "sha256": hashlib.sha256(KEY.encode()).hexdigest(), "scopes": ["admin"]}]}))
    return str(path)


def pipelined(port, requests_bytes, expect):
    """Sends every request on one connection at once and reads as many responses; returns the
    statuses."""
    statuses = []
    with Conn(port, timeout=30) as c:
        c.sendall(b"".join(requests_bytes))
        for _ in requests_bytes:
            status, _, _ = c.read_response(timeout=30)
            assert status is not None, f"no answer after {len(statuses)} of {len(requests_bytes)}"
            statuses.append(status)
    assert set(statuses) <= set(expect), sorted(set(statuses))
    return statuses


def gauge(svc, name):
    r = requests.get(svc.url("/prometheus-metrics"), headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
    assert r.status_code == 200, r.text
    for line in r.text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not exposed")


def test_rotating_forwarded_addresses_cannot_grow_the_bucket_table(start_service, tmp_path):
    bound = 1000
    s = start_service(env={"API_KEYS_FILE": keys_file(tmp_path), "RATE_LIMIT_PER_CLIENT": "1",
                           "TRUSTED_PROXIES": "127.0.0.1", "RATE_LIMIT_TABLE_SIZE": str(bound)})
    before = peak_rss_kib(s.proc.pid)
    for batch in range(10):  # 10,000 distinct client addresses, 1,000 per connection
        reqs = [f"GET /api/v2/app/x/health HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.{batch}.{i // 256}.{i % 256}\r\n\r\n"
                .encode() for i in range(1000)]
        pipelined(s.port, reqs, expect={200, 503})  # each address is new: never 429
    assert gauge(s, 'mca_rate_limit_buckets{limit="client"}') <= bound
    grown = peak_rss_kib(s.proc.pid) - before
    assert grown < rss_budget_kib(s.proc.pid, 32 * 1024), f"peak RSS grew {grown} KiB"
    assert assert_live(s) < 2.0


def test_guessing_keys_is_rate_limited_before_the_key_is_checked(start_service, tmp_path):
    s = start_service(env={"API_KEYS_FILE": keys_file(tmp_path), "RATE_LIMIT_PER_CLIENT": "5"})
    reqs = [f"GET /prometheus-metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer mca_guess{i:06d}\r\n\r\n".encode()
            for i in range(200)]
    statuses = pipelined(s.port, reqs, expect={401, 429})
    assert statuses.count(429) >= 150, statuses.count(429)
    # the key holder on another address (127.0.0.2 is loopback too) is not affected
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=10, source_address=("127.0.0.2", 0))
    with Conn.__new__(Conn) as c:
        c.sock, c.buf = sock, b""
        c.sendall(f"GET /prometheus-metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\r\n".encode())
        status, _, _ = c.read_response(timeout=10)
    assert status == 200


def test_huge_and_malformed_credentials_are_401_without_cost(start_service, tmp_path):
    s = start_service(env={"API_KEYS_FILE": keys_file(tmp_path)})
    before = peak_rss_kib(s.proc.pid)
    big = "A" * 15000  # just under the 16 KiB header limit
    cases = [f"Authorization: Bearer {big}", f"X-API-Key: {big}", "Authorization: Bearer \xff\xfe\x80",
             "Authorization: Bearer", "Authorization: Bearerx" + KEY, "Authorization: Basic " + KEY,
             f"X-API-Key: {KEY[:-1]}", f"X-API-Key: {KEY}x"]
    reqs = []
    for _ in range(50):
        for h in cases:
            reqs.append(f"POST /api/v2/app/shop/metrics HTTP/1.1\r\nHost: x\r\n{h}\r\nContent-Type: application/json\r\n"
                        f"Content-Length: 2\r\n\r\n{{}}".encode("latin-1"))
    pipelined(s.port, reqs, expect={401})
    assert peak_rss_kib(s.proc.pid) - before < rss_budget_kib(s.proc.pid, 32 * 1024)
    # the real key, with a query key of garbage after it, still works
    r = requests.post(s.url("/api/v2/app/shop/metrics") + "?api_key=%00%ff",
                      json={"metrics": [{"name": "m", "value": 1, "profileId": "p"}]},
                      headers={"X-API-Key": KEY}, timeout=10)
    assert r.status_code == 200, r.text
    assert KEY not in s.stderr() and big not in s.stderr()


def test_long_and_garbage_forwarded_chains_do_not_let_a_client_choose_its_address(start_service):
    s = start_service(env={"RATE_LIMIT_PER_CLIENT": "3", "TRUSTED_PROXIES": "127.0.0.0/8"})
    chain = ", ".join(f"203.0.{i // 256}.{i % 256}" for i in range(1000))  # about 14 KB
    reqs = []
    for i in range(20):
        # A forged chain to the left of what the proxy appended, and garbage at the end: the walk
        # stops at the garbage and the trusted proxy (the peer) is the client.
        reqs.append(f"GET /api/v2/app/x/health HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: {chain}, {i}garbage\r\n\r\n"
                    .encode())
    statuses = pipelined(s.port, reqs, expect={200, 503, 429})
    assert statuses.count(429) >= 15, statuses
    assert assert_live(s) < 2.0
