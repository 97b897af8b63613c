"""The happy paths through a real broker and registry: the seed walk-through, interop with
Confluent's Python client in both directions, an evolved writer schema, and a restart."""
import struct
import time

from confluent_kafka import SerializingProducer
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import StringSerializer

from conftest import evolved_schema_text, header, metric_schema_text, sample_value, wait_until


def seed_metric(**overrides):
    m = {"name": "cpu_usage", "value": 75.5, "timestamp": int(time.time() * 1000),
         "tags": {"host": "server1", "environment": "production"}, "profileId": "profile123"}
    m.update(overrides)
    return m


def registered_id(stack, subject, version=1):
    """The id of a version of the subject: 1 is the seed's schema (gauges), 2 ours with `type`."""
    return stack.registry.get_version(subject, version).schema_id


def produce_with_confluent(stack, topic, schema_text, records, app_id):
    """Produces `records` (dicts) as Confluent's AvroSerializer frames them, with header app_id,
    and waits for every delivery report."""
    producer = SerializingProducer({
        "bootstrap.servers": stack.bootstrap,
        "key.serializer": StringSerializer("utf_8"),
        "value.serializer": AvroSerializer(stack.registry, schema_text, conf={"auto.register.schemas": True}),
    })
    errors = []
    for rec in records:
        producer.produce(topic, key=f"{app_id}/{rec['name']}", value=rec, headers=[("app_id", app_id)],
                         on_delivery=lambda err, msg: err and errors.append(err))
    assert producer.flush(30) == 0
    assert errors == []


def test_seed_walkthrough_reaches_the_topic_and_the_exposition(stack, topic, start_service):
    svc = start_service()
    svc.wait_ready()
    metric = seed_metric()

    r = svc.post("walkthrough-app", [metric])

    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 1, "rejected": []}
    [msg] = stack.read_topic(topic, min_count=1)
    assert header(msg, "app_id") == "walkthrough-app"
    value = msg.value()
    assert value[0] == 0, "Confluent magic byte"
    assert struct.unpack(">i", value[1:5])[0] == registered_id(stack, f"{topic}-value")
    assert stack.decode(topic, msg) == metric
    labels = {"app_id": "walkthrough-app", "host": "server1", "environment": "production"}
    wait_until(lambda: sample_value(svc.client_metric_lines(), "client_metric_cpu_usage", labels) == 75.5,
               what="the exposition line for cpu_usage")
    lines = svc.client_metric_lines()
    assert "# HELP client_metric_cpu_usage Client metric: cpu_usage" in lines
    assert "# TYPE client_metric_cpu_usage gauge" in lines
    [held] = svc.app_metrics("walkthrough-app")["metrics"]
    assert held == metric


def test_confluent_deserializer_reads_exactly_what_was_posted(stack, topic, start_service):
    svc = start_service()
    svc.wait_ready()
    now = int(time.time() * 1000)
    posted = [
        {"name": "latency.p99", "value": -0.125, "timestamp": now - 1000,
         "tags": {"route": "/checkout", "région": "eu-west-1 ✓", "empty": ""}, "profileId": "u-1"},
        {"name": "queue_depth", "value": 1e300, "timestamp": now, "tags": {}, "profileId": "u-2"},
        {"name": "errors total", "value": 3.0, "timestamp": 0, "tags": {"code": "500"}, "profileId": "p" * 256},
    ]

    r = svc.post("interop-app", posted)

    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 3
    records = stack.read_topic(topic, min_count=3)
    assert len(records) == 3
    assert all(header(m, "app_id") == "interop-app" for m in records)
    decoded = [stack.decode(topic, m) for m in records]
    assert sorted(decoded, key=lambda d: d["name"]) == sorted(posted, key=lambda d: d["name"])


def test_records_from_confluent_serializer_are_exposed(stack, topic, start_service):
    svc = start_service()
    svc.wait_ready()
    now = int(time.time() * 1000)
    records = [
        {"name": "python_gauge", "value": 42.0, "timestamp": now, "tags": {"lang": "python"}, "profileId": "py-1"},
        {"name": "python_other", "value": 7.5, "timestamp": now, "tags": {}, "profileId": "py-2"},
    ]

    produce_with_confluent(stack, topic, metric_schema_text(), records, "python-app")

    def exposed():
        lines = svc.client_metric_lines()
        return (sample_value(lines, "client_metric_python_gauge", {"app_id": "python-app", "lang": "python"}) == 42.0
                and sample_value(lines, "client_metric_python_other", {"app_id": "python-app"}) == 7.5)

    wait_until(exposed, what="the Python-produced metrics in the exposition")
    held = sorted(svc.app_metrics("python-app")["metrics"], key=lambda m: m["name"])
    assert held == records


def test_evolved_writer_schema_registered_as_new_version_is_still_decoded(stack, topic, start_service):
    svc = start_service()
    svc.wait_ready()  # our schemas are versions 1 (seed) and 2 (with type) of the subject now
    subject = f"{topic}-value"
    v1_id = registered_id(stack, subject, 1)
    typed_id = registered_id(stack, subject, 2)
    now = int(time.time() * 1000)
    record = {"name": "evolved_gauge", "value": 3.25, "timestamp": now, "tags": {"v": "2"},
              "profileId": "evo-1", "unit": "ms"}

    produce_with_confluent(stack, topic, evolved_schema_text(), [record], "evolved-app")

    assert sorted(stack.registry.get_versions(subject)) == [1, 2, 3]
    evolved_id = registered_id(stack, subject, 3)
    assert len({v1_id, typed_id, evolved_id}) == 3
    [msg] = stack.read_topic(topic, min_count=1)
    assert struct.unpack(">i", msg.value()[1:5])[0] == evolved_id
    wait_until(lambda: sample_value(svc.client_metric_lines(), "client_metric_evolved_gauge",
                                    {"app_id": "evolved-app", "v": "2"}) == 3.25,
               what="the evolved record in the exposition")
    [held] = svc.app_metrics("evolved-app")["metrics"]
    assert held == {k: v for k, v in record.items() if k != "unit"}
    assert svc.app_metrics("evolved-app")["consumer"]["decode_errors_total"] == 0


def test_restarted_service_rebuilds_the_same_exposition_from_kafka(stack, topic, start_service):
    first = start_service()
    first.wait_ready()
    now = int(time.time() * 1000)
    for app in ("restart-a", "restart-b"):
        batch = [{"name": f"gauge_{i}", "value": i * 1.5, "timestamp": now - i, "tags": {"shard": str(i % 3)},
                  "profileId": f"{app}-{i}"} for i in range(20)]
        # The same series again with a newer sample: the rebuilt store must keep the newest.
        batch += [{"name": "gauge_0", "value": 99.0, "timestamp": now + 1, "tags": {"shard": "0"},
                   "profileId": f"{app}-late"}]
        r = first.post(app, batch)
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] == 21
    wait_until(lambda: first.app_metrics("restart-b")["consumer"]["consumed_total"] >= 42,
               what="every posted metric consumed")
    before = first.client_metric_lines()
    assert sample_value(before, "client_metric_gauge_0", {"app_id": "restart-a", "shard": "0"}) == 99.0
    first.check_clean_exit()

    second = start_service()

    wait_until(lambda: second.client_metric_lines() == before, timeout=60,
               what="the restarted service's exposition to equal the one before")
