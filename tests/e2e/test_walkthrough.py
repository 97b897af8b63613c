"""The seed's walk-through, end to end on the embedded default."""
import requests

from conftest import seed_metric, wait_until


def test_seed_walkthrough_post_then_exposition_and_app_metrics(service):
    health = requests.get(service.url("/api/v2/app/my-app/health"), timeout=10)
    assert health.status_code == 200
    assert health.json()["status"] == "ok"

    r = requests.post(service.url("/api/v2/app/my-app/metrics"),
                      headers={"Content-Type": "application/json"},
                      data='{"metrics":[{"name":"cpu_usage","value":75.5,"timestamp":1640995200000,'
                           '"tags":{"host":"server1","environment":"production"},"profileId":"user-123"}]}',
                      timeout=10)
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 1, "rejected": []}

    service.wait_consumed(1)
    text = service.exposition()
    lines = text.splitlines()
    assert "# HELP client_metric_cpu_usage Client metric: cpu_usage" in lines
    assert "# TYPE client_metric_cpu_usage gauge" in lines
    assert 'client_metric_cpu_usage{app_id="my-app",environment="production",host="server1"} 75.5' in lines
    assert "# HELP kafka_metrics_consumed_total Total metrics consumed from Kafka" in lines
    assert "# TYPE kafka_metrics_consumed_total counter" in lines
    assert "kafka_metrics_consumed_total 1" in lines
    # HELP and TYPE come right before the family's samples.
    i = lines.index("# HELP client_metric_cpu_usage Client metric: cpu_usage")
    assert lines[i + 1] == "# TYPE client_metric_cpu_usage gauge"
    assert lines[i + 2].startswith("client_metric_cpu_usage{")

    body = requests.get(service.url("/api/v2/app/my-app/metrics"), timeout=10).json()
    assert body["app_id"] == "my-app"
    assert body["metrics"] == [{"name": "cpu_usage", "value": 75.5, "timestamp": 1640995200000,
                                "tags": {"environment": "production", "host": "server1"},
                                "profileId": "user-123"}]
    assert body["consumer"]["consumed_total"] == 1


def test_seed_output_exactly_with_app_id_label_off(start_service):
    s = start_service(env={"EXPOSITION_APP_ID_LABEL": "false"})
    assert s.post_metrics("your-app-id", [seed_metric(profileId="profile123")]).status_code == 200
    s.wait_consumed(1)
    assert 'client_metric_cpu_usage{environment="production",host="server1"} 75.5' in s.exposition().splitlines()


def test_unknown_app_has_empty_metric_list(service):
    body = requests.get(service.url("/api/v2/app/nobody/metrics"), timeout=10).json()
    assert body["metrics"] == []
    assert body["app_id"] == "nobody"


def test_two_apps_are_kept_apart_by_the_app_id_label(service):
    assert service.post_metrics("app-a", [seed_metric(value=1)]).status_code == 200
    assert service.post_metrics("app-b", [seed_metric(value=2)]).status_code == 200
    service.wait_consumed(2)
    lines = service.exposition().splitlines()
    assert 'client_metric_cpu_usage{app_id="app-a",environment="production",host="server1"} 1' in lines
    assert 'client_metric_cpu_usage{app_id="app-b",environment="production",host="server1"} 2' in lines
    assert lines.count("# HELP client_metric_cpu_usage Client metric: cpu_usage") == 1
    a = requests.get(service.url("/api/v2/app/app-a/metrics"), timeout=10).json()["metrics"]
    assert [m["value"] for m in a] == [1]


def test_missing_timestamp_becomes_receive_time(service):
    import time
    before = int(time.time() * 1000)
    m = seed_metric()
    del m["timestamp"]
    assert service.post_metrics("ts-app", [m]).status_code == 200
    after = int(time.time() * 1000)
    service.wait_consumed(1)
    got = requests.get(service.url("/api/v2/app/ts-app/metrics"), timeout=10).json()["metrics"][0]
    assert before - 5 <= got["timestamp"] <= after + 5


def test_newest_timestamp_wins_over_a_late_older_sample(service):
    assert service.post_metrics("order", [seed_metric(value=2, timestamp=2000)]).status_code == 200
    assert service.post_metrics("order", [seed_metric(value=1, timestamp=1000)]).status_code == 200
    service.wait_consumed(2)
    got = requests.get(service.url("/api/v2/app/order/metrics"), timeout=10).json()["metrics"]
    assert [(m["value"], m["timestamp"]) for m in got] == [(2, 2000)]


def test_partial_success_lists_rejected_items_and_delivers_the_rest(service):
    r = service.post_metrics("partial", [seed_metric(), seed_metric(value="high"), seed_metric(name="mem")])
    assert r.status_code == 200
    assert r.json() == {"accepted": 2, "rejected": [{"index": 1, "field": "value", "error": "must be a number, got a string"}]}
    service.wait_consumed(2)
    names = sorted(m["name"] for m in requests.get(service.url("/api/v2/app/partial/metrics"), timeout=10).json()["metrics"])
    assert names == ["cpu_usage", "mem"]
