# Shared by scripts/run, scripts/test, scripts/bench and the suites' run.sh: installing what is
# missing (lib/install.sh: idempotent, quiet when nothing is), building a CMake preset, the Python
# virtualenv of the test tools, and what a suite's run.sh checks before it starts.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="$ROOT/.cache"
mkdir -p "$CACHE"

say() { printf '==> %s\n' "$*" >&2; }

source "$ROOT/scripts/lib/install.sh"

# Configures (once) and builds a preset; output goes to a log that is shown only on failure.
build_preset() {
  local preset="$1"
  local log="$ROOT/build/$preset.log"
  mkdir -p "$ROOT/build"
  if [ ! -f "$ROOT/build/$preset/build.ninja" ]; then
    (cd "$ROOT" && cmake --preset "$preset" >"$log" 2>&1) || { cat "$log"; say "configure ($preset) failed"; return 1; }
  fi
  say "building ($preset)"
  (cd "$ROOT" && cmake --build --preset "$preset" >"$log" 2>&1) || {
    grep -E 'error|FAILED' "$log" | head -40
    tail -20 "$log"
    say "build ($preset) failed; full log: $log"
    return 1
  }
}

# The virtualenv with every Python test tool (pinned in the requirements files), made once.
VENV="$CACHE/venv"
ensure_venv() {
  local reqs=("$ROOT"/tests/*/requirements.txt)
  local stamp="$VENV/.requirements.sha"
  local want
  want="$(cat "${reqs[@]}" 2>/dev/null | sha256sum | cut -d' ' -f1)"
  # A venv whose interpreter cannot import ssl (made by another Python over it) is rebuilt.
  if ! "$VENV/bin/python" -c 'import ssl' >/dev/null 2>&1; then
    rm -rf "$VENV"
  elif [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  say "preparing Python test tools ($VENV)"
  # Debian's interpreter: it has ssl and venv (python3-venv); a pyenv build may lack ssl.
  local py=/usr/bin/python3
  [ -x "$py" ] || py=python3
  [ -x "$VENV/bin/python" ] || "$py" -m venv "$VENV"
  # One resolver run over every suite's pins, so conflicting pins fail here, loudly.
  local args=() r
  for r in "${reqs[@]}"; do [ -f "$r" ] && args+=(-r "$r"); done
  "$VENV/bin/pip" install -q --disable-pip-version-check "${args[@]}" || {
    say "installing the Python test tools failed"
    return 1
  }
  echo "$want" >"$stamp"
}

# VENV for a suite: MCA_VENV as it is when set, else the one ensure_venv makes (or updates).
suite_venv() {
  if [[ -n "${MCA_VENV:-}" ]]; then
    VENV="$MCA_VENV"
  else
    ensure_venv || exit 1
  fi
}

# For a suite's run.sh: MCA_BINARY made absolute (the suite runs from its own folder) and checked,
# and its VENV (suite_venv).
prepare_suite() {
  [[ -n "${MCA_BINARY:-}" ]] || { echo "run.sh: set MCA_BINARY to the service binary" >&2; exit 2; }
  MCA_BINARY="$(cd "$(dirname "$MCA_BINARY")" && pwd)/$(basename "$MCA_BINARY")"
  [[ -x "$MCA_BINARY" ]] || { echo "run.sh: $MCA_BINARY is not an executable" >&2; exit 2; }
  export MCA_BINARY
  suite_venv
}
