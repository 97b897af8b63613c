#!/usr/bin/env bash
# The Kafka integration suite: a real broker and Schema Registry (scripts/stack, started and torn
# down by the suite itself), the real binary, Confluent's Python client as the reference.
#
#   MCA_BINARY=build/release/metrics-collection-api tests/integration/run.sh [pytest args]
#
# Python: the venv in $MCA_VENV (default .cache/venv) if it already has confluent-kafka, else
# .cache/venv-integration, made on first use with a python3 that has TLS (pip needs it for PyPI).
# MCA_STACK_DIR picks the stack directory (default .stack/integration); MCA_KEEP_STACK=1 leaves the
# stack running afterwards. Service logs go to tests/output/integration/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tests/integration"
[[ -n "${MCA_BINARY:-}" ]] || { echo "run.sh: set MCA_BINARY to the service binary" >&2; exit 2; }
MCA_BINARY="$(cd "$(dirname "$MCA_BINARY")" && pwd)/$(basename "$MCA_BINARY")"
[[ -x "$MCA_BINARY" ]] || { echo "run.sh: $MCA_BINARY is not an executable" >&2; exit 2; }
export MCA_BINARY

has_deps() { "$1/bin/python" -c 'import confluent_kafka, fastavro, pytest, requests' 2> /dev/null; }

venv="${MCA_VENV:-$ROOT/.cache/venv}"
if ! has_deps "$venv"; then
  venv="$ROOT/.cache/venv-integration"
  stamp="$venv/.requirements.sha256"
  want="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)"
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]] || ! has_deps "$venv"; then
    py=""
    for cand in python3 /usr/bin/python3; do
      if command -v "$cand" > /dev/null && "$cand" -c 'import ssl, venv' 2> /dev/null; then
        py="$cand"
        break
      fi
    done
    [[ -n "$py" ]] || { echo "run.sh: no python3 with the ssl and venv modules" >&2; exit 1; }
    echo "run.sh: preparing $venv (confluent-kafka[avro], pytest, requests)" >&2
    rm -rf "$venv"
    "$py" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt" >&2
    echo "$want" > "$stamp"
  fi
fi

cd "$HERE"
exec "$venv/bin/python" -m pytest -p no:cacheprovider -o log_cli=false -q "$@"
