#!/usr/bin/env bash
# The scale-out suite: three replicas of the real binary on one 6-partition topic, a real Kafka
# broker and Schema Registry (scripts/stack, run with a PATH holding only what ./scripts/run and
# the stack's own install lists provide), and a real Prometheus (Debian's) scraping the replicas
# through a file_sd file. PromQL answers are the assertions.
#
#   MCA_BINARY=build/release/metrics-collection-api tests/scale/run.sh [pytest args]
#
# Needs /usr/bin/prometheus (TEST_PACKAGES). Python: the test tools' venv (.cache/venv, made or
# updated by scripts/lib/common.sh), or the one MCA_VENV names. MCA_KEEP_STACK=1 leaves the stack
# (.stack/scale) running. Logs go to tests/output/scale/; the figures of the run to
# tests/output/scale/figures.json.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib/common.sh"
prepare_suite

cd "$ROOT/tests/scale"
exec "$VENV/bin/python" -m pytest -p no:cacheprovider -o log_cli=false -q "$@"
