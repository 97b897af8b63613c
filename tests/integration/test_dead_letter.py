"""KAFKA_DLQ_TOPIC: every record the consumer cannot decode or apply is copied to the dead-letter
topic unchanged (key, value, timestamp, headers) with headers saying why and whence; counted in
mca_consumer_dead_letter_records_total; copied once, not again when a restarted consumer replays
the partition."""
import io
import json
import struct
import time

import fastavro
from confluent_kafka import Producer

from conftest import SCHEMA_FILE, header, sample_value, wait_until


def metric_body(name):
    schema = fastavro.parse_schema(json.load(open(SCHEMA_FILE)))
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, {"name": name, "value": 1.0, "timestamp": int(time.time() * 1000),
                                             "tags": {}, "profileId": "p"})
    return out.getvalue()


def counter(svc, name, labels):
    return sample_value(svc.exposition().splitlines(), name, labels)


def test_poison_records_go_to_the_dead_letter_topic_unchanged_with_their_origin(stack, topic, start_service):
    dlq = topic + "-dlq"
    stack.create_topic(dlq, partitions=1)
    svc = start_service(env={"KAFKA_DLQ_TOPIC": dlq})
    svc.wait_ready()
    our_id = stack.registry.get_version(f"{topic}-value", 1).schema_id  # v1: the seed's, gauges
    frame = b"\x00" + struct.pack(">i", our_id)
    # (value, reason, schema id in the dlq_schema_id header or None)
    poison = [
        (b"\x01\x00\x00\x00\x01\x02a", "bad_magic", None),
        (b"\x00\x00\x00", "truncated", None),
        (b"\x00" + struct.pack(">i", 2_000_000_000) + b"\x02a", "unknown_schema", 2_000_000_000),
        (frame + b"\x0a", "truncated", our_id),
        (frame + metric_body(""), "invalid", our_id),
    ]
    producer = Producer({"bootstrap.servers": stack.bootstrap})
    partitions = len(stack.admin.list_topics(topic, timeout=10).topics[topic].partitions)
    for p in range(partitions):
        for i, (value, _, _) in enumerate(poison):
            producer.produce(topic, value=value, key=f"poison-{p}-{i}".encode(), partition=p,
                             timestamp=int(time.time() * 1000),
                             headers=[("app_id", "poison-app"), ("trace", f"t-{p}-{i}".encode())])
    assert producer.flush(30) == 0
    good = {"name": "after_poison", "value": 1.25, "timestamp": int(time.time() * 1000), "tags": {"k": "v"},
            "profileId": "ok"}
    assert svc.post("poison-app", [good]).status_code == 200
    wait_until(lambda: sample_value(svc.client_metric_lines(), "client_metric_after_poison",
                                    {"app_id": "poison-app", "k": "v"}) == 1.25, what="the good record")

    want = len(poison) * partitions
    copies = stack.read_topic(dlq, min_count=want, timeout=60)
    assert len(copies) == want
    originals = {(m.partition(), m.offset()): m for m in stack.read_topic(topic, min_count=want + 1)}
    seen = set()
    for c in copies:
        origin = (int(header(c, "dlq_partition")), int(header(c, "dlq_offset")))
        assert header(c, "dlq_topic") == topic
        src = originals[origin]
        assert c.value() == src.value() and c.key() == src.key(), origin
        assert c.timestamp() == src.timestamp(), origin
        assert header(c, "app_id") == "poison-app" and header(c, "trace") == header(src, "trace")
        i = int(src.key().decode().rsplit("-", 1)[1])
        _, reason, schema_id = poison[i]
        assert header(c, "dlq_reason") == reason, (i, header(c, "dlq_reason"))
        assert header(c, "dlq_schema_id") == (None if schema_id is None else str(schema_id)), i
        seen.add(origin)
    assert len(seen) == want  # each poison record once
    wait_until(lambda: counter(svc, "mca_consumer_dead_letter_records_total", {"outcome": "delivered"}) == want,
               what="the dead-letter counter")
    assert counter(svc, "mca_consumer_dead_letter_records_total", {"outcome": "failed"}) == 0

    # A restart replays the partitions from now - METRIC_TTL_SECONDS: the poison records are read
    # again, but the committed offsets say they were dead-lettered already.
    svc.check_clean_exit()
    again = start_service(env={"KAFKA_DLQ_TOPIC": dlq})
    again.wait_ready()
    wait_until(lambda: sample_value(again.client_metric_lines(), "client_metric_after_poison",
                                    {"app_id": "poison-app", "k": "v"}) == 1.25, what="the rebuilt store")
    assert counter(again, "mca_consumer_decode_errors_total", {"reason": "bad_magic"}) == partitions
    assert len(stack.read_topic(dlq, min_count=want, timeout=30, idle=3)) == want
    assert counter(again, "mca_consumer_dead_letter_records_total", {"outcome": "delivered"}) == 0


def test_without_a_dead_letter_topic_poison_is_only_counted(stack, topic, start_service):
    svc = start_service()
    svc.wait_ready()
    producer = Producer({"bootstrap.servers": stack.bootstrap})
    producer.produce(topic, value=b"\x01garbage", partition=0)
    assert producer.flush(30) == 0
    wait_until(lambda: counter(svc, "mca_consumer_decode_errors_total", {"reason": "bad_magic"}) == 1,
               what="the decode error")
    assert counter(svc, "mca_consumer_dead_letter_records_total", {"outcome": "delivered"}) == 0
    assert svc.health().json()["components"]["consumer"].get("dlq_topic") is None


def test_a_failed_copy_leaves_the_offset_uncommitted_so_the_next_owner_copies_it(stack, topic, start_service):
    """Nothing rejected is lost: while the dead-letter topic cannot be written (here: a name the
    broker refuses) the copy fails and is counted, consumption goes on, and the poison record's
    offset is not committed; the next consumer of the group copies it."""
    dlq = topic + "-dlq"
    stack.create_topic(dlq, partitions=1)
    broken = start_service(env={"KAFKA_DLQ_TOPIC": "no such topic!"})
    broken.wait_ready()
    producer = Producer({"bootstrap.servers": stack.bootstrap})
    producer.produce(topic, value=b"\x01not a frame", key=b"lost?", partition=0)
    assert producer.flush(30) == 0
    wait_until(lambda: counter(broken, "mca_consumer_dead_letter_records_total", {"outcome": "failed"}) == 1,
               timeout=90, what="the failed copy counted")
    good = {"name": "after_failed_copy", "value": 2.0, "profileId": "p"}
    assert broken.post("dlq-app", [good]).status_code == 200
    wait_until(lambda: sample_value(broken.client_metric_lines(), "client_metric_after_failed_copy",
                                    {"app_id": "dlq-app"}) == 2.0, what="consumption going on")
    broken.check_clean_exit()

    fixed = start_service(env={"KAFKA_DLQ_TOPIC": dlq})
    fixed.wait_ready()
    copies = stack.read_topic(dlq, min_count=1, timeout=60)
    assert [(c.key(), c.value(), header(c, "dlq_reason")) for c in copies] == [(b"lost?", b"\x01not a frame", "bad_magic")]
