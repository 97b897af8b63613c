"""The service against a Kerberized, a SCRAM and a TLS Kafka listener: the seed walk-through on
each, and the failures an operator meets first (wrong keytab, unknown principal, wrong password,
untrusted certificate): the service still starts, reports 503 on health, logs what is wrong
without any secret, and works once the setting is fixed and it is restarted."""
import os
import subprocess
import uuid

import pytest

from conftest import read_env_file, seed_metric, wait_refused, wait_until, walk_through


def log_says(service, *texts, timeout=30):
    """Until the service's output contains every one of texts (librdkafka and kinit write from
    their own threads and processes, so a line may follow the health change it explains)."""
    wait_until(lambda: all(t in service.output() for t in texts), timeout=timeout,
               what=f"{texts!r} in {service.log_path}")


def refused(start_service, env_file, mark, *log_texts):
    """A service on a broken env file: up, health 503 naming `mark`, its log saying log_texts;
    returned stopped, with the health body."""
    service = start_service(env_file)
    body = wait_refused(service, mark)
    log_says(service, *log_texts)
    service.stop()
    return service, body


@pytest.mark.parametrize("mode", ["kerberos", "scram", "tls", "mtls"])
def test_seed_walk_through_reaches_the_exposition_over_each_secure_listener(secure_stack, start_service, mode):
    service = start_service(secure_stack.env_file(mode))
    walk_through(service)
    body = service.health().json()
    assert body["components"]["transport"]["kind"] == "kafka"
    assert body["components"]["consumer"]["assigned_partitions"], body


@pytest.mark.parametrize("mode,secret", [("scram", "KAFKA_SASL_PASSWORD"), ("mtls", "KAFKA_SSL_KEY_PASSWORD")])
def test_secrets_never_reach_the_log_or_the_printed_config(secure_stack, start_service, mode, secret):
    env_file = secure_stack.env_file(mode)
    value = read_env_file(env_file)[secret]
    service = start_service(env_file)
    walk_through(service)
    service.stop()
    assert value not in service.output()

    printed = subprocess.run([os.environ["MCA_BINARY"], "--env-file", env_file, "--print-config"],
                             capture_output=True, text=True, timeout=30)
    assert printed.returncode == 0, printed.stderr
    assert secret in printed.stdout
    assert value not in printed.stdout + printed.stderr


def test_wrong_keytab_is_reported_and_fixed_by_the_right_one(secure_stack, start_service, env_file_with):
    good = secure_stack.env_file("kerberos")
    # A valid keytab, but of another principal (other@TEST.LOCAL): kinit cannot get a ticket
    # for metrics@TEST.LOCAL from it.
    bad = env_file_with(good, KAFKA_SASL_KERBEROS_KEYTAB=secure_stack.path("negative", "other.keytab"))
    _, body = refused(start_service, bad, "_AUTHENTICATION",
                      "Keytab contains no suitable keys for metrics@TEST.LOCAL", "Kerberos ticket refresh failed")
    assert body["components"]["transport"]["ok"] is False

    walk_through(start_service(good))


def test_unknown_principal_is_reported_and_fixed_by_a_known_one(secure_stack, start_service, env_file_with):
    good = secure_stack.env_file("kerberos")
    # Keys of retired@TEST.LOCAL, a principal since deleted from the KDC.
    bad = env_file_with(good, KAFKA_SASL_KERBEROS_KEYTAB=secure_stack.path("negative", "retired.keytab"),
                        KAFKA_SASL_KERBEROS_PRINCIPAL="retired@TEST.LOCAL")
    refused(start_service, bad, "_AUTHENTICATION", "Client 'retired@TEST.LOCAL' not found in Kerberos database")

    walk_through(start_service(good))


def test_wrong_scram_password_is_reported_without_the_password_and_fixed_by_the_right_one(
        secure_stack, start_service, env_file_with):
    good = secure_stack.env_file("scram")
    right_password = read_env_file(good)["KAFKA_SASL_PASSWORD"]
    wrong_password = "wrong-" + uuid.uuid4().hex
    bad = env_file_with(good, KAFKA_SASL_PASSWORD=wrong_password)
    service = start_service(bad)
    wait_refused(service, "invalid credentials")
    # A write is refused with 503, never accepted while the broker refuses the service.
    r = service.post("my-app", [seed_metric("user-refused")])
    assert r.status_code == 503, r.text
    assert r.headers.get("Retry-After")
    service.stop()
    log = service.output()
    assert "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512" in log
    assert wrong_password not in log
    assert right_password not in log

    fixed = start_service(good)
    walk_through(fixed)
    fixed.stop()
    assert right_password not in fixed.output()


def test_untrusted_broker_certificate_is_reported_and_fixed_by_the_right_ca(
        secure_stack, start_service, env_file_with):
    good = secure_stack.env_file("tls")
    # A CA that did not sign the broker's certificate.
    bad = env_file_with(good, KAFKA_SSL_CA_LOCATION=secure_stack.path("negative", "rogue-ca.pem"))
    _, body = refused(start_service, bad, "certificate verify failed", "broker certificate could not be verified")
    assert body["components"]["consumer"]["ok"] is False

    walk_through(start_service(good))


def test_untrusted_certificate_on_the_scram_listener_is_refused_before_the_password_is_sent(
        secure_stack, start_service, env_file_with):
    good = secure_stack.env_file("scram")
    password = read_env_file(good)["KAFKA_SASL_PASSWORD"]
    bad = env_file_with(good, KAFKA_SSL_CA_LOCATION=secure_stack.path("negative", "rogue-ca.pem"))
    service, _ = refused(start_service, bad, "certificate verify failed")
    log = service.output()
    assert "certificate verify failed" in log
    assert "invalid credentials" not in log  # the handshake failed first: no SASL exchange at all
    assert password not in log


def test_librdkafka_renews_the_ticket_with_the_configured_kinit_command(
        secure_stack, start_service, env_file_with, tmp_path):
    good = secure_stack.env_file("kerberos")
    runs = tmp_path / "kinit-runs"
    # librdkafka substitutes %{...} with its properties; the command also counts its runs.
    command = f'kinit -t "%{{sasl.kerberos.keytab}}" -k %{{sasl.kerberos.principal}} && echo ran >> {runs}'
    env_file = env_file_with(good, KAFKA_SASL_KERBEROS_KINIT_CMD=f"'{command}'",
                             KAFKA_PROPERTY_SASL_KERBEROS_MIN_TIME_BEFORE_RELOGIN="1000")
    service = start_service(env_file)
    walk_through(service)
    # Once at start and then every second, by the producer and the consumer each.
    wait_until(lambda: runs.exists() and len(runs.read_text().splitlines()) >= 6, timeout=30,
               what="kinit run again by librdkafka")
    assert service.health().status_code == 200


def test_a_ticket_cache_kept_by_another_process_is_used_when_refresh_is_off(
        secure_stack, start_service, env_file_with, tmp_path):
    good = secure_stack.env_file("kerberos")
    settings = read_env_file(good)
    ccache = str(tmp_path / "external.ccache")
    subprocess.run(["kinit", "-k", "-t", settings["KAFKA_SASL_KERBEROS_KEYTAB"],
                    settings["KAFKA_SASL_KERBEROS_PRINCIPAL"]], check=True, timeout=30,
                   env={**os.environ, "KRB5_CONFIG": settings["KRB5_CONFIG"], "KRB5CCNAME": "FILE:" + ccache})
    # No keytab, no principal: the service only uses the ticket cache (as with a sidecar running
    # kinit or k5start); min.time.before.relogin=0 keeps librdkafka from running kinit itself.
    env_file = env_file_with(good, KAFKA_SASL_KERBEROS_KEYTAB=None, KAFKA_SASL_KERBEROS_PRINCIPAL=None,
                             KAFKA_PROPERTY_SASL_KERBEROS_MIN_TIME_BEFORE_RELOGIN="0")
    service = start_service(env_file, ccache=ccache)
    walk_through(service)
