"""Fresh-machine check of the scripts: every external command scripts/stack, scripts/secure-stack,
scripts/bench (and run, test) call comes from a Debian package the script itself ensures, from
what ./scripts/run installs (BUILD_PACKAGES), or from Debian's essential/required base system,
counting the packages those pull in. A command found in none of them is one a fresh machine
lacks (kcat in scripts/stack was: "Kafka broker did not answer within 90s")."""
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from install_lists import SCRIPTS, allowed_packages, commands, ensured_packages, package_of  # noqa: E402


def missing_packages(script):
    allowed = allowed_packages(script)
    return {cmd: package_of(cmd) for cmd in sorted(commands(script))
            if package_of(cmd) is None or package_of(cmd) not in allowed}


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_command_comes_from_an_ensured_package(script):
    if not shutil.which("dpkg-query") or not shutil.which("apt-cache"):
        pytest.skip("needs a Debian system")
    missing = missing_packages(script)
    assert missing == {}, f"{script} calls commands its install lists do not provide: {missing}"


def test_the_check_sees_commands_and_what_a_script_ensures(tmp_path):
    """The extractor must find the commands and the ensured lists it is meant to judge, or the
    test above proves nothing."""
    found = commands("scripts/stack")
    for cmd in ("kcat", "curl", "java", "python3", "sha256sum", "flock", "setsid"):
        assert cmd in found, (cmd, sorted(found))
    assert "stop_pid" not in found and "log" not in found and "EOF" not in found
    assert {"kcat", "curl", "openjdk-17-jre-headless"} <= set(ensured_packages("scripts/stack"))
    assert package_of("kcat") == "kcat"
    # The old scripts/stack: it probed with kcat and curl and ran java but ensured nothing.
    old = tmp_path / "old-stack"
    old.write_text("""#!/usr/bin/env bash
set -euo pipefail
broker_ready() {
  kcat -L -b "127.0.0.1:$BROKER_PORT" -m 2 -J 2> /dev/null | grep -q '"brokers":\\[{'
}
registry_ready() { curl -fsS -o /dev/null "http://127.0.0.1:$REGISTRY_PORT/subjects"; }
start() { java -cp "$KAFKA_JARS/*" kafka.Kafka server.properties & broker_ready; registry_ready; }
start
""")
    assert ensured_packages(str(old)) == []
    assert set(missing_packages(str(old))) == {"kcat", "curl", "java"}
