"""Probes that passed before the edge was hardened and must keep passing."""
from conftest import Conn, assert_live, peak_rss_kib


def test_mid_body_disconnects_leave_the_service_live(service):
    before = peak_rss_kib(service.proc.pid)
    for _ in range(200):
        c = Conn(service.port)
        c.sendall(b"POST /api/v2/app/a/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100000\r\n\r\n{\"metrics\":[")
        c.close()
    assert assert_live(service) < 2.0
    assert peak_rss_kib(service.proc.pid) - before < 64 * 1024


def test_pipelined_requests_are_answered_in_order(service):
    req = b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n"
    with Conn(service.port) as c:
        c.sendall(req * 20)
        for _ in range(20):
            status, _, body = c.read_response()
            assert status == 200 and b'"ok"' in body
