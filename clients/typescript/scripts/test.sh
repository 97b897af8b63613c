#!/bin/sh
# Everything the TypeScript client is tested with: install, build, unit + contract tests, bundle
# size budget, and -- when MCA_BINARY points to the service binary -- integration and browser tests.
set -eu
cd "$(dirname "$0")/.."

# npm ci is skipped when node_modules already matches package-lock.json.
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.mca-installed-lock; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.mca-installed-lock
fi

npm run --silent format:check
npm run --silent build
node --test test/unit/ test/contract/
npm run --silent size

if [ -n "${MCA_BINARY:-}" ] && [ -x "${MCA_BINARY}" ]; then
  node --test --test-concurrency=1 test/integration/
  if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
    echo "chromium missing: installing the Debian package" >&2
    apt-get install -y -q chromium >/dev/null
  fi
  node --test --test-concurrency=1 test/browser/
else
  echo "MCA_BINARY not set to an executable: integration and browser tests not run" >&2
fi
