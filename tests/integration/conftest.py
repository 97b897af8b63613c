"""Integration harness: a real Kafka broker and Schema Registry (scripts/stack), the real binary
(MCA_BINARY) over HTTP, and Confluent's Python client as the independent reference.

Every test gets its own topic (3 partitions) and consumer group, and starts its own service
instances, so tests do not see each other's records. The stack is started once per session and
always torn down (MCA_KEEP_STACK=1 keeps it for debugging).
"""
import itertools
import json
import os
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import ROOT, Service, free_port, services, wait_until  # noqa: E402,F401
from kafka_stack import Stack, running_stack  # noqa: E402

STACK_DIR = os.environ.get("MCA_STACK_DIR", os.path.join(ROOT, ".stack/integration"))
SCHEMA_FILE = os.path.join(ROOT, "schemas/metric.avsc")
OUTPUT_DIR = os.path.join(ROOT, "tests/output/integration")


@pytest.fixture(scope="session")
def stack():
    with running_stack(STACK_DIR):
        yield Stack(STACK_DIR)


@pytest.fixture
def topic(stack, request):
    name = f"it-{request.node.name[5:40].replace('_', '-')}-{uuid.uuid4().hex[:8]}"
    stack.create_topic(name)
    return name


@pytest.fixture
def start_service(stack, topic, request):
    """start_service(env=None, group=None) -> a running Service on this test's topic. Every
    service is stopped at the end of the test and must exit cleanly."""
    default_group = "it-" + uuid.uuid4().hex[:12]
    count = itertools.count()

    def make(env=None, group=None):
        return Service(env={**stack.service_env(topic, group or default_group), **(env or {})},
                       name=f"{request.node.name}-{next(count)}", log_dir=OUTPUT_DIR)

    with services(make) as start:
        yield start


def metric_schema_text():
    with open(SCHEMA_FILE) as f:
        return f.read()


def evolved_schema_text():
    """Version 2 of Metric: one optional field with a default (a backward-compatible change)."""
    s = json.loads(metric_schema_text())
    s["fields"].append({"name": "unit", "type": ["null", "string"], "default": None,
                        "doc": "Unit of the value"})
    return json.dumps(s)


def header(msg, name):
    for k, v in msg.headers() or []:
        if k == name:
            return v.decode() if isinstance(v, bytes) else v
    return None


def sample_value(lines, name, labels):
    """The value of the sample `name{labels}` in exposition lines, labels in any order, or None."""
    for line in lines:
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        got = {}
        if "{" in head:
            body = head[head.index("{") + 1:head.rindex("}")]
            for part in split_labels(body):
                k, _, v = part.partition("=")
                got[k] = json.loads(v)
        if got == labels:
            return float(value)
    return None


def split_labels(body):
    parts, cur, quoted, esc = [], "", False, False
    for ch in body:
        if esc:
            cur += ch
            esc = False
        elif ch == "\\":
            cur += ch
            esc = True
        elif ch == '"':
            cur += ch
            quoted = not quoted
        elif ch == "," and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        parts.append(cur)
    return parts
