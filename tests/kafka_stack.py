"""The Kafka broker and Schema Registry of scripts/stack as the Kafka suites (tests/integration,
tests/scale) see them: running it for a session, topics, reading a topic back with Confluent's
Python client, and the service settings that point a run of the binary at it."""
import contextlib
import os
import subprocess
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from harness import ROOT, read_env_file, wait_until

STACK = os.path.join(ROOT, "scripts/stack")


@contextlib.contextmanager
def running_stack(directory, env=None):
    """The stack in `directory`: reused (and left running) when it already runs there, else
    started for this block and always torn down (MCA_KEEP_STACK=1 keeps it). `env`: the
    environment scripts/stack runs in."""
    def stack(*args, **kw):
        return subprocess.run([STACK, *args, "--dir", directory], env=env, **kw)

    if stack("status", stdout=subprocess.DEVNULL, timeout=60).returncode == 0:
        yield
        return
    # A killed run may have left processes or data behind: start from nothing.
    stack("down", check=True, timeout=120)
    try:
        stack("up", check=True, timeout=900)
        yield
    finally:
        if os.environ.get("MCA_KEEP_STACK") != "1":
            stack("down", timeout=120)


class Stack:
    """The broker and registry that scripts/stack runs in STACK_DIR."""

    def __init__(self, directory):
        self.dir = directory
        self.env = read_env_file(os.path.join(directory, "env"))
        self.info = read_env_file(os.path.join(directory, "stack.info"))
        self.bootstrap = self.env["KAFKA_BOOTSTRAP_SERVERS"]
        self.registry_url = self.env["SCHEMA_REGISTRY_URL"]
        self.registry_bin = self.info["REGISTRY_BIN"]
        self.admin = AdminClient({"bootstrap.servers": self.bootstrap})
        self.registry = SchemaRegistryClient({"url": self.registry_url})

    def run(self, *args):
        subprocess.run([STACK, *args, "--dir", self.dir], check=True, timeout=300)

    def stop_broker(self):
        self.run("stop-broker")

    def start_broker(self):
        self.run("start-broker")

    def create_topic(self, name, partitions=3):
        futures = self.admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        futures[name].result(timeout=30)
        # Metadata reaches every client shortly after creation: wait until the broker lists it.
        wait_until(lambda: name in self.admin.list_topics(timeout=5).topics, timeout=30,
                   what=f"topic {name} in metadata")

    def read_topic(self, topic, min_count=0, timeout=30.0, idle=2.0):
        """Every record on `topic` from the beginning: waits until at least min_count were read,
        then until no new record arrived for `idle` seconds."""
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "it-reader-" + uuid.uuid4().hex,
                      "auto.offset.reset": "earliest", "enable.auto.commit": False})
        try:
            md = self.admin.list_topics(topic, timeout=10).topics[topic]
            c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in md.partitions])
            records = []
            deadline = time.monotonic() + timeout
            last_new = time.monotonic()
            while time.monotonic() < deadline:
                msg = c.poll(0.2)
                if msg is None:
                    if len(records) >= min_count and time.monotonic() - last_new >= idle:
                        break
                    continue
                if msg.error():
                    continue
                records.append(msg)
                last_new = time.monotonic()
            assert len(records) >= min_count, f"{len(records)} records on {topic}, wanted {min_count}"
            return records
        finally:
            c.close()

    def deserializer(self):
        return AvroDeserializer(self.registry)

    def decode(self, topic, msg):
        return self.deserializer()(msg.value(), SerializationContext(topic, MessageField.VALUE))


    def service_env(self, topic, group):
        """A service's settings for this stack and a topic (text logs, which the tests read)."""
        return {"LOG_FORMAT": "text", "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "KAFKA_TOPIC": topic,
                "KAFKA_CONSUMER_GROUP": group, "SCHEMA_REGISTRY_URL": self.registry_url}
