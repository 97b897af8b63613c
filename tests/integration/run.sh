#!/usr/bin/env bash
# The Kafka integration suite: a real broker and Schema Registry (scripts/stack, started and torn
# down by the suite itself), the real binary, Confluent's Python client as the reference.
#
#   MCA_BINARY=build/release/metrics-collection-api tests/integration/run.sh [pytest args]
#
# Python: the test tools' venv (.cache/venv, made or updated from tests/*/requirements.txt by
# scripts/lib/common.sh), or the one MCA_VENV names. MCA_STACK_DIR picks the stack directory
# (default .stack/integration); MCA_KEEP_STACK=1 leaves the stack running afterwards. Service
# logs go to tests/output/integration/.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib/common.sh"
prepare_suite

cd "$ROOT/tests/integration"
exec "$VENV/bin/python" -m pytest -p no:cacheprovider -o log_cli=false -q "$@"
