"""Group membership on SIGTERM: a static member (KAFKA_GROUP_INSTANCE_ID) keeps its partitions
for a restart; with KAFKA_LEAVE_GROUP_ON_SHUTDOWN=true it leaves at once (a scale-down); a
restarted static member gets its own partitions back."""
import time

from conftest import wait_until

# Long enough that "moved at once" and "moved after the session timeout" cannot be confused.
SESSION_MS = 30000


def assigned(svc):
    return sorted(svc.health().json()["components"]["consumer"]["assigned_partitions"])


def pair(start_service, leave):
    env = {"KAFKA_SESSION_TIMEOUT_MS": str(SESSION_MS), "KAFKA_HEARTBEAT_INTERVAL_MS": "1000"}
    a = start_service(env=dict(env, KAFKA_GROUP_INSTANCE_ID="member-a"))
    a.wait_ready()
    b = start_service(env=dict(env, KAFKA_GROUP_INSTANCE_ID="member-b",
                               KAFKA_LEAVE_GROUP_ON_SHUTDOWN="true" if leave else "false"))
    b.wait_ready()
    wait_until(lambda: len(assigned(a)) + len(assigned(b)) == 3 and assigned(b), timeout=60,
               what="the partitions split over both members")
    return a, b


def test_a_static_member_leaving_on_sigterm_hands_its_partitions_over_at_once(start_service):
    a, b = pair(start_service, leave=True)
    stopped = time.monotonic()
    b.check_clean_exit()
    wait_until(lambda: assigned(a) == [0, 1, 2], timeout=SESSION_MS / 1000 / 2,
               what="the survivor owning every partition well before the session timeout")
    moved_after = time.monotonic() - stopped
    assert moved_after < SESSION_MS / 1000 / 2
    assert "left group" in b.output()


def test_a_static_member_stopping_keeps_its_partitions_and_gets_them_back(start_service, stack, topic):
    a, b = pair(start_service, leave=False)
    held_by_b, held_by_a = assigned(b), assigned(a)
    b.check_clean_exit()
    # No rebalance: the survivor does not get b's partitions while b may still come back.
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        assert assigned(a) == held_by_a
        time.sleep(0.5)
    # The same member id comes back and gets its own partitions, the survivor keeps its own.
    back = start_service(env={"KAFKA_SESSION_TIMEOUT_MS": str(SESSION_MS), "KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
                              "KAFKA_GROUP_INSTANCE_ID": "member-b"})
    back.wait_ready()
    assert assigned(back) == held_by_b
    assert assigned(a) == held_by_a
