"""The OpenAPI document against the server: lint, route <-> spec, and what the binary serves.

Run by tests/contract/run.sh, which starts the binary and sets MCA_BINARY (for --list-routes)
and MCA_BASE_URL (the running server).
"""
import json
import os
import pathlib
import subprocess

import pytest
import requests
import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

ROOT = pathlib.Path(__file__).resolve().parents[2]
SPEC_PATH = pathlib.Path(os.environ.get("MCA_SPEC", ROOT / "api" / "openapi.yaml"))
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# Sample values for path parameters when probing the running server.
SAMPLE_PARAMS = {"app_id": "contract-probe", "file": "swagger-initializer.js"}


@pytest.fixture(scope="session")
def spec():
    with open(SPEC_PATH, encoding="utf-8") as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="session")
def base_url():
    url = os.environ.get("MCA_BASE_URL")
    if not url:
        pytest.fail("MCA_BASE_URL is not set (run tests/contract/run.sh BINARY)")
    return url.rstrip("/")


@pytest.fixture(scope="session")
def server_routes():
    binary = os.environ.get("MCA_BINARY")
    if not binary:
        pytest.fail("MCA_BINARY is not set (run tests/contract/run.sh BINARY)")
    out = subprocess.run([binary, "--list-routes"], capture_output=True, text=True, timeout=60,
                         check=True, env={**os.environ, "LOG_LEVEL": "error"}).stdout
    routes = set()
    for line in out.splitlines():
        if not line.strip():
            continue
        method, pattern = line.split()
        routes.add((method.lower(), pattern))
    assert routes, "--list-routes printed no route"
    return routes


def spec_operations(spec):
    return {(m, path) for path, item in spec["paths"].items() for m in item if m in METHODS}


# The server answers HEAD through every GET route and OPTIONS on every routed path (CORS
# preflight included), so those appear in the spec without a route of their own.
def implicit(method, path, routes):
    routed_paths = {p for _, p in routes}
    if method == "head":
        return ("get", path) in routes
    if method == "options":
        return path in routed_paths
    return False


def test_spec_is_a_valid_openapi_document():
    document, _ = read_from_filename(str(SPEC_PATH))
    validate(document)  # raises with the first error


def test_every_server_route_is_in_the_spec(spec, server_routes):
    missing = sorted(r for r in server_routes if r not in spec_operations(spec) and r[0] != "head")
    assert not missing, f"routes the server has and api/openapi.yaml lacks: {missing}"


def test_every_spec_operation_is_a_server_route(spec, server_routes):
    missing = sorted(op for op in spec_operations(spec)
                     if op not in server_routes and not implicit(*op, server_routes))
    assert not missing, f"operations in api/openapi.yaml the server does not route: {missing}"


def test_every_spec_operation_is_routed_on_the_running_server(spec, base_url):
    unrouted = []
    for method, path in sorted(spec_operations(spec)):
        url = base_url + path.format(**SAMPLE_PARAMS)
        r = requests.request(method.upper(), url, timeout=30,
                             headers={"Content-Type": "application/json"} if method == "post" else {},
                             data=b"{}" if method == "post" else None)
        # 404 not_found / 405 method_not_allowed come from the router when it has no such route.
        if r.status_code == 405 or (r.status_code == 404 and _error_code(r) == "not_found"):
            unrouted.append((method, path, r.status_code))
    assert not unrouted, f"spec operations the running server does not route: {unrouted}"


def test_unknown_path_is_404_not_found(base_url):
    r = requests.get(base_url + "/no/such/route", timeout=30)
    assert r.status_code == 404
    assert _error_code(r) == "not_found"


def test_served_document_is_the_yaml_converted(spec, base_url):
    r = requests.get(base_url + "/openapi.json", timeout=30)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    differences = list(_diff(json.loads(json.dumps(spec)), r.json(), ""))  # 200 keys -> "200"
    assert not differences, ("/openapi.json is not api/openapi.yaml (a stale build?); first "
                             f"differences: {differences[:10]}")


def test_swagger_ui_page_and_assets_are_served_with_their_types(base_url):
    page = requests.get(base_url + "/swagger-ui", timeout=30)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert page.headers["Cache-Control"] == "no-cache"
    for name, ctype in [("swagger-ui-bundle.js", "text/javascript"),
                        ("swagger-ui-standalone-preset.js", "text/javascript"),
                        ("swagger-ui.css", "text/css"), ("index.css", "text/css"),
                        ("favicon-32x32.png", "image/png")]:
        assert f"/swagger-ui/{name}" in page.text
        r = requests.get(f"{base_url}/swagger-ui/{name}", timeout=30)
        assert r.status_code == 200, name
        assert r.headers["Content-Type"].startswith(ctype), name
        assert r.headers["Cache-Control"] == "public, max-age=86400", name


def test_swagger_ui_bundle_is_gzipped_when_the_client_accepts_it(base_url):
    r = requests.get(base_url + "/swagger-ui/swagger-ui-bundle.js", timeout=30,
                     headers={"Accept-Encoding": "gzip"}, stream=True)
    assert r.headers.get("Content-Encoding") == "gzip"
    assert int(r.headers["Content-Length"]) < 1_000_000  # the raw bundle is about 1.5 MB
    r.close()


def test_revalidation_with_the_etag_answers_304(base_url):
    first = requests.get(base_url + "/openapi.json", timeout=30)
    again = requests.get(base_url + "/openapi.json", timeout=30,
                         headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.content == b""


def _error_code(r):
    try:
        return r.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def _diff(want, got, where):
    """JSON pointers where two documents differ."""
    if isinstance(want, dict) and isinstance(got, dict):
        for key in sorted(set(want) | set(got)):
            sub = f"{where}/{key.replace('~', '~0').replace('/', '~1')}"
            if key not in got:
                yield f"{sub} missing"
            elif key not in want:
                yield f"{sub} unexpected"
            else:
                yield from _diff(want[key], got[key], sub)
    elif isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        for i, (w, g) in enumerate(zip(want, got)):
            yield from _diff(w, g, f"{where}/{i}")
    elif want != got:
        yield f"{where}: {got!r:.60} instead of {want!r:.60}"
