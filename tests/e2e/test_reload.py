"""SIGHUP reloads the API keys and the TLS files together, over HTTPS, without dropping the
connections that are open."""
import hashlib
import json
import shutil
import signal

import pytest
import requests

from conftest import seed_metric
from harness import wait_until
from test_https import make_cert, pki, tls_options  # noqa: F401 (pki is a fixture)

OLD = "mca_reload-test-old-key-000000000000000000000001"
NEW = "mca_reload-test-new-key-000000000000000000000002"


def keys_doc(key, key_id):
    return {"keys": [{"id": key_id, "sha256": hashlib.sha256(key.encode()).hexdigest(), "scopes": ["admin"]}]}


def test_sighup_reloads_keys_and_certificate_without_dropping_connections(pki, tmp_path, start_service):
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    shutil.copy(pki["server"][0], cert)
    shutil.copy(pki["server"][1], key)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(keys_doc(OLD, "old")))
    svc = start_service(**tls_options(pki, env={"API_KEYS_FILE": str(keys), "TLS_CERT_FILE": str(cert),
                                               "TLS_KEY_FILE": str(key)}))
    # verify= on every call: a session's own setting loses to REQUESTS_CA_BUNDLE when that is set.
    with requests.Session() as open_conn:
        r = open_conn.post(svc.base + "/api/v2/app/a/metrics", json={"metrics": [seed_metric()]},
                           headers={"Authorization": f"Bearer {OLD}"}, verify=pki["ca"], timeout=10)
        assert r.status_code == 200, r.text
        assert requests.get(svc.base + "/prometheus-metrics", verify=pki["ca"], timeout=10).status_code == 401

        # A certificate from another CA and a new key, then the signal.
        new_cert, new_key = make_cert(pki["dir"], "other-ca", "server-renewed")
        shutil.copy(new_cert, cert)
        shutil.copy(new_key, key)
        keys.write_text(json.dumps(keys_doc(NEW, "new")))
        svc.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "reloaded 1 keys" in svc.stderr() and "tls: reloaded" in svc.stderr(),
                   timeout=10, what="both reloads logged")

        # The open connection still works (it keeps the certificate it was made with: a new
        # connection would present the renewed one, which the old CA cannot verify) and it
        # already follows the new keys.
        r = open_conn.post(svc.base + "/api/v2/app/a/metrics", json={"metrics": [seed_metric()]},
                           headers={"Authorization": f"Bearer {OLD}"}, verify=pki["ca"], timeout=10)
        assert r.status_code == 401
        r = open_conn.post(svc.base + "/api/v2/app/a/metrics", json={"metrics": [seed_metric()]},
                           headers={"Authorization": f"Bearer {NEW}"}, verify=pki["ca"], timeout=10)
        assert r.status_code == 200

    # New connections get the renewed certificate: the old CA no longer verifies it.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(svc.base + "/livez", verify=pki["ca"], timeout=5)
    r = requests.get(svc.base + "/prometheus-metrics", verify=pki["other_ca"],
                     headers={"X-API-Key": NEW}, timeout=10)
    assert r.status_code == 200
    assert 'mca_auth_reloads_total{outcome="success"} 1' in r.text
    assert OLD not in svc.stderr() and NEW not in svc.stderr()
