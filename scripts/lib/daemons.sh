# Shared by scripts/stack and scripts/secure-stack: free ports, the daemons they start (detached,
# tracked by a pid file and a marker in their command line), waiting for a daemon to answer, the
# Kafka command-line tools on the cached jars, and the lock on a stack directory.
# The sourcing script sets PROG (its name in messages), START_TIMEOUT_S, STOP_TIMEOUT_S,
# KAFKA_JARS, and `dir` (its stack directory) before calling any of these.
# shellcheck shell=bash

log() { echo "$PROG: $*" >&2; }
die() { log "$*"; exit 1; }

# Free 127.0.0.1 ports, all distinct (the sockets stay bound until every port is chosen), each
# free for both TCP and UDP (a KDC takes both).
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks, ports = [], []
while len(ports) < int(sys.argv[1]):
    t = socket.socket()
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        socks.append(t)
        continue
    socks += [t, u]
    ports.append(port)
print(" ".join(map(str, ports)))
PY
}

# The pid in $1 if that process is alive and its command line contains $2 (guards against a
# recycled pid after a reboot or a crash).
running_pid() {
  local pidfile="$1" marker="$2" pid
  [[ -f "$pidfile" ]] || return 1
  pid="$(cat "$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2> /dev/null || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2> /dev/null | grep -qF -- "$marker" || return 1
  echo "$pid"
}

# Starts "$@" detached (own session: a Ctrl-C in the terminal that ran `up` does not reach it),
# output to $2, pid to $1.
spawn() {
  local pidfile="$1" out="$2"
  shift 2
  rm -f "$pidfile"
  # The lock descriptors (8, 9) are not inherited: a daemon holding them would block every later
  # call of the stack script.
  setsid bash -c 'echo $$ > "$1"; shift; exec "$@"' spawn "$pidfile" "$@" \
    < /dev/null > "$out" 2>&1 8>&- 9>&- &
  local i
  for i in $(seq 50); do
    [[ -s "$pidfile" ]] && return 0
    sleep 0.1
  done
  die "could not start $1"
}

# stop_pid <pidfile> <marker> <what>: SIGTERM, then SIGKILL after STOP_TIMEOUT_S.
stop_pid() {
  local pidfile="$1" marker="$2" what="$3" pid i
  pid="$(running_pid "$pidfile" "$marker")" || { rm -f "$pidfile"; return 0; }
  log "stopping $what (pid $pid)"
  kill -TERM "$pid" 2> /dev/null || true
  for i in $(seq $((STOP_TIMEOUT_S * 10))); do
    kill -0 "$pid" 2> /dev/null || { rm -f "$pidfile"; return 0; }
    sleep 0.1
  done
  log "$what did not stop within ${STOP_TIMEOUT_S}s; killing it"
  kill -KILL "$pid" 2> /dev/null || true
  rm -f "$pidfile"
}

# wait_ready <what> <pidfile> <marker> <log> <probe command...>: until the probe succeeds; exits
# with the log's last lines when the daemon dies or START_TIMEOUT_S passes.
wait_ready() {
  local what="$1" pidfile="$2" marker="$3" out="$4"
  shift 4
  local deadline=$((SECONDS + START_TIMEOUT_S))
  while ((SECONDS < deadline)); do
    "$@" && return 0
    running_pid "$pidfile" "$marker" > /dev/null || {
      log "$what exited during start-up; last lines of $out:"
      tail -n 30 "$out" >&2 || true
      exit 1
    }
    sleep 0.2
  done
  log "$what did not answer within ${START_TIMEOUT_S}s; last lines of $out:"
  tail -n 30 "$out" >&2 || true
  exit 1
}

java_kafka() {  # java_kafka <main class> args...: a Kafka tool on the cached jars
  java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    "-Dlog4j.configuration=file:$ROOT/scripts/lib/stack/log4j-tools.properties" \
    -cp "$KAFKA_JARS/*" "$@"
}

# One command at a time per stack directory.
lock_dir() {
  exec 9> "$dir/.lock"
  flock 9
}
