"""Metric types on a real broker and registry: the seed schema (v1) and the evolved one (v2, with
`type`) registered under the value subject, a gauge record byte-identical to the seed encoding,
counters and histograms framed with v2, and Confluent's Python AvroDeserializer reading both kinds
with the writer schema, with the seed's (v1) reader schema and with v2's."""
import io
import json
import os
import struct
import time

import fastavro
import requests
from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from conftest import ROOT, header, metric_schema_text, wait_until

V2_FILE = os.path.join(ROOT, "schemas/metric.v2.avsc")


def v2_schema_text():
    with open(V2_FILE) as f:
        return f.read()


def avro_body(schema_text, record):
    """The Avro binary body of `record`, written by fastavro (independent of the service)."""
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(json.loads(schema_text)), record)
    return out.getvalue()


def posted(name, value, type_=None, **tags):
    m = {"name": name, "value": value, "timestamp": int(time.time() * 1000),
         "tags": dict(sorted(tags.items())), "profileId": "types-1"}
    if type_ is not None:
        m["type"] = type_
    return m


def test_gauges_keep_the_seed_record_and_counters_histograms_carry_v2(stack, topic, start_service):
    svc = start_service()
    svc.wait_ready()
    subject = f"{topic}-value"

    # The registry took both, v1 then v2: v2 passed its compatibility check against v1.
    assert sorted(stack.registry.get_versions(subject)) == [1, 2]
    v1 = stack.registry.get_version(subject, 1)
    v2 = stack.registry.get_version(subject, 2)
    assert json.loads(v1.schema.schema_str) == json.loads(metric_schema_text())
    assert json.loads(v2.schema.schema_str) == json.loads(v2_schema_text())
    assert stack.registry.test_compatibility(subject, Schema(v2_schema_text(), "AVRO"), version=1)
    health = svc.health("types").json()["components"]["registry"]
    assert (health["schema_id"], health["typed_schema_id"]) == (v1.schema_id, v2.schema_id)

    gauge = posted("cpu_usage", 75.5, host="server1", environment="production")
    typed_gauge = posted("mem_usage", 12.0, "gauge", host="server1")
    counter = posted("checkout_clicks", 3, "counter", page="/cart")
    histogram = posted("web_vitals_lcp", 1830.5, "histogram", page="/cart")
    r = svc.post("types-app", [gauge, typed_gauge, counter, histogram])
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 4, "rejected": []}

    records = {stack.decode(topic, m)["name"]: m for m in stack.read_topic(topic, min_count=4)}
    assert set(records) == {"cpu_usage", "mem_usage", "checkout_clicks", "web_vitals_lcp"}
    assert all(header(m, "app_id") == "types-app" for m in records.values())

    def without_type(m):
        return {k: v for k, v in m.items() if k != "type"}

    # A gauge: v1's id and exactly the seed schema's encoding (fastavro writes the same record).
    for g in (gauge, typed_gauge):
        value = records[g["name"]].value()
        assert value == b"\x00" + struct.pack(">i", v1.schema_id) + avro_body(metric_schema_text(), without_type(g))
    # A counter or histogram: v2's id and v2's encoding (the v1 body, then the type string).
    for t in (counter, histogram):
        value = records[t["name"]].value()
        assert value[:5] == b"\x00" + struct.pack(">i", v2.schema_id)
        assert value[5:] == avro_body(v2_schema_text(), t)
        assert value[5:] == avro_body(metric_schema_text(), without_type(t)) + avro_body('"string"', t["type"])

    ctx = SerializationContext(topic, MessageField.VALUE)
    with_writer = AvroDeserializer(stack.registry)
    with_v1 = AvroDeserializer(stack.registry, schema_str=metric_schema_text())
    with_v2 = AvroDeserializer(stack.registry, schema_str=v2_schema_text())
    for m in (gauge, typed_gauge, counter, histogram):
        msg = records[m["name"]]
        # The writer schema: a gauge is the seed record (no type), the others carry theirs.
        assert with_writer(msg.value(), ctx) == (without_type(m) if m.get("type", "gauge") == "gauge" else m)
        # The seed's schema as reader: every record reads, the type is skipped.
        assert with_v1(msg.value(), ctx) == without_type(m)
        # v2 as reader: a v1 record takes the default, "gauge".
        assert with_v2(msg.value(), ctx) == {**without_type(m), "type": m.get("type", "gauge")}

    # The service read all four back (v1 -> gauge, v2 -> its type) without a decode error.
    wait_until(lambda: svc.app_metrics("types-app")["consumer"]["consumed_total"] >= 4,
               what="the four records consumed")
    assert svc.app_metrics("types-app")["consumer"]["decode_errors_total"] == 0


def test_a_v2_record_of_an_unknown_type_is_dead_lettered_as_invalid(stack, topic, start_service):
    dlq = topic + "-dlq"
    stack.create_topic(dlq, partitions=1)
    svc = start_service(env={"KAFKA_DLQ_TOPIC": dlq})
    svc.wait_ready()
    v2_id = stack.registry.get_version(f"{topic}-value", 2).schema_id
    record = {"name": "future", "value": 1.0, "timestamp": int(time.time() * 1000), "tags": {},
              "profileId": "p", "type": "summary"}
    value = b"\x00" + struct.pack(">i", v2_id) + avro_body(v2_schema_text(), record)
    producer = Producer({"bootstrap.servers": stack.bootstrap})
    producer.produce(topic, value=value, key=b"future", headers=[("app_id", "future-app")])
    assert producer.flush(30) == 0
    [copy] = stack.read_topic(dlq, min_count=1, timeout=60)
    assert copy.value() == value
    assert header(copy, "dlq_reason") == "invalid"
    assert header(copy, "dlq_schema_id") == str(v2_id)
    assert svc.app_metrics("future-app")["metrics"] == []
    text = requests.get(svc.url("/prometheus-metrics"), timeout=10).text
    assert 'mca_consumer_decode_errors_total{reason="invalid"} 1' in text
