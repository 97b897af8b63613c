# Installing what the scripts use, shared by scripts/run, test, bench, stack and secure-stack:
# the Debian package lists by purpose, ensure_packages, and the cached Kafka jars and Go builds
# (the Schema Registry, statsd_exporter). Idempotent and quiet when nothing is missing. A script
# calls only commands from the lists it ensures (plus Debian's essential packages); tests/scripts
# checks that.
# The caller sets CACHE (the download/build cache directory) before calling the install_*
# functions.
# shellcheck shell=bash

_install_lib="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Debian packages by purpose.
BUILD_PACKAGES=(cmake ninja-build g++ pkg-config python3-yaml
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libsimdjson-dev libavro-dev
  librdkafka-dev prometheus-cpp-dev libcurl4-openssl-dev libssl-dev libspdlog-dev zlib1g-dev
  libgtest-dev libgmock-dev)
TEST_PACKAGES=(clang-format clang-tidy prometheus kcat python3-venv chromium openjdk-17-jre-headless maven golang-go nodejs krb5-kdc krb5-admin-server krb5-user libsasl2-modules-gssapi-mit openssl)
# scripts/stack: kcat probes the broker, curl the registry, java runs Kafka and its tools
# (python3 comes with BUILD_PACKAGES). Maven and Go only until the jars and the registry are
# cached: stack_packages adds them then.
STACK_PACKAGES=(kcat curl openjdk-17-jre-headless)
# scripts/secure-stack: the KDC, openssl for the CA, kcat for the listener probes, java.
SECURE_STACK_PACKAGES=(krb5-kdc krb5-admin-server krb5-user libsasl2-modules-gssapi-mit openssl
  kcat openjdk-17-jre-headless)
# scripts/bench: Google Benchmark, curl for the service's pages; the Kafka scenarios go through
# scripts/stack (which ensures its own).
BENCH_PACKAGES=(libbenchmark-dev curl)
PUSHGATEWAY_PACKAGES=(prometheus-pushgateway)
# scripts/bench's R8 baseline: statsd_exporter is not packaged by Debian; Go builds it once from
# the module proxy (install_statsd_exporter), needed only until the build is cached.
STATSD_EXPORTER_PACKAGES=(golang-go)

_install_say() { printf '==> %s\n' "$*" >&2; }

# Installs the Debian packages of the given list names that are not installed yet.
ensure_packages() {
  local missing=() p list
  for list in "$@"; do
    local -n pkgs="$list"
    for p in "${pkgs[@]}"; do
      # A tool already on PATH (e.g. a newer Go, Node or Java than Debian's) counts as present.
      case "$p" in
        golang-go) command -v go > /dev/null && continue ;;
        nodejs) command -v node > /dev/null && command -v npm > /dev/null && continue ;;
        openjdk-17-jre-headless) command -v java > /dev/null && continue ;;
        maven) command -v mvn > /dev/null && continue ;;
      esac
      dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  _install_say "installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq > /dev/null
  # Packages' own services are not wanted (policy-rc.d or no init system stops them anyway).
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
}

# --- Kafka jars and the Schema Registry, cached under $CACHE ---------------------------------

KAFKA_POM="$_install_lib/stack/pom.xml"
REGISTRY_MODULE="github.com/axonops/axonops-schema-registry"
REGISTRY_VERSION="v0.2.1"

kafka_jars_dir() { echo "$CACHE/kafka-jars"; }
registry_bin() { echo "$CACHE/go/bin/schema-registry-$REGISTRY_VERSION"; }

kafka_jars_cached() {
  local stamp want
  stamp="$(kafka_jars_dir)/.pom.sha256"
  want="$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)"
  [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]
}

# STACK_PACKAGES plus what the first start needs to fill the cache, into the array STACK_NEEDS.
stack_packages() {
  STACK_NEEDS=("${STACK_PACKAGES[@]}")
  kafka_jars_cached || STACK_NEEDS+=(maven)
  [[ -x "$(registry_bin)" ]] || STACK_NEEDS+=(golang-go)
}

# The jars are fetched again only when the pom changes (its hash is the stamp).
install_kafka_jars() {
  kafka_jars_cached && return 0
  local jars want
  jars="$(kafka_jars_dir)"
  want="$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)"
  command -v mvn > /dev/null || { _install_say "Maven (mvn) is needed once to fetch the Kafka jars"; return 1; }
  _install_say "fetching Kafka 3.9.2 jars from Maven Central (once)"
  local tmp="$jars.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$CACHE"
  mvn -B -q -f "$KAFKA_POM" -Dmaven.repo.local="$CACHE/m2" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
    > "$CACHE/kafka-jars.log" 2>&1 || {
    rm -rf "$tmp"
    tail -n 40 "$CACHE/kafka-jars.log" >&2
    _install_say "mvn dependency:copy-dependencies failed"
    return 1
  }
  rm -rf "$jars"
  mv "$tmp" "$jars"
  echo "$want" > "$jars/.pom.sha256"
}

# `go install module@version` asks the proxy for the module's version list (deprecation check),
# which the proxy here refuses; downloading the pinned version and building it inside its own
# module (its go.mod and go.sum) needs no list and pins every dependency the same way.
# _go_build_pinned <module> <version> <package dir in the module> <binary> <what>: once; the
# binary's name carries the version, so a new pin builds anew and the old one stays unused.
_go_build_pinned() {
  local module="$1" version="$2" pkg="$3" bin="$4" what="$5"
  [[ -x "$bin" ]] && return 0
  command -v go > /dev/null || { _install_say "Go (>= 1.26) is needed once to build $what"; return 1; }
  _install_say "building $module@$version (once; a few minutes on 2 cores)"
  local -x GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" GOFLAGS=-modcacherw \
    GOTOOLCHAIN=local GOTELEMETRY=off
  local src buildlog="$CACHE/go/build-$(basename "$bin").log"
  mkdir -p "$(dirname "$bin")"
  src="$(go mod download -json "$module@$version" 2> "$buildlog" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -n "$src" && -d "$src" ]] || {
    cat "$buildlog" >&2
    _install_say "go mod download $module@$version failed"
    return 1
  }
  (cd "$src" && go build -trimpath -o "$bin.tmp.$$" "$pkg") >> "$buildlog" 2>&1 || {
    rm -f "$bin.tmp.$$"
    tail -n 40 "$buildlog" >&2
    _install_say "building $what failed"
    return 1
  }
  mv "$bin.tmp.$$" "$bin"
}

install_registry() {
  _go_build_pinned "$REGISTRY_MODULE" "$REGISTRY_VERSION" ./cmd/schema-registry "$(registry_bin)" \
    "the Schema Registry"
}

# statsd_exporter, the baseline of scripts/bench's aggregation scenario (R8).
STATSD_EXPORTER_MODULE="github.com/prometheus/statsd_exporter"
STATSD_EXPORTER_VERSION="v0.31.0"
statsd_exporter_bin() { echo "$CACHE/go/bin/statsd_exporter-$STATSD_EXPORTER_VERSION"; }
install_statsd_exporter() {
  _go_build_pinned "$STATSD_EXPORTER_MODULE" "$STATSD_EXPORTER_VERSION" . "$(statsd_exporter_bin)" \
    "statsd_exporter"
}
