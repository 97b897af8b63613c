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
from install_lists import SCRIPTS, allowed_packages, base_system, closure, commands, lists, package_of  # noqa: E402


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_every_command_comes_from_an_ensured_package(script):
    if not shutil.which("dpkg-query") or not shutil.which("apt-cache"):
        pytest.skip("needs a Debian system")
    allowed = allowed_packages(script)
    missing = {}
    for cmd in sorted(commands(script)):
        pkg = package_of(cmd)
        if pkg is None or pkg not in allowed:
            missing[cmd] = pkg
    assert missing == {}, f"{script} calls commands its install lists do not provide: {missing}"


def test_the_check_sees_commands():
    """The extractor must find the commands it is meant to judge, or the test above proves nothing."""
    found = commands("scripts/stack")
    for cmd in ("kcat", "curl", "java", "python3", "sha256sum", "flock", "setsid"):
        assert cmd in found, (cmd, sorted(found))
    assert "stop_pid" not in found and "log" not in found and "EOF" not in found
    assert package_of("kcat") == "kcat"
    # The old scripts/stack ensured nothing: kcat came only from the test packages.
    assert "kcat" not in closure(tuple(sorted(lists()["BUILD_PACKAGES"]))) | base_system()
