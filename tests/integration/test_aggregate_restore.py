"""Counters and histograms survive a crash and a failover exactly: the changelog topic
(KAFKA_CHANGELOG_TOPIC) holds snapshots of the aggregates, read back at assignment before the
partition's records after the snapshot are replayed. A SIGKILL between two snapshots must cost
nothing: records below a series' next offset are not counted again, records at or above it are.
The expected values are computed here from what was posted (every post answered 200)."""
import math
import random
import struct
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import ConfigResource

from conftest import sample_value, split_labels, wait_until

APP = "agg-app"
MARKER = b"\x00cut"
LCP = "web_vitals_lcp"


class Expected:
    """What the posts add up to, per series."""

    def __init__(self):
        self.counters = {}  # tag k -> total
        self.observations = []  # LCP values

    def counter_items(self, totals):
        items = []
        for k, inc in totals.items():
            self.counters[k] = self.counters.get(k, 0) + inc
            items.append({"name": "clicks", "type": "counter", "value": inc, "tags": {"k": k},
                          "profileId": f"client-{k}"})
        return items

    def lcp_items(self, values):
        self.observations += values
        return [{"name": LCP, "type": "histogram", "value": v, "profileId": f"client-{i}"}
                for i, v in enumerate(values)]


def post_ok(svc, items):
    r = svc.post(APP, items)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == len(items), r.text


def histogram(lines, name, labels):
    """{le: cumulative count}, sum, count of one histogram series in exposition lines."""
    buckets, total, count = {}, None, None
    for line in lines:
        head, _, value = line.rpartition(" ")
        if head.startswith(name + "_bucket{"):
            got = {}
            for part in split_labels(head[head.index("{") + 1:head.rindex("}")]):
                k, _, v = part.partition("=")
                got[k] = v.strip('"')
            le = got.pop("le")
            if got == labels:
                buckets[math.inf if le == "+Inf" else float(le)] = float(value)
    total = sample_value(lines, name + "_sum", labels)
    count = sample_value(lines, name + "_count", labels)
    return buckets, total, count


def assert_exact(svc, expected):
    """Every counter and the LCP histogram exposed exactly as the posts add up."""
    lines = svc.client_metric_lines()
    for k, total in expected.counters.items():
        got = sample_value(lines, "client_metric_clicks_total", {"app_id": APP, "k": k})
        assert got == total, f"clicks{{k={k}}}: exposed {got}, posted {total}"
    if expected.observations:
        buckets, total, count = histogram(lines, "client_metric_" + LCP, {"app_id": APP})
        assert count == len(expected.observations), (count, len(expected.observations))
        assert math.isclose(total, sum(expected.observations), rel_tol=1e-12), (total, sum(expected.observations))
        assert math.inf in buckets and buckets[math.inf] == count
        for le, cumulative in buckets.items():
            want = sum(1 for v in expected.observations if v <= le)
            assert cumulative == want, f"le={le}: exposed {cumulative}, observed {want}"


def exact(svc, expected):
    try:
        assert_exact(svc, expected)
        return True
    except AssertionError:
        return False


def changelog_name(topic):
    return topic + "-aggregates"


def read_all(stack, topic, timeout=30):
    """Every record of `topic` as (partition, offset, key, value) up to the ends it has now."""
    md = stack.admin.list_topics(topic, timeout=10).topics[topic]
    c = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": "it-changelog-" + uuid.uuid4().hex,
                  "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in md.partitions}
        todo = {p for p, end in ends.items() if end > 0}
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in todo])
        out, deadline = [], time.monotonic() + timeout
        while todo and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                continue
            out.append((m.partition(), m.offset(), m.key(), m.value()))
            if m.offset() + 1 >= ends[m.partition()]:
                todo.discard(m.partition())
        assert not todo, f"{topic}: partitions {todo} not read to their end"
        return out
    finally:
        c.close()


def cuts(records):
    """The newest marker's cut per changelog partition."""
    out = {}
    for p, _, key, value in records:
        if key == MARKER:
            out[p] = struct.unpack(">q", value[1:9])[0] if value else None
    return out


def ends(stack, topic):
    md = stack.admin.list_topics(topic, timeout=10).topics[topic]
    c = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": "it-ends-" + uuid.uuid4().hex})
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in md.partitions}
    finally:
        c.close()


def snapshotted(stack, topic):
    """True when every partition's marker covers all of the topic's records."""
    e = ends(stack, topic)
    try:
        c = cuts(read_all(stack, changelog_name(topic)))
    except (AssertionError, KeyError):
        return False
    return all(end == 0 or (c.get(p) or 0) >= end for p, end in e.items())


def fill(expected, seed, n_counters=12, n_lcp=40):
    rnd = random.Random(seed)
    items = expected.counter_items({str(i): rnd.randint(1, 50) for i in range(n_counters)})
    # Spread around the LCP thresholds, with values exactly on likely bounds too.
    values = [rnd.choice([rnd.uniform(0, 6000), 2500.0, 4000.0, 1000.0]) for _ in range(n_lcp)]
    return items + expected.lcp_items(values)


def first_run(start_service, expected, *seeds, env=None):
    """A service that counts the posts of `seeds` exactly; returned running."""
    first = start_service(env=env)
    first.wait_ready()
    for seed in seeds:
        post_ok(first, fill(expected, seed))
    wait_until(lambda: exact(first, expected), timeout=30, what="first run exact")
    return first


def test_the_changelog_is_created_compacted_with_the_topic_partition_count(stack, topic, start_service):
    svc = start_service()
    svc.wait_ready()
    name = changelog_name(topic)
    wait_until(lambda: name in stack.admin.list_topics(timeout=5).topics, timeout=30, what="changelog created")
    md = stack.admin.list_topics(name, timeout=10).topics[name]
    assert len(md.partitions) == 3
    res = ConfigResource(ConfigResource.Type.TOPIC, name)
    config = stack.admin.describe_configs([res])[res].result(timeout=30)
    assert config["cleanup.policy"].value == "compact"


def test_counters_and_a_histogram_continue_exactly_after_a_sigkill_between_snapshots(stack, topic, start_service):
    env = {"AGGREGATE_SNAPSHOT_INTERVAL_MS": "5000"}
    expected = Expected()
    first = first_run(start_service, expected, 1, 2, env=env)
    wait_until(lambda: snapshotted(stack, topic), timeout=60, what="a snapshot covering the first posts")
    # Between two snapshots: more of the same series and new ones, then SIGKILL at once.
    post_ok(first, fill(expected, 3, n_counters=16))
    post_ok(first, fill(expected, 4, n_counters=8))
    first.kill()
    assert not snapshotted(stack, topic), "the test needs records after the last snapshot"

    second = start_service(env=env)
    second.wait_ready()
    assert_exact(second, expected)
    assert "changelog entries restored, cut" in second.output()
    # And on from there: the restarted run counts new records on top.
    post_ok(second, fill(expected, 5))
    wait_until(lambda: exact(second, expected), timeout=30, what="counting on after the restart")


def test_a_second_instance_taking_over_a_partition_continues_the_counts(stack, topic, start_service):
    env = {"AGGREGATE_SNAPSHOT_INTERVAL_MS": "3000", "KAFKA_GROUP_INSTANCE_ID": "", "KAFKA_SESSION_TIMEOUT_MS": "6000"}
    expected = Expected()
    a = start_service(env=env)
    a.wait_ready()
    b = start_service(env=env)
    b.wait_ready()

    def assigned(svc):
        return sorted(svc.health().json()["components"]["consumer"]["assigned_partitions"])

    wait_until(lambda: assigned(a) and assigned(b) and sorted(assigned(a) + assigned(b)) == [0, 1, 2],
               timeout=60, what="the partitions split over both instances")
    post_ok(a, fill(expected, 11))
    wait_until(lambda: snapshotted(stack, topic), timeout=60, what="a snapshot")
    post_ok(b, fill(expected, 12, n_counters=20))
    a_had = assigned(a)
    a.kill()
    # b gets a's partitions after the session timeout and restores them from the changelog.
    wait_until(lambda: assigned(b) == [0, 1, 2] and b.health().status_code == 200, timeout=60,
               what="the survivor owning every partition")
    wait_until(lambda: exact(b, expected), timeout=30, what="the survivor exact")
    assert_exact(b, expected)
    assert a_had
    post_ok(b, fill(expected, 13))
    wait_until(lambda: exact(b, expected), timeout=30, what="counting on after the takeover")


def produce_to_changelog(stack, topic, records):
    """records: (partition, key, value or None)."""
    p = Producer({"bootstrap.servers": stack.bootstrap})
    for partition, key, value in records:
        p.produce(changelog_name(topic), key=key, value=value, partition=partition)
    assert p.flush(30) == 0


def test_a_corrupt_changelog_value_is_rejected_and_its_series_replayed(stack, topic, start_service):
    expected = Expected()
    first_run(start_service, expected, 21).check_clean_exit()  # the last snapshot is written at revocation
    states = [(p, key, value) for p, _, key, value in read_all(stack, changelog_name(topic))
              if key != MARKER and value]
    assert states
    p, key, value = states[0]
    flipped = bytearray(value)
    flipped[len(flipped) // 2] ^= 0x40
    produce_to_changelog(stack, topic, [(p, key, bytes(flipped)), (p, key + b"x", b"\x01garbage")])

    second = start_service()
    second.wait_ready()
    assert_exact(second, expected)
    out = second.output()
    assert "unreadable changelog state" in out, out[-3000:]
    rejected = sample_value(second.exposition().splitlines(), "mca_changelog_unreadable_states_total", {})
    assert rejected == 2


def test_restore_without_a_marker_replays_from_the_beginning(stack, topic, start_service):
    expected = Expected()
    first_run(start_service, expected, 31).check_clean_exit()
    # An owner that died before its first marker: states, no marker.
    produce_to_changelog(stack, topic, [(p, MARKER, None) for p in range(3)])

    second = start_service()
    second.wait_ready()
    assert_exact(second, expected)
    assert "no complete snapshot: replay from the beginning" in second.output()


def test_a_restarted_replica_shows_no_counter_while_it_replays_the_partition(stack, topic, start_service):
    """Until a partition is read to where it ended at assignment, its series are a restored
    snapshot plus part of the replay: lower than what was shown before the crash. Prometheus
    takes a counter that goes down for a reset (rate() and increase() jump), so a replica shows
    nothing of a partition while it rebuilds it: a gap, then the exact value. Without a snapshot
    the restart replays all 20,000 records (40 polls and more); a scraper polling from the
    moment the port answers sees nothing or the total, never a count on its way up."""
    env = {"AGGREGATE_SNAPSHOT_INTERVAL_MS": "3600000"}  # no marker: replay from the beginning
    first = start_service(env=env)
    first.wait_ready()
    posts, per_post = 100, 200
    for i in range(posts):
        post_ok(first, [{"name": "clicks", "type": "counter", "value": 1, "tags": {"k": "replayed"},
                         "profileId": f"client-{i}-{j}"} for j in range(per_post)])
    total = posts * per_post
    labels = {"app_id": APP, "k": "replayed"}
    wait_until(lambda: sample_value(first.client_metric_lines(), "client_metric_clicks_total", labels) == total,
               timeout=30, what="the first run counting every post")
    first.kill()

    second = start_service(env=env)  # returns once the port answers
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        seen.append(sample_value(second.client_metric_lines(), "client_metric_clicks_total", labels))
        if seen[-1] == total and second.healthy():
            break
    assert seen and seen[-1] == total, f"never shown exactly: the last 10 scrapes {seen[-10:]}"
    shown = sorted({v for v in seen if v is not None})
    assert shown == [total], f"shown while replaying: {shown[:10]} over {len(seen)} scrapes"
    assert "rebuilt, its series shown" in second.output()
