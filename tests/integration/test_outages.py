"""Failures against the real stack: the broker stopped during steady ingest, the registry down at
start, and poison records on the topic."""
import os
import struct
import subprocess
import threading
import time

import requests
from confluent_kafka import Producer

from conftest import OUTPUT_DIR, free_port, header, sample_value, wait_until

DELIVERY_TIMEOUT_MS = 5000
# The longest an ingest request may take: the delivery timeout plus the HTTP margin the service
# keeps above it. A request that takes longer is a hang.
REQUEST_DEADLINE_S = DELIVERY_TIMEOUT_MS / 1000 + 10


def assert_unavailable(r):
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "unavailable", r.text
    retry_after = r.headers.get("Retry-After")
    assert retry_after is not None and retry_after.isdigit() and int(retry_after) >= 1, r.headers


class SteadyIngest:
    """Posts batches of metrics one after another, each metric carrying a unique `uid` tag, and
    records what each request answered."""

    def __init__(self, svc, app_id, batch=20):
        self.svc, self.app_id, self.batch = svc, app_id, batch
        self.accepted_uids = []
        self.statuses = []  # (status, seconds, phase)
        self.unexpected = []
        self.phase = "before"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._seq = 0

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=REQUEST_DEADLINE_S + 30)

    def count(self, status, phase=None):
        return sum(1 for s, _, p in self.statuses if s == status and (phase is None or p == phase))

    def _run(self):
        while not self._stop.is_set():
            uids = [f"{self._seq}-{i}" for i in range(self.batch)]
            self._seq += 1
            now = int(time.time() * 1000)
            metrics = [{"name": "outage_probe", "value": float(i), "timestamp": now, "tags": {"uid": u},
                        "profileId": "outage"} for i, u in enumerate(uids)]
            phase = self.phase
            started = time.monotonic()
            try:
                r = self.svc.post(self.app_id, metrics, timeout=REQUEST_DEADLINE_S + 20)
            except requests.RequestException as e:
                self.unexpected.append(f"request failed: {e!r}")
                continue
            took = time.monotonic() - started
            self.statuses.append((r.status_code, took, phase))
            if took > REQUEST_DEADLINE_S:
                self.unexpected.append(f"request took {took:.1f}s (status {r.status_code})")
            if r.status_code == 200:
                body = r.json()
                if body != {"accepted": self.batch, "rejected": []}:
                    self.unexpected.append(f"200 with {body}")
                self.accepted_uids.extend(uids)
            elif r.status_code == 503:
                try:
                    assert_unavailable(r)
                except AssertionError as e:
                    self.unexpected.append(str(e))
                time.sleep(0.1)
            else:
                self.unexpected.append(f"status {r.status_code}: {r.text[:300]}")
            time.sleep(0.05)  # steady, not flat out: the topic is read back and decoded in Python


def test_broker_stopped_during_ingest_gives_503_then_recovers_and_loses_nothing_answered_200(
        stack, topic, start_service):
    svc = start_service(env={"DELIVERY_TIMEOUT_MS": str(DELIVERY_TIMEOUT_MS), "MAX_SERIES": "1000000",
                             "MAX_SERIES_PER_APP": "1000000"})
    svc.wait_ready()
    ingest = SteadyIngest(svc, "outage-app")
    ingest.start()
    try:
        wait_until(lambda: ingest.count(200) >= 5, timeout=30, what="steady ingest")
        ingest.phase = "broker down"
        stack.stop_broker()
        wait_until(lambda: ingest.count(503, "broker down") >= 1, timeout=60,
                   what="a 503 while the broker is down")
        # Health reads the last broker probe, made every 5 s and bounded by 2 s (never a request's
        # wait on the network): it says so within 7 s, which can be after the first 503 (a
        # delivery timeout of 5 s).
        wait_until(lambda: svc.health("outage-app").status_code == 503, timeout=20, interval=0.2,
                   what="health saying the broker is down")
        ingest.phase = "broker back"
        stack.start_broker()
        wait_until(lambda: ingest.count(200, "broker back") >= 5, timeout=120,
                   what="ingest to recover after the broker restarted (no service restart)")
    finally:
        ingest.stop()
        if os.path.exists(os.path.join(stack.dir, "kafka")):
            stack.start_broker()  # idempotent: the next tests need the broker

    assert ingest.unexpected == []
    assert svc.proc.poll() is None, "the service must survive the outage"
    accepted = set(ingest.accepted_uids)
    records = stack.read_topic(topic, min_count=len(accepted), timeout=120)
    on_topic = set()
    for msg in records:
        assert header(msg, "app_id") == "outage-app"
        on_topic.add(stack.decode(topic, msg)["tags"]["uid"])
    missing = accepted - on_topic
    assert not missing, f"{len(missing)} of {len(accepted)} metrics answered 200 are not on the topic"
    wait_until(lambda: svc.health("outage-app").status_code == 200, timeout=60, what="healthy again")


def test_registry_down_at_start_is_unhealthy_then_recovers_by_itself(stack, topic, start_service):
    port = free_port()
    registry_url = f"http://127.0.0.1:{port}"
    svc = start_service(env={"SCHEMA_REGISTRY_URL": registry_url})

    r = svc.health("registry-app")
    assert r.status_code == 503, r.text
    registry = r.json()["components"]["registry"]
    assert registry["ok"] is False
    assert registry["kind"] == "confluent"
    assert_unavailable(svc.post("registry-app", [{"name": "early", "value": 1, "profileId": "p"}]))

    os.makedirs(OUTPUT_DIR, exist_ok=True)
    with open(os.path.join(OUTPUT_DIR, f"registry-{port}.log"), "wb") as log:
        proc = subprocess.Popen([stack.registry_bin], stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "SCHEMA_REGISTRY_HOST": "127.0.0.1",
                                     "SCHEMA_REGISTRY_PORT": str(port), "SCHEMA_REGISTRY_STORAGE_TYPE": "memory"})
        try:
            def registry_answers():
                if proc.poll() is not None:
                    raise AssertionError(f"the registry exited with {proc.returncode}")
                try:
                    return requests.get(registry_url + "/subjects", timeout=1).ok
                except requests.RequestException:
                    return False

            wait_until(registry_answers, timeout=30, interval=0.1, what="the late registry")
            svc.wait_ready(timeout=60)
            health = svc.health("registry-app").json()["components"]["registry"]
            assert health["ok"] is True
            assert health["schema_id"] == requests.get(
                f"{registry_url}/subjects/{topic}-value/versions/1", timeout=5).json()["id"]
            r = svc.post("registry-app", [{"name": "late", "value": 2.5, "profileId": "p"}])
            assert r.status_code == 200, r.text
            wait_until(lambda: sample_value(svc.client_metric_lines(), "client_metric_late",
                                            {"app_id": "registry-app"}) == 2.5, what="the metric posted after recovery")
        finally:
            svc.check_clean_exit()  # before the registry goes: its shutdown must not need it
            proc.terminate()
            proc.wait(timeout=30)


def test_poison_records_are_counted_and_skipped_and_later_records_applied(stack, topic, start_service):
    svc = start_service()
    svc.wait_ready()
    our_id = stack.registry.get_version(f"{topic}-value", 1).schema_id  # v1: the seed's, gauges
    poison = [
        b"\x01\x00\x00\x00\x01\x02a",                                  # wrong magic byte
        b"\x00\x00\x00",                                               # shorter than a frame
        b"\x00" + struct.pack(">i", 2_000_000_000) + b"\x02a",         # id the registry does not know
        b"\x00" + struct.pack(">i", our_id) + b"\x0a",                 # body ends inside the name
    ]
    producer = Producer({"bootstrap.servers": stack.bootstrap})
    partitions = len(stack.admin.list_topics(topic, timeout=10).topics[topic].partitions)
    for p in range(partitions):  # on every partition: whichever one the good record lands on
        for value in poison:
            producer.produce(topic, value=value, key=b"poison", partition=p, headers=[("app_id", "poison-app")])
    assert producer.flush(30) == 0
    good = {"name": "after_poison", "value": 1.25, "timestamp": int(time.time() * 1000),
            "tags": {"k": "v"}, "profileId": "ok"}

    r = svc.post("poison-app", [good])

    assert r.status_code == 200, r.text
    wait_until(lambda: sample_value(svc.client_metric_lines(), "client_metric_after_poison",
                                    {"app_id": "poison-app", "k": "v"}) == 1.25,
               what="the record after the poison records")
    # Kafka orders records within a partition only: the poison records of the other partitions
    # may be read after the good one. Every one of them is counted, once.
    wait_until(lambda: svc.app_metrics("poison-app")["consumer"]["decode_errors_total"]
               >= len(poison) * partitions, what="every poison record counted")
    body = svc.app_metrics("poison-app")
    assert body["metrics"] == [good]
    assert body["consumer"]["decode_errors_total"] == len(poison) * partitions
    assert body["consumer"]["consumed_total"] == 1
    assert svc.health("poison-app").status_code == 200
