#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft, no ZooKeeper) for development and tests.
#
#   deploy/kafka/kafka.sh fetch    download the broker jars from Maven Central (cached)
#   deploy/kafka/kafka.sh start    format storage once, start the broker in the background
#   deploy/kafka/kafka.sh wait     block until the broker answers (timeout KAFKA_WAIT_TIMEOUT, 60 s)
#   deploy/kafka/kafka.sh stop     SIGTERM, then SIGKILL after 20 s
#   deploy/kafka/kafka.sh status   exit 0 if the broker is running
#
# There is no Kafka tarball we can download here (only Maven Central is reachable), so the
# broker is run straight from the Maven artifacts listed in deploy/kafka/pom.xml.
#
# Environment:
#   KAFKA_BOOTSTRAP_SERVERS  an external broker: start/stop do nothing, wait/status probe it
#   KAFKA_PORT               PLAINTEXT listener on 127.0.0.1 (default 9092)
#   KAFKA_CONTROLLER_PORT    KRaft controller listener on 127.0.0.1 (default 9093)
#   KAFKA_HEAP_OPTS          JVM heap (default -Xms256m -Xmx768m; keep it <= 1 GB)
#   KAFKA_WAIT_TIMEOUT       seconds for `wait` (default 60)
#   JAVA_HOME                Java 17+ to use (default: `java` on PATH)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/../.." && pwd)"
POM="$SCRIPT_DIR/pom.xml"
LIBS="$REPO/.cache/kafka/libs"
STAMP="$LIBS/.pom.sha256"
STATE="$REPO/.local/kafka"
DATA="$STATE/data"
LOGS="$STATE/logs"
PIDFILE="$STATE/kafka.pid"
PROPS="$STATE/server.properties"
LOG4J="$STATE/log4j2.properties"

KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"
KAFKA_WAIT_TIMEOUT="${KAFKA_WAIT_TIMEOUT:-60}"
STOP_TIMEOUT=20

# Main classes, checked with `unzip -l kafka_2.13-4.1.1.jar`: both live in the Scala core jar.
MAIN_BROKER="kafka.Kafka"
MAIN_STORAGE="kafka.tools.StorageTool"

log() { echo "kafka.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

external() { [[ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; }

bootstrap() {
  if external; then echo "$KAFKA_BOOTSTRAP_SERVERS"; else echo "127.0.0.1:$KAFKA_PORT"; fi
}

# --- prerequisites ----------------------------------------------------------------------

find_java() {
  local java
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    java="$JAVA_HOME/bin/java"
  elif java="$(command -v java)"; then
    :
  else
    die "no java found. Kafka 4 needs Java 17+: apt-get install -y openjdk-17-jre-headless (or set JAVA_HOME)"
  fi
  # java.specification.version is "17", "21", ... (or "1.8" for Java 8, which fails the test).
  local spec
  spec="$("$java" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2; exit}')"
  if ! [[ "$spec" =~ ^[0-9]+$ ]] || (( spec < 17 )); then
    die "$java is Java '${spec:-unknown}', Kafka 4 brokers need Java 17+ (set JAVA_HOME)"
  fi
  echo "$java"
}

pom_sum() { sha256sum "$POM" | cut -d' ' -f1; }

libs_ok() { [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(pom_sum)" ]] && compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null; }

# --- fetch ------------------------------------------------------------------------------

cmd_fetch() {
  if libs_ok; then
    log "jars already cached in $LIBS ($(kafka_version))"
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found: apt-get install -y maven (it fetches the broker jars)"
  find_java >/dev/null   # Maven needs a JDK too; fail early with a clear message
  mkdir -p "$REPO/.cache/kafka"
  # Serialise concurrent fetches (e.g. two test runs) with a lock held by this subshell only
  # (a broker started later must not inherit it). Fetch into a temp dir, then swap it in, so
  # an interrupted download never leaves a half-filled libs/ that looks complete.
  (
    flock -w 600 9 || die "another fetch has held $REPO/.cache/kafka/.fetch.lock for 10 minutes"
    if libs_ok; then log "jars fetched by another process"; exit 0; fi
    tmp="$REPO/.cache/kafka/libs.tmp.$$"
    rm -rf "$tmp"
    log "fetching the Kafka broker jars from Maven Central (about 45 MB, once)..."
    # Maven's output goes to a log shown only on failure (Debian's Maven 3.8 prints stray
    # colour codes even with -q -B).
    mvnlog="$REPO/.cache/kafka/fetch.log"
    if ! mvn -q -B -f "$POM" dependency:copy-dependencies -DoutputDirectory="$tmp" >"$mvnlog" 2>&1; then
      sed 's/\x1b\[[0-9;]*m//g' "$mvnlog" | tail -n 40 >&2
      rm -rf "$tmp"
      die "maven could not fetch the dependencies of $POM (log: $mvnlog)"
    fi
    pom_sum >"$tmp/.pom.sha256"
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
    log "cached $(find "$LIBS" -name '*.jar' | wc -l) jars in $LIBS ($(kafka_version))"
  ) 9>"$REPO/.cache/kafka/.fetch.lock"
}

kafka_version() {
  local jar
  jar="$(compgen -G "$LIBS/kafka_2.13-*.jar" | head -n1)"
  jar="${jar##*/kafka_2.13-}"
  echo "Kafka ${jar%.jar}"
}

# --- process helpers --------------------------------------------------------------------

# Our broker's pid, or nothing. The pid file is checked against /proc so that a recycled pid
# is not mistaken for the broker; if the pid file is lost, look for a java process started
# with *our* server.properties (never any other Kafka on the machine).
broker_pid() {
  local pid
  if [[ -f "$PIDFILE" ]]; then
    pid="$(cat "$PIDFILE" 2>/dev/null || true)"
    if [[ "$pid" =~ ^[0-9]+$ ]] && owns_props "$pid"; then echo "$pid"; return 0; fi
  fi
  local d
  for d in /proc/[0-9]*; do
    pid="${d#/proc/}"
    if owns_props "$pid"; then echo "$pid" >"$PIDFILE"; echo "$pid"; return 0; fi
  done
  return 1
}

owns_props() {
  local cmdline
  cmdline="$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline")" || return 1
  [[ "$cmdline" == *"$MAIN_BROKER $PROPS"* ]]
}

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# --- config -----------------------------------------------------------------------------

write_config() {
  mkdir -p "$DATA" "$LOGS"
  # Rewritten on every start so that a changed KAFKA_PORT takes effect; the formatted data
  # does not depend on the listener ports.
  cat >"$PROPS" <<EOF
# Generated by deploy/kafka/kafka.sh on every start: edit the script, not this file.
# Single node acting as both KRaft controller and broker.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$DATA

# Topics are created explicitly by the services (as in production), so a typo in a topic
# name fails loudly instead of silently creating a new topic.
auto.create.topics.enable=false
num.partitions=3
default.replication.factor=1
min.insync.replicas=1

# One broker: every internal topic must have replication factor 1.
offsets.topic.replication.factor=1
# The default is 50 partitions; fewer make the first consumer-group join faster on a dev box.
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Tests start consumers and expect them to get partitions at once.
group.initial.rebalance.delay.ms=0

# Small machine (2 cores).
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
background.threads=4

# Dev retention: keep a day or 256 MB per partition, in 32 MB segments, whichever is first.
log.retention.hours=24
log.retention.bytes=268435456
log.segment.bytes=33554432
log.retention.check.interval.ms=60000
EOF

  # The broker logs through slf4j -> log4j2; send everything to rolling files in logs/.
  cat >"$LOG4J" <<EOF
# Generated by deploy/kafka/kafka.sh.
status = warn
appender.server.type = RollingFile
appender.server.name = server
appender.server.fileName = $LOGS/server.log
appender.server.filePattern = $LOGS/server.log.%i
appender.server.layout.type = PatternLayout
appender.server.layout.pattern = [%d] %p %m (%c)%n
appender.server.policies.type = Policies
appender.server.policies.size.type = SizeBasedTriggeringPolicy
appender.server.policies.size.size = 50MB
appender.server.strategy.type = DefaultRolloverStrategy
appender.server.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.server.ref = server
# These are very chatty at INFO and not useful for development.
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.logcleaner.name = kafka.log.LogCleaner
logger.logcleaner.level = WARN
EOF
}

# JVM command line shared by the broker and the storage tool, into the global array JVM.
set_jvm() {
  local -a heap
  read -r -a heap <<<"$KAFKA_HEAP_OPTS"   # a list of JVM flags, split on spaces
  JVM=("$1" "${heap[@]}"
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -XX:MaxDirectMemorySize=256m
    -Djava.awt.headless=true "-Dlog4j2.configurationFile=$LOG4J" "-Dkafka.logs.dir=$LOGS")
}

# --- subcommands ------------------------------------------------------------------------

cmd_start() {
  if external; then
    log "KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS is set: using that external broker, not starting one"
    return 0
  fi
  # One start at a time, or two racing starts would both launch a broker. The broker must
  # not inherit the lock's fd (9>&- below), or it would hold the lock while it runs.
  mkdir -p "$STATE"
  exec 9>"$STATE/.start.lock"
  flock -w 120 9 || die "another 'kafka.sh start' has held $STATE/.start.lock for 2 minutes"
  local pid
  if pid="$(broker_pid)"; then
    log "already running (pid $pid) on $(bootstrap)"
    return 0
  fi
  local java
  java="$(find_java)"
  cmd_fetch
  if port_open 127.0.0.1 "$KAFKA_PORT" || port_open 127.0.0.1 "$KAFKA_CONTROLLER_PORT"; then
    die "port $KAFKA_PORT or $KAFKA_CONTROLLER_PORT on 127.0.0.1 is taken by another process (another Kafka? check: ss -ltnp). Set KAFKA_PORT / KAFKA_CONTROLLER_PORT, or KAFKA_BOOTSTRAP_SERVERS to use that broker."
  fi
  write_config

  set_jvm "$java"

  # Format once: meta.properties marks a formatted log dir. The cluster id only has to be
  # unique per data dir, so a fresh random one is fine.
  if [[ ! -f "$DATA/meta.properties" ]]; then
    local cluster_id
    cluster_id="$("$java" -cp "$LIBS/*" -Dlog4j2.configurationFile="$LOG4J" "$MAIN_STORAGE" random-uuid | tail -n1)"
    log "formatting KRaft storage in $DATA (cluster id $cluster_id)"
    "${JVM[@]}" -cp "$LIBS/*" "$MAIN_STORAGE" format -t "$cluster_id" -c "$PROPS" >>"$LOGS/format.log" 2>&1 \
      || { tail -n 30 "$LOGS/format.log" >&2; die "storage format failed (log: $LOGS/format.log)"; }
  fi

  log "starting $(kafka_version) on 127.0.0.1:$KAFKA_PORT (logs: $LOGS)"
  # kafka.out holds only what the JVM prints itself (bad flags, crashes): one per start.
  [[ -f "$LOGS/kafka.out" ]] && mv -f "$LOGS/kafka.out" "$LOGS/kafka.out.1"
  # setsid: the broker gets its own session, so it outlives this shell and a Ctrl-C in it.
  # The child writes its own pid before exec-ing java, so the pid file is java's pid.
  # -Xlog: a small rotating GC log, handy when looking at the broker's memory.
  # shellcheck disable=SC2016 # $$, $0 and $@ are for the inner bash
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PIDFILE" \
    "${JVM[@]}" -Xlog:gc:file="$LOGS/gc.log":time,uptime:filecount=2,filesize=5M \
    -cp "$LIBS/*" "$MAIN_BROKER" "$PROPS" \
    </dev/null >>"$LOGS/kafka.out" 2>&1 9>&- &
  # Give the JVM a moment to fail on bad flags / a broken classpath, and report that now.
  local _
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    sleep 0.2
    if pid="$(broker_pid)"; then break; fi
  done
  sleep 0.5
  if ! pid="$(broker_pid)"; then
    tail -n 30 "$LOGS/kafka.out" >&2 || true
    die "the broker exited at once (logs: $LOGS)"
  fi
  exec 9>&-
  log "started (pid $pid); run '$0 wait' to block until it answers"
}

cmd_stop() {
  if external; then
    log "KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS is set: external broker, nothing to stop"
    return 0
  fi
  local pid
  if ! pid="$(broker_pid)"; then
    log "not running"
    rm -f "$PIDFILE"
    return 0
  fi
  log "stopping pid $pid (SIGTERM, controlled shutdown)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then
    log "still alive after ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  fi
  rm -f "$PIDFILE"
  log "stopped"
}

cmd_status() {
  if external; then
    local first="${KAFKA_BOOTSTRAP_SERVERS%%,*}"
    if port_open "${first%:*}" "${first##*:}"; then
      log "external broker $KAFKA_BOOTSTRAP_SERVERS is reachable"; return 0
    fi
    log "external broker $KAFKA_BOOTSTRAP_SERVERS is not reachable"; return 1
  fi
  local pid
  if pid="$(broker_pid)"; then
    local rss
    rss="$(awk '/^VmRSS/ {printf "%d MB", $2/1024}' "/proc/$pid/status" 2>/dev/null || echo "?")"
    log "running (pid $pid, RSS $rss) on $(bootstrap)"
    return 0
  fi
  log "not running"
  return 1
}

# A real Kafka round trip (ApiVersions + Metadata) via aiokafka from the project's venv,
# the client the services use. Without the venv we settle for the listener being open
# and the broker having logged that it started.
probe() {
  local py="$REPO/.venv/bin/python"
  if [[ -x "$py" ]] && "$py" -c 'import aiokafka' 2>/dev/null; then
    timeout 20 "$py" - "$(bootstrap)" >/dev/null 2>&1 <<'EOF'
import asyncio, sys
from aiokafka import AIOKafkaProducer

async def main():
    producer = AIOKafkaProducer(bootstrap_servers=sys.argv[1], request_timeout_ms=5000)
    await producer.start()   # bootstraps: fetches api versions and cluster metadata
    await producer.stop()

asyncio.run(main())
EOF
  else
    external && return 0
    grep -q "Kafka Server started" "$LOGS/server.log" 2>/dev/null
  fi
}

cmd_wait() {
  local first
  first="$(bootstrap)"
  first="${first%%,*}"
  local host="${first%:*}" port="${first##*:}"
  local deadline=$((SECONDS + KAFKA_WAIT_TIMEOUT)) pid=""
  while :; do
    if ! external && ! pid="$(broker_pid)"; then
      log "the broker is not running"
      [[ -f "$LOGS/server.log" ]] && { log "last 50 lines of $LOGS/server.log:"; tail -n 50 "$LOGS/server.log" >&2; }
      [[ -s "$LOGS/kafka.out" ]] && { log "last 20 lines of $LOGS/kafka.out:"; tail -n 20 "$LOGS/kafka.out" >&2; }
      return 1
    fi
    if port_open "$host" "$port" && probe; then
      log "broker on $(bootstrap) is ready"
      return 0
    fi
    if ((SECONDS >= deadline)); then
      log "broker on $(bootstrap) did not answer within ${KAFKA_WAIT_TIMEOUT}s"
      if ! external && [[ -f "$LOGS/server.log" ]]; then
        log "last 50 lines of $LOGS/server.log:"
        tail -n 50 "$LOGS/server.log" >&2
      fi
      return 1
    fi
    sleep 0.5
  done
}

case "${1:-}" in
  fetch) cmd_fetch ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  wait) cmd_wait ;;
  *) echo "usage: $0 {fetch|start|stop|status|wait}" >&2; exit 2 ;;
esac
