#!/usr/bin/env bash
# The Flowable peer of `make bench` (bench/bench_flowable.py runs it).
#
#   bench/flowable/flowable.sh fetch   the engine and JDBC jars from Maven Central (cached)
#   bench/flowable/flowable.sh build   fetch, then compile the harness (cached)
#   bench/flowable/flowable.sh run     build, then run the harness; one JSON object on stdout
#
# No jar is committed: bench/flowable/pom.xml names them and Maven copies them into
# .cache/flowable/libs; javac compiles src/*.java into .cache/flowable/classes.
# Environment: DATABASE_URL (a database of its own is created there and dropped after),
# BENCH_CLIENTS (8), BENCH_START_SECONDS, BENCH_TASK_SECONDS, JAVA_HOME (Java 17+).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="$REPO/.cache/flowable"
LIBS="$CACHE/libs"
CLASSES="$CACHE/classes"

log() { echo "flowable.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

bin() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/$1" ]]; then echo "$JAVA_HOME/bin/$1"
  else command -v "$1" || die "$1 not found: apt-get install -y openjdk-17-jdk-headless (or set JAVA_HOME)"; fi
}

stamp_ok() { [[ -f "$1" && "$(cat "$1")" == "$2" ]]; }

cmd_fetch() {
  local sum
  sum="$(sha256sum "$HERE/pom.xml" | cut -d' ' -f1)"
  stamp_ok "$LIBS/.pom.sha256" "$sum" && return 0
  command -v mvn >/dev/null || die "mvn not found: apt-get install -y maven (it fetches the Flowable jars)"
  mkdir -p "$CACHE"
  (
    flock -w 600 9 || die "another fetch holds $CACHE/.fetch.lock"
    stamp_ok "$LIBS/.pom.sha256" "$sum" && exit 0
    local tmp="$CACHE/libs.tmp.$$"
    rm -rf "$tmp"
    log "fetching Flowable and the PostgreSQL driver from Maven Central (about 25 MB, once)..."
    if ! mvn -q -B -f "$HERE/pom.xml" dependency:copy-dependencies -DoutputDirectory="$tmp" \
        >"$CACHE/fetch.log" 2>&1; then
      sed 's/\x1b\[[0-9;]*m//g' "$CACHE/fetch.log" | tail -n 40 >&2
      rm -rf "$tmp"
      die "maven could not fetch the dependencies of $HERE/pom.xml"
    fi
    echo "$sum" >"$tmp/.pom.sha256"
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
    log "cached $(find "$LIBS" -name '*.jar' | wc -l) jars in $LIBS"
  ) 9>"$CACHE/.fetch.lock"
}

cmd_build() {
  cmd_fetch
  local sum
  sum="$(cat "$HERE"/src/*.java "$LIBS/.pom.sha256" | sha256sum | cut -d' ' -f1)"
  stamp_ok "$CLASSES/.src.sha256" "$sum" && return 0
  rm -rf "$CLASSES"
  mkdir -p "$CLASSES"
  "$(bin javac)" -encoding UTF-8 -nowarn -cp "$LIBS/*" -d "$CLASSES" "$HERE"/src/*.java
  echo "$sum" >"$CLASSES/.src.sha256"
  log "compiled the harness into $CLASSES"
}

cmd_run() {
  cmd_build
  # -Xmx1g: the machine is shared; the engine needs far less for these runs.
  exec "$(bin java)" -Xms256m -Xmx1g -XX:+UseG1GC \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -Dorg.slf4j.simpleLogger.logFile=System.err \
    -cp "$CLASSES:$LIBS/*" FlowableBench "$HERE/lien-thong-khai-sinh.bpmn20.xml"
}

case "${1:-}" in
  fetch) cmd_fetch ;;
  build) cmd_build ;;
  run) cmd_run ;;
  *) echo "usage: $0 {fetch|build|run}" >&2; exit 2 ;;
esac
