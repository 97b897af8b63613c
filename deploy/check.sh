#!/usr/bin/env bash
# Checks deploy/: the Prometheus rules parse (promtool check rules) and behave as their unit tests
# say (promtool test rules), the scrape configuration is valid (promtool check config), the
# systemd unit passes `systemd-analyze verify` where systemd-analyze exists, and the example
# environment file holds only settings the binary knows (its --print-config accepts it).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPLOY="$ROOT/deploy"
BINARY="${MCA_BINARY:-$ROOT/build/release/metrics-collection-api}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

promtool check rules "$DEPLOY"/prometheus/*.rules.yml
promtool test rules "$DEPLOY"/prometheus/tests/*_test.yml
# check config resolves rule_files next to the file and wants the file_sd path to be a pattern only.
promtool check config "$DEPLOY/prometheus/prometheus.yml"

if command -v systemd-analyze > /dev/null; then
  # verify wants ExecStart to exist: the same unit pointed at the built binary (or /bin/true).
  exe="$BINARY"
  [ -x "$exe" ] || exe=/bin/true
  sed "s|^ExecStart=/usr/local/bin/metrics-collection-api|ExecStart=$exe|" \
    "$DEPLOY/systemd/metrics-collection-api@.service" > "$tmp/metrics-collection-api@.service"
  out="$(cd "$tmp" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \
    "$tmp/metrics-collection-api@1.service" 2>&1 || true)"
  # Only complaints about this unit count (a container's own units may be incomplete).
  if grep -F 'metrics-collection-api@' <<< "$out" | grep -v 'EnvironmentFile' | grep -q .; then
    echo "$out" >&2
    echo "check.sh: systemd-analyze verify found problems in the unit" >&2
    exit 1
  fi
  echo "systemd-analyze verify: metrics-collection-api@.service OK"
else
  echo "systemd-analyze not installed: unit not verified"
fi

if [ -x "$BINARY" ]; then
  # The example env file: every name is a setting the binary knows, every value valid.
  (cd "$tmp" && env -i PATH="$PATH" "$BINARY" --env-file "$DEPLOY/systemd/metrics-collection-api.env" \
    --print-config > /dev/null)
  echo "metrics-collection-api.env: accepted by --print-config"
fi
