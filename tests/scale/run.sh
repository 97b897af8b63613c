#!/usr/bin/env bash
# The scale-out suite: three replicas of the real binary on one 6-partition topic, a real Kafka
# broker and Schema Registry (scripts/stack, run with a PATH holding only what ./scripts/run and
# the stack's own install lists provide), and a real Prometheus (Debian's) scraping the replicas
# through a file_sd file. PromQL answers are the assertions.
#
#   MCA_BINARY=build/release/metrics-collection-api tests/scale/run.sh [pytest args]
#
# Needs the venv of ./scripts/test (.cache/venv: confluent-kafka, pytest, requests) and
# /usr/bin/prometheus (TEST_PACKAGES). MCA_KEEP_STACK=1 leaves the stack (.stack/scale) running.
# Logs go to tests/output/scale/; the figures of the run to tests/output/scale/figures.json.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
[[ -n "${MCA_BINARY:-}" ]] || { echo "run.sh: set MCA_BINARY to the service binary" >&2; exit 2; }
MCA_BINARY="$(cd "$(dirname "$MCA_BINARY")" && pwd)/$(basename "$MCA_BINARY")"
[[ -x "$MCA_BINARY" ]] || { echo "run.sh: $MCA_BINARY is not an executable" >&2; exit 2; }
export MCA_BINARY
venv="${MCA_VENV:-$ROOT/.cache/venv}"
cd "$ROOT/tests/scale"
exec "$venv/bin/python" -m pytest -p no:cacheprovider -o log_cli=false -q "$@"
