"""Schemathesis checks for what a JSON Schema cannot say: the ingest route's partial success.

A batch is answered per item (200 with `accepted` and `rejected`), so an invalid item inside an
otherwise valid batch is not a rejected request, and a schema-valid item can still be rejected for
what the document states in prose (byte lengths of non-ASCII text, empty tag keys, a timestamp past
the receive time plus MAX_FUTURE_SKEW_SECONDS). schemathesis' negative_data_rejection and
positive_data_acceptance are therefore off for that operation (schemathesis.toml), and this check
takes their place, item by item: every metric the document calls invalid must be listed as
rejected, a valid one may be rejected only for those reasons, and a well-formed batch is never
refused as a whole.

Loaded by tests/contract/run.sh through SCHEMATHESIS_HOOKS.
"""
import copy
import json
import pathlib
import time

import jsonschema
import schemathesis
import yaml

INGEST_PATH = "/api/v2/app/{app_id}/metrics"
MAX_FUTURE_SKEW_MS = 3600 * 1000
_SPEC = yaml.safe_load((pathlib.Path(__file__).resolve().parents[2] / "api" / "openapi.yaml").read_text())


def _to_json_schema(node):
    """OpenAPI 3.0 schema object -> JSON Schema (draft 4): `nullable` becomes a null type."""
    if isinstance(node, dict):
        out = {k: _to_json_schema(v) for k, v in node.items() if k not in ("nullable", "example", "format")}
        if node.get("nullable") and "type" in out:
            out["type"] = [out["type"], "null"]
        return out
    if isinstance(node, list):
        return [_to_json_schema(v) for v in node]
    return node


_METRIC = jsonschema.Draft4Validator(_to_json_schema(copy.deepcopy(_SPEC["components"]["schemas"]["Metric"])))
_MAX_BATCH = _SPEC["components"]["schemas"]["MetricBatch"]["properties"]["metrics"]["maxItems"]


def _ascii_only(item):
    return all(s.isascii() for s in _strings(item))


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield k
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)


def _has_unholdable_number(node):
    """True when the body holds a "number" that is not JSON: Python writes NaN and infinities as
    NaN/Infinity, which no JSON parser takes (the spec's 400 invalid_json). Integers of any size
    are JSON numbers, read as doubles: they never refuse the body."""
    if isinstance(node, bool):
        return False
    if isinstance(node, float):
        return node != node or node in (float("inf"), float("-inf"))
    if isinstance(node, dict):
        return any(_has_unholdable_number(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_unholdable_number(v) for v in node)
    return False


def _refused_for_what_the_store_holds(rejection):
    """Documented per-item refusals of valid metrics: the series would pass a series cap or byte
    budget (field "series"), the name becomes the Prometheus name of another name the app
    already writes (field "name"), or the name is written with another type (field "type")."""
    if rejection.get("field") == "series":
        return rejection.get("error", "").startswith("new series refused")
    if rejection.get("field") == "type":  # the name is written with another type (one name, one type)
        return "one name has one type" in rejection.get("error", "")
    return rejection.get("field") == "name" and "for Prometheus, like" in rejection.get("error", "")


def _may_be_rejected_although_valid(item, received_ms):
    value = item.get("value")
    if item.get("type") == "counter" and isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        return True  # a counter increment must not be negative (prose: JSON Schema draft 4 has no if/then)
    ts = item.get("timestamp")
    if isinstance(ts, int) and ts > received_ms - 60_000 + MAX_FUTURE_SKEW_MS:
        return True  # past the skew limit (a minute of slack for the clock read here)
    tags = item.get("tags")
    if isinstance(tags, dict) and "" in tags:
        return True  # tag keys are 1 to 100 bytes; OpenAPI 3.0 has no propertyNames to say so
    if any("\x00" in s for s in _strings(item)):
        return True  # NUL is refused in every string (documented in prose)
    return not _ascii_only(item)


@schemathesis.check
def partial_success_accounts_for_every_item(ctx, response, case):
    if case.operation.method.upper() != "POST" or case.operation.path != INGEST_PATH:
        return None
    body = case.body
    metrics = body.get("metrics") if isinstance(body, dict) else None
    batch_shape_ok = isinstance(metrics, list) and 1 <= len(metrics) <= _MAX_BATCH
    if response.status_code not in (200, 400) or not batch_shape_ok:
        if response.status_code == 200:
            raise AssertionError("200 for a body that is not a batch of 1 to %d metrics" % _MAX_BATCH)
        return None
    answer = json.loads(response.content)
    if response.status_code == 200:
        rejected = answer["rejected"]
        if answer["accepted"] + len(rejected) != len(metrics):
            raise AssertionError(f"accepted {answer['accepted']} + rejected {len(rejected)} != {len(metrics)} items")
    elif answer["error"]["code"] == "no_valid_metrics":
        rejected = answer["error"]["details"]
        if len({d.get("index") for d in rejected}) != len(metrics):
            raise AssertionError("no_valid_metrics must list one error per item")
    elif answer["error"]["code"] == "invalid_app_id":
        return None
    elif answer["error"]["code"] == "invalid_json" and _has_unholdable_number(case.body):
        return None  # NaN/Infinity are not JSON
    else:
        # The body is a well-formed batch: a whole-batch 400 (e.g. invalid_json for a number
        # the parser cannot hold) denies the per-item contract.
        raise AssertionError(f"a batch of {len(metrics)} metrics answered 400 {answer['error']['code']}")

    rejected_at = {r.get("index"): r for r in rejected}
    if len(rejected_at) != len(rejected) or not all(isinstance(i, int) and 0 <= i < len(metrics) for i in rejected_at):
        raise AssertionError(f"rejected indexes must be distinct positions in the batch: {sorted(map(str, rejected_at))}")
    received_ms = int(time.time() * 1000)
    for i, item in enumerate(metrics):
        errors = list(_METRIC.iter_errors(item))
        if errors and i not in rejected_at:
            raise AssertionError(f"item {i} violates the Metric schema ({errors[0].message}) but was accepted")
        if (not errors and i in rejected_at and not _may_be_rejected_although_valid(item, received_ms)
                and not _refused_for_what_the_store_holds(rejected_at[i])):
            raise AssertionError(f"item {i} is a valid Metric but was rejected: {rejected_at[i]}")
    return True
