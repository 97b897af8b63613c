#!/usr/bin/env bash
# The Kafka security suite: brings the secure stack up (scripts/secure-stack up all: a KDC, a CA,
# a broker with GSSAPI, SCRAM-SHA-512 and TLS listeners), runs the pytest suite against the real
# binary, and always brings the stack down again, whatever happened.
#
#   MCA_BINARY=build/release/metrics-collection-api tests/security/run.sh [pytest args]
#
# Python: the test tools' venv (.cache/venv, made or updated from tests/*/requirements.txt by
# scripts/lib/common.sh), or the one MCA_VENV names.
# MCA_SECURE_STACK_DIR picks the stack directory (default .stack-secure/test); MCA_KEEP_STACK=1
# leaves the stack running afterwards. Service logs go to tests/output/security/.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib/common.sh"
prepare_suite
export MCA_SECURE_STACK_DIR="${MCA_SECURE_STACK_DIR:-$ROOT/.stack-secure/test}"

stack=("$ROOT/scripts/secure-stack")
down() {
  [[ "${MCA_KEEP_STACK:-0}" == 1 ]] || "${stack[@]}" down --dir "$MCA_SECURE_STACK_DIR" || true
}
trap down EXIT
trap 'exit 130' INT TERM
# A killed run may have left processes or data behind: start from nothing.
"${stack[@]}" down --dir "$MCA_SECURE_STACK_DIR"
"${stack[@]}" up all --dir "$MCA_SECURE_STACK_DIR"

cd "$ROOT/tests/security"
"$VENV/bin/python" -m pytest -p no:cacheprovider -o log_cli=false -q "$@"
