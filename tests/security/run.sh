#!/usr/bin/env bash
# The Kafka security suite: brings the secure stack up (scripts/secure-stack up all: a KDC, a CA,
# a broker with GSSAPI, SCRAM-SHA-512 and TLS listeners), runs the pytest suite against the real
# binary, and always brings the stack down again, whatever happened.
#
#   MCA_BINARY=build/release/metrics-collection-api tests/security/run.sh [pytest args]
#
# Python: the venv in $MCA_VENV (default .cache/venv) if it has pytest and requests, else
# .cache/venv-security, made on first use from tests/security/requirements.txt.
# MCA_SECURE_STACK_DIR picks the stack directory (default .stack-secure/test); MCA_KEEP_STACK=1
# leaves the stack running afterwards. Service logs go to tests/output/security/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tests/security"
[[ -n "${MCA_BINARY:-}" ]] || { echo "run.sh: set MCA_BINARY to the service binary" >&2; exit 2; }
MCA_BINARY="$(cd "$(dirname "$MCA_BINARY")" && pwd)/$(basename "$MCA_BINARY")"
[[ -x "$MCA_BINARY" ]] || { echo "run.sh: $MCA_BINARY is not an executable" >&2; exit 2; }
export MCA_BINARY
export MCA_SECURE_STACK_DIR="${MCA_SECURE_STACK_DIR:-$ROOT/.stack-secure/test}"

has_deps() { "$1/bin/python" -c 'import pytest, requests' 2> /dev/null; }

venv="${MCA_VENV:-$ROOT/.cache/venv}"
if ! has_deps "$venv"; then
  venv="$ROOT/.cache/venv-security"
  stamp="$venv/.requirements.sha256"
  want="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)"
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]] || ! has_deps "$venv"; then
    echo "run.sh: preparing $venv (pytest, requests)" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt" >&2
    echo "$want" > "$stamp"
  fi
fi

stack=("$ROOT/scripts/secure-stack")
down() {
  [[ "${MCA_KEEP_STACK:-0}" == 1 ]] || "${stack[@]}" down --dir "$MCA_SECURE_STACK_DIR" || true
}
trap down EXIT
trap 'exit 130' INT TERM
# A killed run may have left processes or data behind: start from nothing.
"${stack[@]}" down --dir "$MCA_SECURE_STACK_DIR"
"${stack[@]}" up all --dir "$MCA_SECURE_STACK_DIR"

cd "$HERE"
"$venv/bin/python" -m pytest -p no:cacheprovider -o log_cli=false -q "$@"
