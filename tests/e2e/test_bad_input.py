"""Bad input gets a clear 4xx with a JSON error naming the field and the index; never a 5xx."""
import gzip
import json
import socket
import time

import pytest
import requests

from conftest import assert_promtool_accepts, seed_metric


def post(service, body, headers=None, app="bad"):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return requests.post(service.url(f"/api/v2/app/{app}/metrics"), data=body, headers=h, timeout=30)


def error_of(r):
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]


@pytest.mark.parametrize("body", [b"", b"{", b"not json", b'{"metrics": [}', b"\xff\xfe", b'{"metrics":[1,]}'])
def test_malformed_json_is_400_invalid_json(service, body):
    r = post(service, body)
    assert r.status_code == 400
    assert error_of(r)["code"] == "invalid_json"


def test_invalid_utf8_is_400_and_says_so(service):
    r = post(service, b'{"metrics":[{"name":"cpu\xc3\x28","value":1,"profileId":"p"}]}')
    assert r.status_code == 400
    e = error_of(r)
    assert e["code"] == "invalid_json"
    assert "UTF-8" in e["message"]


@pytest.mark.parametrize("body", ['[]', '{}', '{"metrics": {}}', '{"metrics": "x"}', '{"metrics": []}', '{"metric": []}', 'null', '42'])
def test_wrong_shape_is_400_invalid_request(service, body):
    r = post(service, body)
    assert r.status_code == 400
    assert error_of(r)["code"] == "invalid_request"


@pytest.mark.parametrize("metric,field,error", [
    ({"value": 1, "profileId": "p"}, "name", "is required"),
    ({"name": 1, "value": 1, "profileId": "p"}, "name", "must be a string, got a number"),
    ({"name": "", "value": 1, "profileId": "p"}, "name", "must not be empty"),
    ({"name": "x", "profileId": "p"}, "value", "is required"),
    ({"name": "x", "value": "1", "profileId": "p"}, "value", "must be a number, got a string"),
    ({"name": "x", "value": True, "profileId": "p"}, "value", "must be a number, got a boolean"),
    ({"name": "x", "value": None, "profileId": "p"}, "value", "must be a number, got null"),
    ({"name": "x", "value": [1], "profileId": "p"}, "value", "must be a number, got an array"),
    ({"name": "x", "value": 1}, "profileId", "is required"),
    ({"name": "x", "value": 1, "profileId": 7}, "profileId", "must be a string, got a number"),
    ({"name": "x", "value": 1, "profileId": ""}, "profileId", "must not be empty"),
    ({"name": "x", "value": 1, "profileId": "p", "tags": []}, "tags",
     "must be an object of strings, got an array"),
    ({"name": "x", "value": 1, "profileId": "p", "tags": "a=b"}, "tags",
     "must be an object of strings, got a string"),
    ({"name": "x", "value": 1, "profileId": "p", "tags": {"n": 1}}, "tags.n", "must be a string, got a number"),
    ({"name": "x", "value": 1, "profileId": "p", "tags": {"n": None}}, "tags.n", "must be a string, got null"),
    # An empty key is no useful field name: the error names "tags".
    ({"name": "x", "value": 1, "profileId": "p", "tags": {"": "v"}}, "tags", "tag key must not be empty"),
    ({"name": "x", "value": 1, "profileId": "p", "tags": {"a-b": "1", "a_b": "2"}}, "tags.a_b",
     'label name collides with tag "a-b" after sanitising'),
    ({"name": "x", "value": 1, "timestamp": "now", "profileId": "p"}, "timestamp",
     "must be an integer (milliseconds since the Unix epoch), got a string"),
    ({"name": "x", "value": 1, "timestamp": 18446744073709551615, "profileId": "p"}, "timestamp", "out of range"),
])
def test_wrong_types_and_values_are_named_by_field_and_index(service, metric, field, error):
    r = post(service, json.dumps({"metrics": [seed_metric(), metric]}))
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 1, "rejected": [{"index": 1, "field": field, "error": error}]}


def test_a_batch_with_no_valid_metric_is_400_with_every_item_listed(service):
    r = post(service, json.dumps({"metrics": [{"name": "x"}, "nope", {"name": "y", "value": "1", "profileId": "p"}]}))
    assert r.status_code == 400
    e = error_of(r)
    assert e["code"] == "no_valid_metrics"
    assert [(d["index"], d["field"]) for d in e["details"]] == [(0, "value"), (1, "metric"), (2, "value")]


@pytest.mark.parametrize("number", ["1e999", "-1e999"])
def test_a_number_beyond_the_double_range_rejects_only_its_item(service, number):
    r = post(service, '{"metrics":[{"name":"x","value":%s,"profileId":"p"},{"name":"y","value":1,"profileId":"p"}]}' % number)
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 1, "rejected": [
        {"index": 0, "field": "value", "error": "out of the double range (magnitude above 1.8e308)"}]}


@pytest.mark.parametrize("number,value", [("123456789012345678901234567890", 1.2345678901234568e29),
                                          ("18446744073709551616", 18446744073709551616.0),
                                          ("1e-999", 0.0)])
def test_any_json_number_is_read_as_a_double(service, number, value):
    r = post(service, '{"metrics":[{"name":"x","value":%s,"profileId":"p"}]}' % number, app="numbers")
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1


def test_wrong_content_type_is_415(service):
    r = post(service, json.dumps({"metrics": [seed_metric()]}), {"Content-Type": "text/plain"})
    assert r.status_code == 415
    assert error_of(r)["code"] == "unsupported_media_type"
    r = requests.post(service.url("/api/v2/app/x/metrics"), data=json.dumps({"metrics": [seed_metric()]}), timeout=10)
    assert r.status_code == 415


def test_content_type_with_charset_is_accepted(service):
    r = post(service, json.dumps({"metrics": [seed_metric()]}), {"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200


def test_gzip_body_is_accepted(service):
    r = post(service, gzip.compress(json.dumps({"metrics": [seed_metric()]}).encode()), {"Content-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.json()["accepted"] == 1


def test_unknown_content_encoding_is_415_and_broken_gzip_is_400(service):
    r = post(service, b"xx", {"Content-Encoding": "br"})
    assert r.status_code == 415
    r = post(service, b"definitely not gzip", {"Content-Encoding": "gzip"})
    assert r.status_code == 400


def test_label_injection_attempts_are_escaped_in_the_exposition(service, tmp_path):
    evil = 'x"} 1\nclient_metric_pwned{a="b'
    r = service.post_metrics("inject", [seed_metric(name='evil"} 1\n#', tags={"host": evil, "__name__": "n", "app_id": "other", "9lives": "\\"})])
    assert r.status_code == 200, r.text
    service.wait_consumed(1)
    text = service.exposition()
    assert not [l for l in text.splitlines() if l.startswith("client_metric_pwned")]
    line = [l for l in text.splitlines() if l.startswith("client_metric_evil")][0]
    assert 'host="x\\"} 1\\nclient_metric_pwned{a=\\"b"' in line
    assert 'tag_app_id="other"' in line and 'app_id="inject"' in line
    assert 'tag___name__="n"' in line and '_9lives="\\\\"' in line
    assert_promtool_accepts(text, tmp_path)


def test_unknown_route_is_404_json_and_wrong_method_is_405_with_allow(service):
    r = requests.get(service.url("/nope"), timeout=10)
    assert r.status_code == 404
    assert error_of(r)["code"] == "not_found"
    r = requests.delete(service.url("/api/v2/app/x/metrics"), timeout=10)
    assert r.status_code == 405
    assert set(a.strip() for a in r.headers["Allow"].split(",")) >= {"GET", "POST"}
    r = requests.post(service.url("/prometheus-metrics"), timeout=10)
    assert r.status_code == 405


def test_oversized_headers_are_refused(service):
    r = requests.get(service.url("/livez"), headers={"X-Big": "a" * 20000}, timeout=10)
    assert r.status_code == 431


def test_slow_client_is_answered_408_and_disconnected_after_the_read_timeout(start_service):
    s = start_service(env={"HTTP_READ_TIMEOUT_MS": "500"})
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        c.sendall(b"POST /api/v2/app/x/metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        sent = time.monotonic()
        data = b""
        while chunk := c.recv(4096):  # the server answers, then closes: recv returns b""
            data += chunk
        closed_after = time.monotonic() - sent
    # The deadline runs from the first byte, so it has passed by the time the answer comes; the
    # upper bound is generous for a loaded machine, far below the 10 s socket timeout.
    assert 0.45 <= closed_after < 5.0, closed_after
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 408 Request Timeout"
    headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    assert json.loads(body) == {"error": {"code": "request_timeout",
                                          "message": "the request did not arrive within 500 ms",
                                          "details": []}}
