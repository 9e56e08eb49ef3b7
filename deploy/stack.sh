#!/usr/bin/env bash
# The whole system on one machine: PostgreSQL, Kafka, a local SMTP server and SMS/Zalo
# gateway stand-ins, then the four services.
#
#   deploy/stack.sh infra   PostgreSQL + Kafka + topics (what the tests need)
#   deploy/stack.sh up      infra, dev servers and the four services in the background
#   deploy/stack.sh run     `up`, then follow the logs; Ctrl-C stops everything
#   deploy/stack.sh down    stop the services, dev servers, Kafka and PostgreSQL we started
#   deploy/stack.sh env     print the environment the services run with
#
# KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL point at existing servers instead.
# KAFKA_CLUSTER=3 runs a 3-node Kafka cluster (deploy/kafka/kafka.sh; topics at
# replication factor 3, min.insync.replicas 2) instead of the single broker.
# INSTANCES=2 runs two instances of every service: instance n of a service listens on its
# port + 10(n-1) (intake 8001, 8011, ...); the URLs the services call name instance 1.
set -euo pipefail

DEPLOY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$DEPLOY/.." && pwd)"
PY="$REPO/.venv/bin/python"
RUN="$REPO/.local/run"
LOGS="$REPO/.local/logs"
SERVICES=(intake routing sla notify)
declare -A PORTS=([intake]=8001 [routing]=8002 [sla]=8003 [notify]=8004)
INTAKE_WORKER_PORT=${INTAKE_WORKER_PORT:-8009}
INSTANCES="${INSTANCES:-1}"
[[ "$INSTANCES" =~ ^[1-9]$ ]] || { echo "INSTANCES must be 1-9, not '$INSTANCES'" >&2; exit 2; }
mkdir -p "$RUN" "$LOGS"
# What the caller gave us, before stack_env fills in defaults: only those are external.
USER_KAFKA="${KAFKA_BOOTSTRAP_SERVERS:-}"
USER_DB="${DATABASE_URL:-}"

stack_env() {
    # This script runs the project on a developer's machine: development mode, named
    # explicitly (public demo accounts, the dev portal key, dev service credentials).
    # A production start needs real secrets and refuses otherwise (docs/SECURITY.md).
    export ENVIRONMENT="${ENVIRONMENT:-development}"
    export DATABASE_URL="${DATABASE_URL:-$("$DEPLOY/postgres.sh" url)}"
    export KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-$("$DEPLOY/kafka/kafka.sh" bootstrap)}"
    export SMTP_PORT="${SMTP_PORT:-2525}"
    # Intake pushes to the stand-in national portal (services/intake/fakes) in development.
    if [[ "$ENVIRONMENT" == development ]]; then
        export DVCQG_PUSH_URL="${DVCQG_PUSH_URL-http://127.0.0.1:${DVCQG_STANDIN_PORT:-9111}}"
    fi
    export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
}

infra() {
    local started
    started=$(date +%s)
    "$DEPLOY/postgres.sh" start
    "$DEPLOY/signing.sh"
    "$DEPLOY/kafka/kafka.sh" fetch
    "$DEPLOY/kafka/kafka.sh" start
    "$DEPLOY/kafka/kafka.sh" wait
    stack_env
    "$PY" -m services.runtime.setup
    echo "infra ready in $(( $(date +%s) - started ))s"
}

start_bg() {  # name, command...
    local name=$1; shift
    if [[ -f "$RUN/$name.pid" ]] && kill -0 "$(cat "$RUN/$name.pid")" 2>/dev/null; then
        echo "$name already running"; return
    fi
    nohup "$@" >"$LOGS/$name.log" 2>&1 &
    echo $! >"$RUN/$name.pid"
}

# Instance n of a service: its name (the first keeps the plain name) and its port.
instance_name() { if (( $2 == 1 )); then echo "$1"; else echo "$1-$2"; fi; }
instance_port() { echo $(( PORTS[$1] + 10 * ($2 - 1) )); }

wait_ready() {
    local deadline=$(( $(date +%s) + ${READY_TIMEOUT:-60} )) svc n name port
    for svc in "${SERVICES[@]}"; do
        for (( n = 1; n <= INSTANCES; n++ )); do
            name=$(instance_name "$svc" "$n"); port=$(instance_port "$svc" "$n")
            until curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
                if (( $(date +%s) > deadline )); then
                    echo "$name is not ready; last log lines:" >&2
                    tail -n 40 "$LOGS/$name.log" >&2 || true
                    return 1
                fi
                sleep 0.3
            done
            echo "$name ready on http://127.0.0.1:$port"
        done
    done
}

up() {
    local started
    started=$(date +%s)
    infra
    start_bg devservers "$PY" -m services.notify.devservers
    if [[ "$ENVIRONMENT" == development ]]; then
        start_bg dvcqg-standin "$PY" -m services.intake.fakes --port "${DVCQG_STANDIN_PORT:-9111}"
    fi
    start_bg vnpay "$PY" -m services.intake.devservers  # stand-in VNPay on 9110
    start_bg postal "$PY" -m services.routing.fakes --port 8110  # stand-in postal service
    local svc n role
    for svc in "${SERVICES[@]}"; do
        # Intake's instances answer requests; its worker publishes, consumes, runs its jobs.
        role=all; [[ "$svc" == intake ]] && role=web
        for (( n = 1; n <= INSTANCES; n++ )); do
            SERVICE_ROLE=$role PORT=$(instance_port "$svc" "$n") \
                start_bg "$(instance_name "$svc" "$n")" "$PY" -m "services.$svc"
        done
    done
    SERVICE_ROLE=worker PORT=$INTAKE_WORKER_PORT start_bg intake-worker "$PY" -m services.intake
    wait_ready
    until curl -fsS "http://127.0.0.1:$INTAKE_WORKER_PORT/readyz" >/dev/null 2>&1; do sleep 0.3; done
    echo "intake-worker ready on http://127.0.0.1:$INTAKE_WORKER_PORT"
    echo "system ready in $(( $(date +%s) - started ))s (ENVIRONMENT=$ENVIRONMENT," \
        "$INSTANCES instance(s) per service, Kafka $KAFKA_BOOTSTRAP_SERVERS)"
    echo "Operator console: http://127.0.0.1:8002/console/"
    echo "Intake API docs:  http://127.0.0.1:8001/docs"
}

stop_pid() {
    local name=$1 pidfile="$RUN/$1.pid"
    [[ -f "$pidfile" ]] || return 0
    local pid; pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

down() {
    local pidfile nodes
    # Every instance started, whatever INSTANCES says now.
    for pidfile in "$RUN"/*.pid; do
        [[ -e "$pidfile" ]] || continue
        stop_pid "$(basename "$pidfile" .pid)"
    done
    # The Kafka of this run's settings, then the single broker and a default-located
    # cluster if they were started another time (stopping what is not running is a no-op).
    KAFKA_BOOTSTRAP_SERVERS="$USER_KAFKA" "$DEPLOY/kafka/kafka.sh" stop || true
    KAFKA_BOOTSTRAP_SERVERS="$USER_KAFKA" KAFKA_CLUSTER=1 KAFKA_STATE_DIR='' KAFKA_PORTS='' \
        KAFKA_CONTROLLER_PORTS='' "$DEPLOY/kafka/kafka.sh" stop >/dev/null 2>&1 || true
    # No cluster folder: find fails, and under pipefail so would the assignment.
    nodes=$( (find "$REPO/.local/kafka-cluster" -maxdepth 1 -name 'node-*' 2>/dev/null || true) | wc -l)
    if (( nodes > 1 )); then
        KAFKA_BOOTSTRAP_SERVERS="$USER_KAFKA" KAFKA_CLUSTER="$nodes" KAFKA_STATE_DIR='' \
            KAFKA_PORTS='' KAFKA_CONTROLLER_PORTS='' "$DEPLOY/kafka/kafka.sh" stop || true
    fi
    DATABASE_URL="$USER_DB" "$DEPLOY/postgres.sh" stop || true
}

run() {
    trap 'echo; echo "stopping..."; down; exit 0' INT TERM
    up
    echo "Following logs; Ctrl-C stops the whole system."
    local logs=() svc n
    for svc in "${SERVICES[@]}"; do
        for (( n = 1; n <= INSTANCES; n++ )); do logs+=("$LOGS/$(instance_name "$svc" "$n").log"); done
    done
    logs+=("$LOGS/intake-worker.log")
    tail -n 0 -F "${logs[@]}" &
    wait $!
}

case "${1:-}" in
    infra) infra ;;
    up) up ;;
    down) down ;;
    run) run ;;
    env) stack_env; env | grep -E '^(DATABASE_URL|KAFKA_BOOTSTRAP_SERVERS|SMTP_PORT|PYTHONPATH)=' ;;
    *) echo "usage: $0 infra|up|run|down|env" >&2; exit 2 ;;
esac
