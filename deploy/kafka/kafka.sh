#!/usr/bin/env bash
# Local Apache Kafka (KRaft, no ZooKeeper) for development and tests: one node by default,
# or a cluster of KAFKA_CLUSTER nodes on this machine.
#
#   deploy/kafka/kafka.sh fetch        download the broker jars from Maven Central (cached)
#   deploy/kafka/kafka.sh start [N]    format storage once, start the nodes (or node N) in the background
#   deploy/kafka/kafka.sh wait         block until every node answers and has joined
#                                      (timeout KAFKA_WAIT_TIMEOUT, 60 s)
#   deploy/kafka/kafka.sh stop [N]     SIGTERM, then SIGKILL after 20 s (every node, or node N)
#   deploy/kafka/kafka.sh status       exit 0 if every node is running
#   deploy/kafka/kafka.sh pid N        print node N's pid (fault drills kill -9 it)
#   deploy/kafka/kafka.sh bootstrap    print the bootstrap servers (host:port,...)
#
# A cluster (KAFKA_CLUSTER=3) runs every node as broker and KRaft controller (combined
# mode: three JVMs, a quorum of three voters that survives one lost node), each with its
# own ports and data folder under KAFKA_STATE_DIR/node-<n>. Topics default to replication
# factor min(3, nodes) and min.insync.replicas 2 (1 below three nodes), internal topics too.
#
# There is no Kafka tarball we can download here (only Maven Central is reachable), so the
# broker is run straight from the Maven artifacts listed in deploy/kafka/pom.xml.
#
# Environment:
#   KAFKA_BOOTSTRAP_SERVERS  an external broker: start/stop do nothing, wait/status probe it
#   KAFKA_CLUSTER            number of nodes (default 1: the single development broker)
#   KAFKA_PORT               PLAINTEXT listener on 127.0.0.1 (default 9092; a cluster: 29092,
#                            node n on KAFKA_PORT + 2(n-1))
#   KAFKA_CONTROLLER_PORT    KRaft controller listener on 127.0.0.1 (default 9093; a cluster:
#                            29093, node n on KAFKA_CONTROLLER_PORT + 2(n-1))
#   KAFKA_PORTS, KAFKA_CONTROLLER_PORTS
#                            comma-separated ports, one per node, instead of the above
#   KAFKA_STATE_DIR          data, logs and pid files (default .local/kafka; a cluster:
#                            .local/kafka-cluster)
#   KAFKA_HEAP_OPTS          JVM heap per node (default -Xms256m -Xmx768m, a cluster's nodes
#                            -Xms128m -Xmx256m; keep it <= 1 GB)
#   KAFKA_WAIT_TIMEOUT       seconds for `wait` (default 60)
#   JAVA_HOME                Java 17+ to use (default: `java` on PATH)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/../.." && pwd)"
POM="$SCRIPT_DIR/pom.xml"
LIBS="$REPO/.cache/kafka/libs"
STAMP="$LIBS/.pom.sha256"
KAFKA_CLUSTER="${KAFKA_CLUSTER:-1}"
[[ "$KAFKA_CLUSTER" =~ ^[1-9]$ ]] || { echo "kafka.sh: KAFKA_CLUSTER must be 1-9, not '$KAFKA_CLUSTER'" >&2; exit 2; }
if ((KAFKA_CLUSTER == 1)); then
  ROOT="${KAFKA_STATE_DIR:-$REPO/.local/kafka}"
  KAFKA_PORT="${KAFKA_PORT:-9092}"
  KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
  KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"
else
  ROOT="${KAFKA_STATE_DIR:-$REPO/.local/kafka-cluster}"
  KAFKA_PORT="${KAFKA_PORT:-29092}"
  KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-29093}"
  KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx256m}"
fi
KAFKA_WAIT_TIMEOUT="${KAFKA_WAIT_TIMEOUT:-60}"
STOP_TIMEOUT=20
# Replication: every copy on another node, up to three; writes need two in sync (one
# below three nodes), so a cluster of three keeps accepting acks=all writes with one down.
RF=$((KAFKA_CLUSTER < 3 ? KAFKA_CLUSTER : 3))
MIN_ISR=$((RF < 3 ? 1 : 2))

# The listener ports of every node, from the lists or from the base ports (stride 2, so
# the default pairs 29092/29093, 29094/29095, ... never overlap).
declare -a BROKER_PORTS CONTROLLER_PORTS
if [[ -n "${KAFKA_PORTS:-}" ]]; then IFS=, read -r -a BROKER_PORTS <<<"$KAFKA_PORTS"; fi
if [[ -n "${KAFKA_CONTROLLER_PORTS:-}" ]]; then IFS=, read -r -a CONTROLLER_PORTS <<<"$KAFKA_CONTROLLER_PORTS"; fi
for ((n = 1; n <= KAFKA_CLUSTER; n++)); do
  if [[ -z "${KAFKA_PORTS:-}" ]]; then BROKER_PORTS[n - 1]=$((KAFKA_PORT + 2 * (n - 1))); fi
  if [[ -z "${KAFKA_CONTROLLER_PORTS:-}" ]]; then CONTROLLER_PORTS[n - 1]=$((KAFKA_CONTROLLER_PORT + 2 * (n - 1))); fi
done
if ((${#BROKER_PORTS[@]} != KAFKA_CLUSTER || ${#CONTROLLER_PORTS[@]} != KAFKA_CLUSTER)); then
  echo "kafka.sh: KAFKA_PORTS / KAFKA_CONTROLLER_PORTS need $KAFKA_CLUSTER ports each" >&2; exit 2
fi
if (($(printf '%s\n' "${BROKER_PORTS[@]}" "${CONTROLLER_PORTS[@]}" | sort -u | wc -l) != 2 * KAFKA_CLUSTER)); then
  echo "kafka.sh: the nodes' ports overlap: brokers ${BROKER_PORTS[*]}, controllers ${CONTROLLER_PORTS[*]}" >&2; exit 2
fi
VOTERS=""
for ((n = 1; n <= KAFKA_CLUSTER; n++)); do VOTERS+="${VOTERS:+,}$n@127.0.0.1:${CONTROLLER_PORTS[n - 1]}"; done
CLUSTER_ID_FILE="$ROOT/cluster.id"

# Node n's files and ports, into globals. One node keeps today's layout (ROOT itself);
# a cluster's nodes live in ROOT/node-<n>.
select_node() {
  NODE="$1"
  if ((KAFKA_CLUSTER == 1)); then STATE="$ROOT"; else STATE="$ROOT/node-$NODE"; fi
  DATA="$STATE/data"
  LOGS="$STATE/logs"
  PIDFILE="$STATE/kafka.pid"
  PROPS="$STATE/server.properties"
  LOG4J="$STATE/log4j2.properties"
  PORT="${BROKER_PORTS[NODE - 1]}"
  CPORT="${CONTROLLER_PORTS[NODE - 1]}"
}
select_node 1

# Main classes, checked with `unzip -l kafka_2.13-4.1.1.jar`: both live in the Scala core jar.
MAIN_BROKER="kafka.Kafka"
MAIN_STORAGE="kafka.tools.StorageTool"

log() { echo "kafka.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

external() { [[ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; }

bootstrap() {
  if external; then echo "$KAFKA_BOOTSTRAP_SERVERS"; return; fi
  local list="" p
  for p in "${BROKER_PORTS[@]}"; do list+="${list:+,}127.0.0.1:$p"; done
  echo "$list"
}

# The nodes a command applies to: the one named, or all of them.
nodes() {
  if [[ -n "${1:-}" ]]; then
    if ! [[ "$1" =~ ^[0-9]+$ ]] || (($1 < 1 || $1 > KAFKA_CLUSTER)); then
      die "no node '$1' (KAFKA_CLUSTER=$KAFKA_CLUSTER)"
    fi
    echo "$1"
  else
    seq 1 "$KAFKA_CLUSTER"
  fi
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
  # Rewritten on every start so that a changed port takes effect; the formatted data
  # does not depend on the listener ports (a cluster's voters must stay the same, though).
  cat >"$PROPS" <<EOF
# Generated by deploy/kafka/kafka.sh on every start: edit the script, not this file.
# Node $NODE of $KAFKA_CLUSTER, acting as both KRaft controller and broker.
process.roles=broker,controller
node.id=$NODE
controller.quorum.voters=$VOTERS
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$DATA

# Topics are created explicitly by the services (as in production), so a typo in a topic
# name fails loudly instead of silently creating a new topic.
auto.create.topics.enable=false
num.partitions=3
default.replication.factor=$RF
min.insync.replicas=$MIN_ISR
unclean.leader.election.enable=false

# Internal topics are replicated like the others (one node: factor 1).
offsets.topic.replication.factor=$RF
# The default is 50 partitions; fewer make the first consumer-group join faster on a dev box.
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$RF
transaction.state.log.min.isr=$MIN_ISR
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=$RF
share.coordinator.state.topic.min.isr=$MIN_ISR

# A node that stops heartbeating (killed, frozen) is fenced after 6 s and leaves every
# in-sync replica set, so acks=all writes go on with the others (default 9 s).
broker.session.timeout.ms=6000
broker.heartbeat.interval.ms=1000

# Tests start consumers and expect them to get partitions at once.
group.initial.rebalance.delay.ms=0

# Small machine (2 cores).
num.network.threads=2
num.io.threads=$((KAFKA_CLUSTER == 1 ? 4 : 2))
num.replica.fetchers=1
num.recovery.threads.per.data.dir=1
background.threads=$((KAFKA_CLUSTER == 1 ? 4 : 2))

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
  # One start at a time, or two racing starts would both launch a node. The nodes must
  # not inherit the lock's fd (9>&- below), or they would hold the lock while they run.
  mkdir -p "$ROOT"
  exec 9>"$ROOT/.start.lock"
  flock -w 120 9 || die "another 'kafka.sh start' has held $ROOT/.start.lock for 2 minutes"
  local java n
  java="$(find_java)"
  cmd_fetch
  # Every node of a cluster is formatted with the same cluster id, kept beside them.
  if [[ ! -s "$CLUSTER_ID_FILE" ]]; then
    "$java" -cp "$LIBS/*" "$MAIN_STORAGE" random-uuid 2>/dev/null | tail -n1 >"$CLUSTER_ID_FILE"
  fi
  for n in $(nodes "${1:-}"); do start_node "$java" "$n"; done
  exec 9>&-
  log "run '$0 wait' to block until $(bootstrap) answers"
}

start_node() {  # java, node
  local java="$1" pid
  select_node "$2"
  if pid="$(broker_pid)"; then
    log "node $NODE already running (pid $pid) on 127.0.0.1:$PORT"
    return 0
  fi
  if port_open 127.0.0.1 "$PORT" || port_open 127.0.0.1 "$CPORT"; then
    die "port $PORT or $CPORT on 127.0.0.1 is taken by another process (another Kafka? check: ss -ltnp). Set KAFKA_PORT / KAFKA_CONTROLLER_PORT, or KAFKA_BOOTSTRAP_SERVERS to use that broker."
  fi
  write_config

  set_jvm "$java"

  # Format once: meta.properties marks a formatted log dir.
  if [[ ! -f "$DATA/meta.properties" ]]; then
    local cluster_id
    cluster_id="$(cat "$CLUSTER_ID_FILE")"
    log "formatting KRaft storage in $DATA (cluster id $cluster_id)"
    "${JVM[@]}" -cp "$LIBS/*" "$MAIN_STORAGE" format -t "$cluster_id" -c "$PROPS" >>"$LOGS/format.log" 2>&1 \
      || { tail -n 30 "$LOGS/format.log" >&2; die "storage format failed (log: $LOGS/format.log)"; }
  fi

  log "starting $(kafka_version) node $NODE of $KAFKA_CLUSTER on 127.0.0.1:$PORT (logs: $LOGS)"
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
    die "node $NODE exited at once (logs: $LOGS)"
  fi
  log "node $NODE started (pid $pid)"
}

cmd_stop() {
  if external; then
    log "KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS is set: external broker, nothing to stop"
    return 0
  fi
  # Every node is told at once: stopped one after the other, the last ones would wait for
  # a controller quorum that is already gone.
  local n pid
  local -a pids=()
  for n in $(nodes "${1:-}"); do
    select_node "$n"
    if ! pid="$(broker_pid)"; then
      log "node $NODE not running"
      rm -f "$PIDFILE"
      continue
    fi
    log "stopping node $NODE, pid $pid (SIGTERM, controlled shutdown)"
    kill -TERM "$pid" 2>/dev/null || true
    pids+=("$pid")
  done
  local deadline=$((SECONDS + STOP_TIMEOUT))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid still alive after ${STOP_TIMEOUT}s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    fi
  done
  for n in $(nodes "${1:-}"); do select_node "$n"; broker_pid >/dev/null || rm -f "$PIDFILE"; done
  ((${#pids[@]} == 0)) || log "stopped"
}

cmd_status() {
  if external; then
    local first="${KAFKA_BOOTSTRAP_SERVERS%%,*}"
    if port_open "${first%:*}" "${first##*:}"; then
      log "external broker $KAFKA_BOOTSTRAP_SERVERS is reachable"; return 0
    fi
    log "external broker $KAFKA_BOOTSTRAP_SERVERS is not reachable"; return 1
  fi
  local pid n status=0
  for n in $(nodes "${1:-}"); do
    select_node "$n"
    if pid="$(broker_pid)"; then
      local rss
      rss="$(awk '/^VmRSS/ {printf "%d MB", $2/1024}' "/proc/$pid/status" 2>/dev/null || echo "?")"
      log "node $NODE running (pid $pid, RSS $rss) on 127.0.0.1:$PORT"
    else
      log "node $NODE not running"
      status=1
    fi
  done
  return "$status"
}

cmd_pid() {
  [[ -n "${1:-}" ]] || die "usage: $0 pid NODE"
  select_node "$(nodes "$1")"
  broker_pid
}

# A real Kafka round trip (ApiVersions + Metadata) via aiokafka from the project's venv,
# the client the services use; a cluster answers only once all its nodes are in the
# metadata. Without the venv we settle for the listeners being open and every node having
# logged that it started.
probe() {
  local py="$REPO/.venv/bin/python"
  if [[ -x "$py" ]] && "$py" -c 'import aiokafka' 2>/dev/null; then
    local expected=1
    external || expected="$KAFKA_CLUSTER"
    timeout 20 "$py" - "$(bootstrap)" "$expected" >/dev/null 2>&1 <<'EOF'
import asyncio, sys
from aiokafka import AIOKafkaProducer

async def main():
    producer = AIOKafkaProducer(bootstrap_servers=sys.argv[1], request_timeout_ms=5000)
    await producer.start()   # bootstraps: fetches api versions and cluster metadata
    try:
        await producer.client.force_metadata_update()
        brokers = len(producer.client.cluster.brokers())
    finally:
        await producer.stop()
    sys.exit(0 if brokers >= int(sys.argv[2]) else 1)

asyncio.run(main())
EOF
  else
    external && return 0
    local n
    for n in $(nodes); do
      select_node "$n"
      grep -q "Kafka Server started" "$LOGS/server.log" 2>/dev/null || return 1
    done
  fi
}

cmd_wait() {
  local first
  first="$(bootstrap)"
  first="${first%%,*}"
  local host="${first%:*}" port="${first##*:}"
  local deadline=$((SECONDS + KAFKA_WAIT_TIMEOUT)) pid="" n
  while :; do
    if ! external; then
      for n in $(nodes); do
        select_node "$n"
        if ! pid="$(broker_pid)"; then
          log "node $NODE is not running"
          [[ -f "$LOGS/server.log" ]] && { log "last 50 lines of $LOGS/server.log:"; tail -n 50 "$LOGS/server.log" >&2; }
          [[ -s "$LOGS/kafka.out" ]] && { log "last 20 lines of $LOGS/kafka.out:"; tail -n 20 "$LOGS/kafka.out" >&2; }
          return 1
        fi
      done
    fi
    if port_open "$host" "$port" && probe; then
      log "broker on $(bootstrap) is ready"
      return 0
    fi
    if ((SECONDS >= deadline)); then
      log "broker on $(bootstrap) did not answer within ${KAFKA_WAIT_TIMEOUT}s"
      if ! external; then
        for n in $(nodes); do
          select_node "$n"
          [[ -f "$LOGS/server.log" ]] || continue
          log "last 30 lines of $LOGS/server.log:"
          tail -n 30 "$LOGS/server.log" >&2
        done
      fi
      return 1
    fi
    sleep 0.5
  done
}

# A node named on the command line must exist (checked here, outside any $(...)).
if [[ -n "${2:-}" ]]; then nodes "$2" >/dev/null; fi
case "${1:-}" in
  fetch) cmd_fetch ;;
  start) cmd_start "${2:-}" ;;
  stop) cmd_stop "${2:-}" ;;
  status) cmd_status "${2:-}" ;;
  wait) cmd_wait ;;
  pid) cmd_pid "${2:-}" ;;
  bootstrap) bootstrap ;;
  *) echo "usage: $0 {fetch|start [node]|stop [node]|status [node]|wait|pid node|bootstrap}" >&2; exit 2 ;;
esac
