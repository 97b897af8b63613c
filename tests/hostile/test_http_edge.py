"""The HTTP edge against hostile clients: every byte bounded, strict framing (RFC 9112 6), the
connection cap, honest answers while draining. Each test asserts the status, that a normal client
is still served, and (where memory is the attack) the peak RSS growth.

Bounds are generous for a loaded 2-core machine; the ASan build is slower and bigger, so its
memory bounds are scaled."""
import gzip
import json
import os
import re
import signal
import socket
import time

import pytest
import requests

from conftest import Conn, assert_live, e2e, peak_rss_kib, raw_exchange, wait_until

ASAN = "asan" in os.path.basename(os.path.dirname(e2e.BINARY))
MIB = 1024  # KiB
# What one hostile connection may add to the peak RSS: header limit + body limit and the
# allocator's slack, far below what the unbounded attacks cost (hundreds of MiB).
RSS_BOUND_KIB = (48 if ASAN else 16) * MIB
INGEST = "/api/v2/app/edge/metrics"



def assert_chunk_extension_error(body):
    """The server's own 400 for the extension limit, not a later parse error of the body."""
    error = json.loads(body)["error"]
    assert error["code"] == "bad_request", error
    assert error["message"].startswith("chunk extensions exceed "), error

def metric_value(svc, name, labels=""):
    text = svc.exposition()
    m = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def stream_until_refused(conn, head, piece, limit_bytes):
    """Sends `head`, then `piece` repeatedly until the server stops reading (closes) or
    `limit_bytes` went out. Returns the bytes sent after the head."""
    conn.sendall(head)
    sent = 0
    conn.sock.settimeout(10)
    try:
        while sent < limit_bytes:
            conn.sock.sendall(piece)
            sent += len(piece)
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass
    return sent


def chunked_post_head(extra=b""):
    return (b"POST " + INGEST.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n" + extra + b"\r\n")


# --- every byte is bounded ----------------------------------------------------------------------

def test_chunk_extension_flood_is_refused_with_bounded_memory(service):
    before = peak_rss_kib(service.proc.pid)
    with Conn(service.port, timeout=10) as c:
        stream_until_refused(c, chunked_post_head() + b"1;", b"e" * 65536, 64 * 1024 * 1024)
        status, headers, body = c.read_response(timeout=10)
        assert status == 400
        assert_chunk_extension_error(body)
        assert headers.get("connection") == "close"
    assert peak_rss_kib(service.proc.pid) - before < RSS_BOUND_KIB
    assert assert_live(service) < 2.0


def test_many_small_chunk_extensions_count_together(service):
    # Each line is short, but together they pass the header limit (16 KiB).
    ext = b";" + b"e" * 1000
    payload = chunked_post_head() + (b"1" + ext + b"\r\n{\r\n") * 20
    status, _, body = raw_exchange(service.port, payload)
    assert status == 400
    assert_chunk_extension_error(body)


def test_chunk_extensions_below_the_limit_are_accepted(service):
    body = b'{"metrics":[{"name":"ext","value":1,"profileId":"p"}]}'
    payload = (chunked_post_head() + b"%x;note=%s\r\n" % (len(body), b"e" * 8000) + body +
               b"\r\n0\r\n\r\n")
    status, _, text = raw_exchange(service.port, payload)
    assert status == 200, text


def test_trailer_flood_is_refused_with_bounded_memory(service):
    before = peak_rss_kib(service.proc.pid)
    with Conn(service.port, timeout=10) as c:
        stream_until_refused(c, chunked_post_head() + b"0\r\nX-Trailer: ", b"e" * 65536,
                             64 * 1024 * 1024)
        status, headers, body = c.read_response(timeout=10)
        assert status == 431 and b"trailer" in body
        assert headers.get("connection") == "close"
    assert peak_rss_kib(service.proc.pid) - before < RSS_BOUND_KIB
    assert assert_live(service) < 2.0


def test_trailer_fields_do_not_change_the_request(service):
    # A trailer claiming gzip must not be applied to a plain JSON body.
    body = b'{"metrics":[{"name":"trailer","value":1,"profileId":"p"}]}'
    payload = chunked_post_head() + b"%x\r\n" % len(body) + body + b"\r\n0\r\nContent-Encoding: gzip\r\n\r\n"
    status, _, text = raw_exchange(service.port, payload)
    assert status == 200, text


def test_client_that_never_reads_is_closed_after_the_write_timeout(start_service):
    svc = start_service(env={"HTTP_WRITE_TIMEOUT_MS": "1000"})
    before = peak_rss_kib(svc.proc.pid)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", svc.port))
    # Pipelined requests for a large page, never read: the server's send buffer fills up.
    sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n" * 400)
    wait_until(lambda: (metric_value(svc, "mca_http_timeouts_total", '{direction="write"}') or 0) >= 1,
               timeout=20, what="a write timeout")
    sock.close()
    assert peak_rss_kib(svc.proc.pid) - before < RSS_BOUND_KIB
    assert assert_live(svc) < 2.0


# --- strict framing ----------------------------------------------------------------------------

def read_all_responses(conn, timeout=5.0):
    out = []
    while True:
        status, headers, body = conn.read_response(timeout)
        if status is None:
            return out, conn.buf
        out.append((status, headers, body))


def test_smuggled_request_behind_a_non_chunked_transfer_encoding_is_not_run(service):
    smuggled = b"GET /api/v2/app/smuggled/health HTTP/1.1\r\nHost: x\r\n\r\n"
    with Conn(service.port) as c:
        c.sendall(b"POST " + INGEST.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: xchunked\r\nContent-Length: 0\r\n\r\n" + smuggled)
        responses, rest = read_all_responses(c, timeout=3)
        assert c.closed_by_peer()
    assert [r[0] for r in responses] == [400]
    assert responses[0][1].get("connection") == "close"
    assert b"smuggled" not in rest and all(b"smuggled" not in r[2] for r in responses)


def test_transfer_encoding_wins_over_content_length_and_the_connection_closes(service):
    body = b'{"metrics":[{"name":"te_cl","value":1,"profileId":"p"}]}'
    chunked = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    smuggled = b"GET /api/v2/app/smuggled/health HTTP/1.1\r\nHost: x\r\n\r\n"
    for order in (b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                  b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"):
        with Conn(service.port) as c:
            c.sendall(b"POST " + INGEST.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      + order + b"\r\n" + chunked + smuggled)
            responses, _ = read_all_responses(c, timeout=3)
            assert [r[0] for r in responses] == [200], responses
            assert responses[0][1].get("connection") == "close"


@pytest.mark.parametrize("coding,status", [
    (b"chunked, gzip", 400),    # final coding not chunked
    (b"gzip", 400),
    (b"chunked, chunked", 400),  # chunked twice
    (b"gzip, chunked", 501),    # a coding this server does not implement
])
def test_transfer_codings(service, coding, status):
    with Conn(service.port) as c:
        c.sendall(b"POST " + INGEST.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: " + coding + b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        got, headers, body = c.read_response()
        assert got == status, body
        assert headers.get("connection") == "close"
        assert c.closed_by_peer()


def test_transfer_encoding_in_http10_is_faulty_framing(service):
    status, _, _ = raw_exchange(service.port, b"POST " + INGEST.encode() + b" HTTP/1.0\r\n"
                                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert status == 400


@pytest.mark.parametrize("hosts", [b"", b"Host: a\r\nHost: b\r\n"])
def test_missing_or_repeated_host_is_400(service, hosts):
    status, _, body = raw_exchange(service.port, b"GET /livez HTTP/1.1\r\n" + hosts + b"\r\n")
    assert status == 400 and b"Host" in body


def test_http10_without_host_is_served(service):
    status, _, _ = raw_exchange(service.port, b"GET /livez HTTP/1.0\r\n\r\n")
    assert status == 200


def target_of(size):
    base = "/livez?pad="
    return (base + "a" * (size - len(base))).encode()


def test_target_at_the_limit_is_served_and_past_it_is_414(service):
    assert raw_exchange(service.port, b"GET " + target_of(8192) + b" HTTP/1.1\r\nHost: x\r\n\r\n")[0] == 200
    assert raw_exchange(service.port, b"GET " + target_of(8193) + b" HTTP/1.1\r\nHost: x\r\n\r\n")[0] == 414
    # Past the header limit too (the finding: 20 KB answered 431).
    assert raw_exchange(service.port, b"GET " + target_of(20000) + b" HTTP/1.1\r\nHost: x\r\n\r\n")[0] == 414


def test_post_without_a_length_is_411(service):
    status, _, body = raw_exchange(service.port, b"POST " + INGEST.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                                   b"Content-Type: application/json\r\n\r\n")
    assert status == 411 and b"length_required" in body


def test_read_timeout_is_answered_408_then_closed(start_service):
    svc = start_service(env={"HTTP_READ_TIMEOUT_MS": "500"})
    with Conn(svc.port) as c:
        c.sendall(b"POST " + INGEST.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Le")
        status, headers, _ = c.read_response(timeout=10)
        assert status == 408 and headers.get("connection") == "close"
        assert c.closed_by_peer()
    with Conn(svc.port) as c:  # a connection that never sends a byte is closed without a word
        assert c.closed_by_peer(timeout=10) and c.buf == b""


@pytest.mark.parametrize("request_head,status", [
    (b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n", 404),
    (b"PUT /livez HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n", 405),
    (b"POST " + INGEST.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n", 413),
])
def test_no_100_continue_for_a_refused_request(service, request_head, status):
    with Conn(service.port) as c:
        c.sendall(request_head + b"Expect: 100-continue\r\n\r\n")
        got, headers, _ = c.read_response()
        assert got == status
        assert headers.get("connection") == "close"


def test_100_continue_for_an_accepted_request(service):
    body = b'{"metrics":[{"name":"cont","value":1,"profileId":"p"}]}'
    with Conn(service.port) as c:
        c.sendall(b"POST " + INGEST.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(body))
        assert c.read_response()[0] == 100
        c.sendall(body)
        assert c.read_response()[0] == 200


# --- connection cap ----------------------------------------------------------------------------

def limited_service(start_service, nofile, env=None):
    """The service with RLIMIT_NOFILE soft = hard = `nofile` (so it cannot raise it)."""
    return start_service(env=env, wrapper=("prlimit", f"--nofile={nofile}:{nofile}", "--"))


def open_idle_keep_alive(port, n):
    held = []
    for _ in range(n):
        try:
            c = Conn(port, timeout=2)
            c.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
            c.read_response(timeout=2)
            held.append(c)
        except OSError:
            pass
    return held


def test_idle_connections_past_the_fd_limit_do_not_lock_out_a_normal_client(start_service):
    svc = limited_service(start_service, 1024)
    held = open_idle_keep_alive(svc.port, 1100)
    try:
        # The finding: /livez got nothing for 5 s. Now the longest-idle connections make room.
        assert assert_live(svc, within=2.0) < 2.0
        assert metric_value(svc, "mca_http_connections_evicted_total") > 0
        assert metric_value(svc, "mca_http_connections_open") <= 1024 - 128
    finally:
        for c in held:
            c.close()


def test_at_the_cap_new_connections_get_503_and_the_service_recovers(start_service):
    svc = start_service(env={"MAX_CONNECTIONS": "40", "HTTP_READ_TIMEOUT_MS": "60000"})
    # Busy connections (a request half sent) are never evicted, so the cap fills up.
    busy = []
    try:
        for _ in range(60):
            c = Conn(svc.port)
            c.sendall(b"POST " + INGEST.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Le")
            busy.append(c)
        status, headers, body = raw_exchange(svc.port, b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 503 and b"unavailable" in body
        assert headers.get("retry-after") == "1" and headers.get("connection") == "close"
    finally:
        for c in busy:
            c.close()
    wait_until(lambda: metric_value_raw(svc.port, "mca_http_connections_open") is not None,
               timeout=10, what="the service to accept again")
    assert metric_value(svc, "mca_http_connections_refused_total") >= 1
    assert metric_value(svc, "mca_http_connections_open") <= 2


def metric_value_raw(port, name):
    """The metric over a fresh connection, or None when the connection is refused (503)."""
    try:
        r = requests.get(f"http://127.0.0.1:{port}/prometheus-metrics", timeout=2)
    except requests.RequestException:
        return None
    if r.status_code != 200:
        return None
    m = re.search(rf"^{re.escape(name)} (\S+)$", r.text, re.M)
    return float(m.group(1)) if m else None


# --- drain -------------------------------------------------------------------------------------

def test_request_on_an_open_connection_during_drain_gets_503(start_service):
    svc = start_service(env={"SHUTDOWN_TIMEOUT_MS": "8000"})
    keep = Conn(svc.port)
    keep.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
    assert keep.read_response()[0] == 200
    # A request in flight keeps the drain going.
    slow = Conn(svc.port)
    slow.sendall(b"POST " + INGEST.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\nExpect: 100-continue\r\n\r\n")
    assert slow.read_response()[0] == 100  # the server is reading its body now
    slow.sendall(b"{")
    svc.proc.send_signal(signal.SIGTERM)

    def refusing():
        try:
            socket.create_connection(("127.0.0.1", svc.port), timeout=1).close()
            return False
        except OSError:
            return True
    wait_until(refusing, timeout=10, what="the listener to close")
    keep.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, _ = keep.read_response()
    assert status == 503
    assert headers.get("connection") == "close" and headers.get("retry-after") == "1"
    assert keep.closed_by_peer()
    keep.close()
    slow.close()
    svc.proc.wait(timeout=30)


# --- probes that passed before and must keep passing --------------------------------------------

def test_slowloris_connections_are_closed_and_others_served(start_service):
    svc = start_service(env={"HTTP_READ_TIMEOUT_MS": "1000"})
    before = peak_rss_kib(svc.proc.pid)
    slow = []
    for _ in range(200):
        c = Conn(svc.port)
        c.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\nX-a: ")
        slow.append(c)
    assert assert_live(svc) < 2.0
    for c in slow[:20]:  # trickling more does not extend the deadline
        c.sendall(b"a")
    assert all(c.closed_by_peer(timeout=10) for c in slow[:20])
    for c in slow:
        c.close()
    assert peak_rss_kib(svc.proc.pid) - before < RSS_BOUND_KIB


def test_five_thousand_idle_connections(service):
    before = peak_rss_kib(service.proc.pid)
    held = []
    try:
        for _ in range(5000):
            held.append(socket.create_connection(("127.0.0.1", service.port), timeout=5))
        assert assert_live(service) < 2.0
    finally:
        for s in held:
            s.close()
    # About 1 KiB of state per connection and its buffer; a few MiB in all.
    assert peak_rss_kib(service.proc.pid) - before < (4 if ASAN else 2) * RSS_BOUND_KIB


def test_gzip_bomb_is_refused_with_bounded_memory(service):
    before = peak_rss_kib(service.proc.pid)
    bomb = gzip.compress(b"0" * (200 * 1024 * 1024), compresslevel=9)
    r = requests.post(service.url(INGEST), data=bomb, timeout=30,
                      headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status_code == 413
    assert peak_rss_kib(service.proc.pid) - before < RSS_BOUND_KIB
    assert assert_live(service) < 2.0
