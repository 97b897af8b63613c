"""The optional "type" of a metric item (gauge by default, counter, histogram) on the real binary:
accepted or rejected per item with its index and field, and the two Avro schemas behind it."""
import hashlib
import json
import os

import requests

from conftest import ROOT, run_binary, seed_metric


def decode_errors(service):
    total = 0.0
    for line in service.exposition().splitlines():
        if line.startswith("mca_consumer_decode_errors_total{"):
            total += float(line.split()[-1])
    return total


def rejected_of(service, app, metrics, accepted):
    """Posts `metrics` for `app`; checks the 200 took `accepted` of them and returns the rest."""
    r = service.post_metrics(app, metrics)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == accepted
    return body["rejected"]


def test_type_is_accepted_per_item_and_every_record_is_read_back(service):
    metrics = [
        seed_metric(),                                                 # no type: a gauge
        seed_metric(name="requests", value=3, type="counter"),
        seed_metric(name="lcp", value=1234.5, type="histogram"),
        seed_metric(name="temp", type="gauge"),
        seed_metric(name="mem", type=None),                            # null: a gauge
        seed_metric(name="zero", value=0, type="counter"),             # a zero increment is fine
    ]
    r = service.post_metrics("types", metrics)
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 6, "rejected": []}
    service.wait_consumed(6)
    assert decode_errors(service) == 0


def test_an_unknown_type_rejects_its_item_with_index_and_field_type(service):
    metrics = [
        seed_metric(name="ok_gauge"),
        seed_metric(name="a", type="summary"),
        seed_metric(name="b", type="Counter"),
        seed_metric(name="ok_counter", type="counter"),
        seed_metric(name="c", type=7),
        seed_metric(name="d", type={"kind": "counter"}),
        seed_metric(name="e", type="counter", value=-1),
    ]
    rejected = rejected_of(service, "types", metrics, 2)
    got = [(x["index"], x["field"]) for x in rejected]
    assert got == [(1, "type"), (2, "type"), (4, "type"), (5, "type"), (6, "value")]
    assert rejected[0]["error"] == 'must be "gauge", "counter" or "histogram"'
    assert rejected[2]["error"] == 'must be "gauge", "counter" or "histogram", got a number'
    assert rejected[4]["error"] == "a counter increment must not be negative"


def test_a_batch_of_only_unknown_types_is_400_no_valid_metrics_listing_each(service):
    r = service.post_metrics("types", [seed_metric(type="timer"), seed_metric(type="")])
    assert r.status_code == 400
    e = r.json()["error"]
    assert e["code"] == "no_valid_metrics"
    assert [(d["index"], d["field"]) for d in e["details"]] == [(0, "type"), (1, "type")]


def test_health_names_both_schema_ids_of_the_embedded_registry(service):
    h = requests.get(service.url("/api/v2/app/types/health"), timeout=10).json()
    info = h["components"]["registry"] if "components" in h else h["registry"]
    flat = json.dumps(info)
    assert '"schema_id": 1' in flat and '"typed_schema_id": 2' in flat, flat


def test_the_seed_schema_file_is_unchanged_and_v2_is_it_plus_type():
    with open(os.path.join(ROOT, "schemas/metric.avsc"), "rb") as f:
        seed = f.read()
    # The seed's file, byte for byte (a gauge record is exactly the seed's record).
    assert hashlib.sha256(seed).hexdigest() == "85db4a1258b3f28077aba778e4b9ce629858cefcffcade59f1d75e591583558a"
    with open(os.path.join(ROOT, "schemas/metric.v2.avsc")) as f:
        v2 = json.load(f)
    v1 = json.loads(seed)
    assert {k: v for k, v in v2.items() if k != "fields"} == {k: v for k, v in v1.items() if k != "fields"}
    assert v2["fields"][:-1] == v1["fields"]
    last = v2["fields"][-1]
    assert (last["name"], last["type"], last["default"]) == ("type", "string", "gauge")
    assert last["doc"]


def test_an_invalid_v2_schema_file_refuses_to_start(tmp_path):
    with open(os.path.join(ROOT, "schemas/metric.v2.avsc")) as f:
        v2 = json.load(f)
    del v2["fields"][-1]["default"]
    bad = tmp_path / "metric.v2.avsc"
    bad.write_text(json.dumps(v2))
    r = run_binary(env={"SCHEMA_V2_FILE": str(bad), "PORT": "0"})
    assert r.returncode == 2, r.stderr
    assert "default" in r.stderr and "gauge" in r.stderr, r.stderr
    r = run_binary(env={"SCHEMA_V2_FILE": os.path.join(ROOT, "schemas/metric.avsc"), "PORT": "0"})
    assert r.returncode == 2
    assert "missing field 'type'" in r.stderr, r.stderr


def test_a_long_type_string_is_rejected_without_being_echoed(service):
    long_type = "counter" * 20_000  # 140 kB, within MAX_BODY_BYTES
    r = service.post_metrics("types", [seed_metric(type=long_type), seed_metric(name="ok")])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 1
    assert [(x["index"], x["field"]) for x in body["rejected"]] == [(0, "type")]
    assert len(r.content) < 1000


def test_one_name_has_one_type_per_app_and_across_apps(service):
    [rej] = rejected_of(service, "shop", [seed_metric(name="clicks", type="counter"),
                                          seed_metric(name="lcp", type="histogram"),
                                          seed_metric(name="clicks", type="gauge", tags={"host": "b"})],
                        accepted=2)
    assert (rej["index"], rej["field"]) == (2, "type")
    assert "a counter this app writes" in rej["error"], rej["error"]

    # Names that are exposed alike collide too, in this app and in another one.
    rejected = rejected_of(service, "shop", [
        seed_metric(name="clicks_total"),                    # gauge client_metric_clicks_total
        seed_metric(name="lcp_bucket"),                      # gauge client_metric_lcp_bucket
        seed_metric(name="lcp_sum", type="counter"),         # client_metric_lcp_sum_total: fine
        seed_metric(name="lcp", type="histogram", tags={"page": "/"})], accepted=2)
    assert [(x["index"], x["field"]) for x in rejected] == [(0, "type"), (1, "type")]
    assert "a counter" in rejected[0]["error"]
    assert "a histogram" in rejected[1]["error"]

    [rej] = rejected_of(service, "blog", [seed_metric(name="lcp", type="gauge"),
                                          seed_metric(name="lcp", type="histogram"),
                                          seed_metric(name="clicks", type="counter")],
                        accepted=2)
    assert (rej["index"], rej["field"]) == (0, "type")
    assert "a histogram another app writes" in rej["error"], rej["error"]

    # Every refusal is counted by reason.
    text = service.exposition()
    assert 'mca_ingest_series_refused_total{reason="type_conflict"} 4' in text, \
        [l for l in text.splitlines() if "refused_total" in l]


def test_a_type_conflict_everywhere_is_400_no_valid_metrics(service):
    assert service.post_metrics("solo", [seed_metric(name="hits", type="counter")]).status_code == 200
    r = service.post_metrics("solo", [seed_metric(name="hits"), seed_metric(name="hits_total")])
    assert r.status_code == 400
    e = r.json()["error"]
    assert e["code"] == "no_valid_metrics"
    assert [(d["index"], d["field"]) for d in e["details"]] == [(0, "type"), (1, "type")]
