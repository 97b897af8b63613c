"""Configuration, logs, signals, health and the service's own metrics."""
import json
import os
import re

import requests

from conftest import ROOT, Service, assert_promtool_accepts, run_binary, seed_metric


def test_invalid_configuration_lists_every_error_and_exits_2():
    r = run_binary(env={"PORT": "99999", "MAX_BATCH_METRICS": "lots", "APP_ENV": "staging", "LOG_FORMAT": "xml"})
    assert r.returncode == 2
    for name in ("PORT", "MAX_BATCH_METRICS", "APP_ENV", "LOG_FORMAT"):
        assert name in r.stderr, r.stderr


def test_print_config_masks_secrets():
    r = run_binary(["--print-config"], env={"KAFKA_SASL_PASSWORD": "hunter2", "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "u:topsecret",
                                            "KAFKA_PROPERTY_SSL_KEYSTORE_PASSWORD": "ks-secret", "KAFKA_TOPIC": "t1"})
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "hunter2" not in out and "topsecret" not in out and "ks-secret" not in out
    assert "KAFKA_SASL_PASSWORD=****" in out
    assert "KAFKA_TOPIC=t1" in out
    assert "KAFKA_PROPERTY_SSL_KEYSTORE_PASSWORD=****" in out


def test_dotenv_is_read_and_the_real_environment_wins(tmp_path):
    (tmp_path / ".env").write_text("# comment\nKAFKA_TOPIC=from-dotenv\nexport METRIC_TTL_SECONDS=60\nMAX_TAGS='7'\n")
    r = run_binary(["--print-config"], env={"MAX_TAGS": "9"}, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "KAFKA_TOPIC=from-dotenv" in r.stdout
    assert "METRIC_TTL_SECONDS=60" in r.stdout
    assert "MAX_TAGS=9" in r.stdout


def test_env_file_flag_and_flags_override(tmp_path):
    f = tmp_path / "custom.env"
    f.write_text("PORT=6001\nHOST=127.0.0.2\n")
    r = run_binary(["--env-file", str(f), "--port", "6002", "--print-config"])
    assert r.returncode == 0, r.stderr
    assert "PORT=6002" in r.stdout and "HOST=127.0.0.2" in r.stdout
    r = run_binary(["--env-file", str(tmp_path / "missing.env")])
    assert r.returncode == 2


def test_help_lists_every_setting():
    r = run_binary(["--help"])
    assert r.returncode == 0
    for name in ("PORT", "KAFKA_BOOTSTRAP_SERVERS", "METRIC_TTL_SECONDS", "MAX_SERIES_PER_APP", "CORS_ALLOWED_ORIGINS"):
        assert name in r.stdout


def test_invalid_schema_file_refuses_to_start(tmp_path):
    bad = tmp_path / "metric.avsc"
    bad.write_text('{"type": "record", "name": "Metric", "fields": [{"name": "name", "type": "int"}]}')
    r = run_binary(env={"SCHEMA_FILE": str(bad), "PORT": "0"})
    assert r.returncode == 2
    assert "schema" in r.stderr.lower()
    r = run_binary(env={"SCHEMA_FILE": str(tmp_path / "absent.avsc"), "PORT": "0"})
    assert r.returncode == 2


def test_bundled_schema_is_the_seed_schema_field_for_field():
    with open(os.path.join(ROOT, "schemas/metric.avsc")) as f:
        schema = json.load(f)
    assert schema["name"] == "Metric" and schema["namespace"] == "com.metrics.collection"
    assert [(x["name"], x["type"], x["doc"]) for x in schema["fields"]] == [
        ("name", "string", "Name of the metric"),
        ("value", "double", "Value of the metric"),
        ("timestamp", "long", "Unix timestamp in milliseconds"),
        ("tags", {"type": "map", "values": "string"}, "Additional metric tags"),
        ("profileId", "string", "Profile identifier"),
    ]
    assert schema["fields"][3]["default"] == {}


def test_production_logs_are_json_lines(service):
    requests.get(service.url("/livez"), timeout=10)
    lines = [l for l in service.stderr().splitlines() if l.strip()]
    assert lines
    for l in lines:
        rec = json.loads(l)
        assert {"time", "level", "msg"} <= set(rec)


def test_development_mode_from_flask_env_logs_text_at_debug(start_service):
    s = start_service(env={"FLASK_ENV": "development"})
    from conftest import wait_until
    text = wait_until(lambda: "listening on" in s.stderr() and s.stderr(), what="the start-up log line")
    assert not text.lstrip().startswith("{")
    r = run_binary(["--print-config"], env={"FLASK_ENV": "development"})
    assert "APP_ENV=development" in r.stdout and "LOG_LEVEL=debug" in r.stdout and "LOG_FORMAT=text" in r.stdout


def test_sigterm_finishes_and_exits_0(start_service):
    s = start_service()
    assert s.post_metrics("bye", [seed_metric()]).status_code == 200
    # check_clean_exit (fixture teardown) sends SIGTERM and requires exit code 0 and a clean log.


def test_health_reports_each_component(service):
    body = requests.get(service.url("/api/v2/app/my-app/health"), timeout=10).json()
    assert body["status"] == "ok"
    comps = body["components"]
    assert comps["transport"]["kind"] == "embedded" and comps["transport"]["ok"] is True
    assert comps["registry"]["schema_id"] == 1
    assert comps["consumer"]["assigned_partitions"] == [0]


def test_livez_and_readyz(service):
    assert requests.get(service.url("/livez"), timeout=10).json() == {"status": "ok"}
    r = requests.get(service.url("/readyz"), timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "ready"


def test_list_routes_prints_the_route_table():
    r = run_binary(["--list-routes"])
    assert r.returncode == 0, r.stderr
    routes = set(r.stdout.split("\n"))
    assert "POST /api/v2/app/{app_id}/metrics" in routes
    assert "GET /prometheus-metrics" in routes


def test_exposition_is_gzipped_when_asked_and_passes_promtool(service, tmp_path):
    assert service.post_metrics("prom", [seed_metric(name=f"m{i}", tags={"i": str(i)}) for i in range(50)]).status_code == 200
    service.wait_consumed(50)
    r = requests.get(service.url("/prometheus-metrics"), headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert r.headers.get("Content-Encoding") == "gzip"
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = r.text  # requests inflates
    for needle in ("mca_http_requests_total{", "mca_http_request_duration_seconds_bucket{", "mca_ingest_metrics_total{result=\"accepted\"} 50",
                   "mca_store_series 50", "mca_transport_queue_depth", "mca_store_dropped_series_total{"):
        assert needle in text, needle
    assert_promtool_accepts(text, tmp_path)


def test_head_works_where_get_does(service):
    r = requests.head(service.url("/prometheus-metrics"), timeout=10)
    assert r.status_code == 200
    assert r.text == ""


def test_keep_alive_serves_many_requests_on_one_connection(service):
    with requests.Session() as sess:
        for _ in range(50):
            assert sess.get(service.url("/livez"), timeout=10).status_code == 200


def test_cors_allowlist_for_browser_ingest(start_service):
    s = start_service(env={"CORS_ALLOWED_ORIGINS": "http://app.example:8080"})
    pre = requests.options(s.url("/api/v2/app/web/metrics"), headers={
        "Origin": "http://app.example:8080", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"}, timeout=10)
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "http://app.example:8080"
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    assert "Origin" in pre.headers.get("Vary", "")
    r = s.post_metrics("web", [seed_metric()], headers={"Origin": "http://evil.example"})
    assert r.status_code == 200
    assert "Access-Control-Allow-Origin" not in r.headers
    r = s.post_metrics("web", [seed_metric()], headers={"Origin": "http://app.example:8080"})
    assert r.headers["Access-Control-Allow-Origin"] == "http://app.example:8080"


def _help_defaults():
    """NAME -> default of every setting, as --help lists the table ("unset" = empty)."""
    out = {}
    for line in run_binary(["--help"]).stdout.splitlines():
        m = re.match(r"^  ([A-Z0-9_]+) \(default: (.*)\)$", line)
        if m:
            out[m.group(1)] = "" if m.group(2) == "unset" else m.group(2)
    return out


def _as_documented(name, value):
    """A default as the docs spell it: the bundled schemas relative to the repository."""
    return os.path.relpath(value, ROOT) if name in ("SCHEMA_FILE", "SCHEMA_V2_FILE") else value


def test_env_example_and_readme_list_exactly_the_settings_with_their_defaults():
    """.env.example and the README's settings tables list exactly the variables of the settings
    table, each with the table's default: a default changed in code but not in the docs (or a
    setting documented that no longer exists) fails here."""
    table = {n: _as_documented(n, v) for n, v in _help_defaults().items()}
    assert len(table) > 40
    example = open(os.path.join(ROOT, ".env.example")).read()
    documented = dict(re.findall(r"^# ([A-Z][A-Z0-9_]*)=(.*)$", example, re.M))
    documented.pop("KAFKA_PROPERTY_SOCKET_KEEPALIVE_ENABLE", None)  # the pass-through example
    assert documented == table
    readme = open(os.path.join(ROOT, "README.md")).read()
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \| (`[^`]*`|—) \|", readme, re.M)
    in_readme = {n: "" if d == "—" else d.strip("`") for n, d in rows}
    # The README spells the unset changelog topic by the rule that derives it.
    table["KAFKA_CHANGELOG_TOPIC"] = "<KAFKA_TOPIC>-aggregates"
    assert {n: in_readme.get(n) for n in table} == table
    assert sorted(set(in_readme) - set(table)) == []


def test_openapi_documents_the_settings_defaults_as_its_limits():
    """api/openapi.yaml states the limits at the server's defaults (its schema keywords, and the
    numbers its descriptions give beside a setting's name); each is the settings table's
    default, so the spec (and through it the SDK's contract test) follows the code."""
    import yaml

    table = _help_defaults()
    spec = yaml.safe_load(open(os.path.join(ROOT, "api", "openapi.yaml")).read())
    metric = spec["components"]["schemas"]["Metric"]["properties"]
    keywords = {
        "MAX_NAME_BYTES": metric["name"]["maxLength"],
        "MAX_TAGS": metric["tags"]["maxProperties"],
        "MAX_TAG_VALUE_BYTES": metric["tags"]["additionalProperties"]["maxLength"],
        "MAX_PROFILE_ID_BYTES": metric["profileId"]["maxLength"],
        "MAX_BATCH_METRICS": spec["components"]["schemas"]["MetricBatch"]["properties"]["metrics"]["maxItems"],
    }
    assert {n: str(v) for n, v in keywords.items()} == {n: table[n] for n in keywords}
    text = " ".join(open(os.path.join(ROOT, "api", "openapi.yaml")).read().split())
    for name in ("MAX_TAG_KEY_BYTES", "MAX_FUTURE_SKEW_SECONDS", "MAX_BATCH_METRICS"):
        numbers = set(re.findall(r"(\d+)(?: bytes)? \(`" + name + r"`\)|`" + name + r"` \((\d+)\)", text))
        found = {a or b for a, b in numbers}
        assert found == {table[name]}, (name, found)


def test_self_metrics_carry_the_mca_prefix_and_process_metrics_are_there(service, tmp_path):
    """Every family on the page is a client series, the seed's kafka_metrics_consumed_total, a
    standard process_* metric or one of ours under mca_; the process_* set is the one the
    Prometheus client libraries define, with plausible values."""
    assert service.post_metrics("prefix", [seed_metric()]).status_code == 200
    service.wait_consumed(1)
    text = requests.get(service.url("/prometheus-metrics"), timeout=10).text
    families = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            families[name] = kind
    process = {"process_cpu_seconds_total": "counter", "process_resident_memory_bytes": "gauge",
               "process_virtual_memory_bytes": "gauge", "process_open_fds": "gauge",
               "process_max_fds": "gauge", "process_start_time_seconds": "gauge"}
    for name, kind in process.items():
        assert families.get(name) == kind, (name, families.get(name))
    stray = [n for n in families if not (n.startswith(("mca_", "client_metric_")) or n in process
                                         or n == "kafka_metrics_consumed_total")]
    assert stray == [], stray
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
              if line and not line.startswith("#") and "{" not in line}
    import time
    assert abs(values["process_start_time_seconds"] - time.time()) < 600
    assert values["process_resident_memory_bytes"] > 1 << 20
    assert values["process_virtual_memory_bytes"] >= values["process_resident_memory_bytes"]
    assert 3 <= values["process_open_fds"] <= values["process_max_fds"]
    assert values["mca_schema_registry_up"] == 1
    assert_promtool_accepts(text, tmp_path)
