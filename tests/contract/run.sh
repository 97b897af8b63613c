#!/usr/bin/env bash
# The API contract against the real binary: (a) spec lint, (b) route <-> spec and what the binary
# serves (pytest), (c) schemathesis, (d) Swagger UI in Debian's chromium. Starts the binary on the
# embedded default on a free loopback port with an API keys file (one admin key, MCA_API_KEY, made
# by `keys new`), runs every part even when one fails, stops it.
#
# Usage: tests/contract/run.sh PATH/TO/metrics-collection-api
# Output (server log, schemathesis report, screenshots): tests/output/contract/
set -uo pipefail

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 PATH/TO/metrics-collection-api" >&2
  exit 2
fi
BIN="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/../../scripts/lib/common.sh"  # ROOT, suite_venv
OUT="$ROOT/tests/output/contract"
say() { printf '==> contract: %s\n' "$*" >&2; }

rm -rf "$OUT" && mkdir -p "$OUT"

# Tools: the pinned Python packages in the shared virtualenv, the pinned npm packages here.
suite_venv
if [ ! -f "$HERE/node_modules/.package-lock.json" ] ||
  [ "$HERE/package-lock.json" -nt "$HERE/node_modules/.package-lock.json" ]; then
  (cd "$HERE" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error \
    --cache "$ROOT/.cache/npm") || exit 1
fi

PORT="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"

# With API keys, as a deployment on a network runs: an admin key made by the binary's own
# `keys new` is what the fuzzer sends and what the browser test enters under Authorize.
mapfile -t NEW_KEY < <("$BIN" keys new --id contract --scopes admin 2>/dev/null)
if [ "${#NEW_KEY[@]}" -ne 2 ]; then
  say "keys new did not print a key and an entry"
  exit 1
fi
export MCA_API_KEY="${NEW_KEY[0]}"
printf '{"keys": [%s]}\n' "${NEW_KEY[1]}" >"$OUT/keys.json"

# The embedded default, whatever the caller's environment says; no TTL, so the browser test's
# seed sample (timestamp 2022-01-01) stays exposed. The working dir has no .env to pick up.
(cd "$OUT" && exec env -u KAFKA_BOOTSTRAP_SERVERS -u SCHEMA_REGISTRY_URL \
  METRIC_TTL_SECONDS=0 CORS_ALLOWED_ORIGINS=http://localhost:3000 LOG_LEVEL=warn \
  API_KEYS_FILE="$OUT/keys.json" \
  "$BIN" --host 127.0.0.1 --port "$PORT") >"$OUT/server.log" 2>&1 &
SERVER=$!
stop_server() {
  kill -TERM "$SERVER" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    kill -0 "$SERVER" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$SERVER" 2>/dev/null
}
trap stop_server EXIT

deadline=$((SECONDS + 30))
until curl -fsS "$BASE/livez" >/dev/null 2>&1; do
  if ! kill -0 "$SERVER" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
    say "the binary did not become live on $BASE"
    cat "$OUT/server.log" >&2
    exit 1
  fi
  sleep 0.1
done
say "binary live on $BASE"

passed=0
failed=0
part() {
  local name="$1"
  shift
  say "$name"
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    say "$name FAILED"
  fi
}

part "(a) spec lint (openapi-spec-validator)" \
  "$VENV/bin/openapi-spec-validator" "$ROOT/api/openapi.yaml"
part "(b) route <-> spec, served document and assets (pytest)" \
  env MCA_BINARY="$BIN" MCA_BASE_URL="$BASE" \
  "$VENV/bin/pytest" -q -p no:cacheprovider "$HERE/test_contract.py"
part "(c) schemathesis (with the partial-success check of hooks.py)" \
  env SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$HERE" "$VENV/bin/schemathesis" --config-file "$HERE/schemathesis.toml" run "$BASE/openapi.json" \
  --url "$BASE" --seed "${SCHEMATHESIS_SEED:-1}" --generation-database none \
  --header "Authorization: Bearer $MCA_API_KEY" \
  --report junit,har --report-dir "$OUT/schemathesis"
part "(d) Swagger UI in chromium (playwright-core)" \
  node "$HERE/browser_test.mjs" "$BASE" "$OUT"
part "the binary survived every part" kill -0 "$SERVER"

echo "contract: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
