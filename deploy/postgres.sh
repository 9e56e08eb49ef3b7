#!/usr/bin/env bash
# Project-local PostgreSQL cluster for development and tests.
#
#   deploy/postgres.sh start    install PostgreSQL if needed, initdb once, start, create role/db
#   deploy/postgres.sh stop     fast shutdown
#   deploy/postgres.sh status   exit 0 if the cluster is up and accepting connections
#   deploy/postgres.sh checkpoint  write every dirty page now, as the cluster's superuser
#                               (`make bench` between two benches; the app's role cannot)
#   deploy/postgres.sh url      print the connection URL (postgresql://onestop:onestop@127.0.0.1:55432/onestop)
#
# Environment:
#   DATABASE_URL  an external database: start/stop/status do nothing but say so, `url` prints it
#   PG_PORT       TCP port on 127.0.0.1 (default 55432, away from a system cluster's 5432)
#   PG_BIN        PostgreSQL bin directory (default: newest /usr/lib/postgresql/*/bin)
#
# Where the cluster lives
#   As a normal user: <repo>/.local/pg/{data,log,run}.
#   As root: the server must run as the `postgres` user, and the checkout may sit under a
#   directory postgres cannot traverse (/root is 700, for instance). Rather than loosening
#   the permissions of directories we do not own (chmod o+x on every parent), the cluster
#   goes to <postgres home>/onestop-<hash of the repo path> (/var/lib/postgresql/..., the
#   place Debian keeps clusters: owned by postgres, persistent, not cleaned like /tmp or
#   /var/tmp) and <repo>/.local/pg is a symlink to it. That also keeps the unix socket path
#   short (sockets are limited to ~107 bytes, and a deep checkout path would overflow it).
#   A checkout at another path gets its own cluster; `stop` it before deleting a checkout.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
PG_PORT="${PG_PORT:-55432}"
DB_USER=onestop
DB_PASSWORD=onestop
DB_NAME=onestop
URL="postgresql://$DB_USER:$DB_PASSWORD@127.0.0.1:$PG_PORT/$DB_NAME"
HASH="$(printf '%s' "$REPO" | sha256sum | cut -c1-12)"
LINK="$REPO/.local/pg"

# libpq/pg_ctl environment from the caller must not redirect our commands elsewhere.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS PGDATA PGSSLMODE

log() { echo "postgres.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

is_root() { [[ $EUID -eq 0 ]]; }

# Run a command as the cluster's owner: `postgres` when we are root (PostgreSQL refuses to
# run as root), ourselves otherwise. `cd /` because postgres may not be allowed into our cwd.
as_owner() {
  if is_root; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# Write stdin to a file as the cluster's owner.
# shellcheck disable=SC2016 # $1 is expanded by the inner sh
write_as_owner() { as_owner sh -c 'cat >"$1"' _ "$1"; }

# --- binaries ---------------------------------------------------------------------------

has_server_bins() { [[ -x "$1/initdb" && -x "$1/pg_ctl" && -x "$1/postgres" && -x "$1/pg_isready" && -x "$1/psql" ]]; }

find_bindir() {
  if [[ -n "${PG_BIN:-}" ]]; then
    has_server_bins "$PG_BIN" || die "PG_BIN=$PG_BIN lacks initdb/pg_ctl/postgres/psql/pg_isready"
    echo "$PG_BIN"; return 0
  fi
  # An existing cluster must be run by the major version that created it.
  if [[ -f "$PGROOT/data/PG_VERSION" ]]; then
    local v
    v="$(cat "$PGROOT/data/PG_VERSION")"
    if has_server_bins "/usr/lib/postgresql/$v/bin"; then echo "/usr/lib/postgresql/$v/bin"; return 0; fi
    die "the cluster in $PGROOT/data was made by PostgreSQL $v, whose server binaries are missing (apt-get install -y postgresql-$v, or delete $PGROOT to start afresh)"
  fi
  local d
  # Debian/Ubuntu layout, newest major version first.
  while read -r d; do
    has_server_bins "$d" && { echo "$d"; return 0; }
  done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r)
  # Other distributions put the binaries on PATH.
  if d="$(command -v pg_ctl)"; then
    d="$(dirname "$d")"
    has_server_bins "$d" && { echo "$d"; return 0; }
  fi
  return 1
}

install_postgres() {
  is_root || die "PostgreSQL server binaries not found; install them (Debian: sudo apt-get install -y postgresql) or set PG_BIN"
  command -v apt-get >/dev/null || die "PostgreSQL server binaries not found and this is not a Debian-like system; install PostgreSQL or set PG_BIN"
  log "PostgreSQL server binaries not found: installing the Debian package 'postgresql'"
  # We only want the binaries. Tell postgresql-common not to create (and start) its default
  # 'main' cluster on 5432, which would be a second server nobody uses.
  mkdir -p /etc/postgresql-common/createcluster.d
  local noconf=/etc/postgresql-common/createcluster.d/onestop-no-main-cluster.conf
  [[ -e "$noconf" ]] || echo "create_main_cluster = false  # deploy/postgres.sh runs its own cluster" >"$noconf"
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
}

# --- layout -----------------------------------------------------------------------------

# Sets PGROOT (the cluster's folder, holding data/ log/ run/) and SOCKDIR.
setup_layout() {
  mkdir -p "$REPO/.local"
  if is_root; then
    getent passwd postgres >/dev/null || die "user 'postgres' does not exist (install the postgresql package)"
    local home
    home="$(getent passwd postgres | cut -d: -f6)"
    [[ -d "$home" ]] || home=/var/lib/onestop-pg
    PGROOT="$home/onestop-$HASH"
    # .local/pg -> $PGROOT (replace a stale symlink; never clobber a real directory).
    if [[ -d "$LINK" && ! -L "$LINK" ]]; then
      rmdir "$LINK" 2>/dev/null || die "$LINK is a directory (made as a non-root user?); move it away: as root the cluster lives in $PGROOT"
    fi
    install -d -m 755 "$(dirname "$PGROOT")"
    install -d -o postgres -g postgres -m 700 "$PGROOT"
    [[ -L "$LINK" && "$(readlink "$LINK")" == "$PGROOT" ]] || ln -sfn "$PGROOT" "$LINK"
  else
    PGROOT="$LINK"
    [[ -L "$LINK" ]] && die "$LINK is a symlink to a cluster made as root ($(readlink "$LINK")); run this script as root, or remove the link"
    mkdir -p "$PGROOT" && chmod 700 "$PGROOT"
  fi
  [[ "$(stat -c %U "$PGROOT/")" == "$(owner_name)" ]] || die "$PGROOT is not owned by $(owner_name)"
  echo "$REPO" | write_as_owner "$PGROOT/REPO"   # lets a port clash name the other checkout
  as_owner mkdir -p "$PGROOT/log" "$PGROOT/run"
  SOCKDIR="$PGROOT/run"
  if (( ${#SOCKDIR} > 90 )); then
    # Too long for a unix socket path: fall back to a private folder in /tmp.
    SOCKDIR="/tmp/onestop-pg-$HASH"
    as_owner mkdir -p "$SOCKDIR" && as_owner chmod 700 "$SOCKDIR"
    [[ "$(stat -c %U "$SOCKDIR")" == "$(owner_name)" ]] || die "$SOCKDIR is not owned by $(owner_name)"
  fi
  DATA="$PGROOT/data"
}

owner_name() { if is_root; then echo postgres; else id -un; fi; }

# --- cluster ----------------------------------------------------------------------------

init_cluster() {
  [[ -f "$DATA/PG_VERSION" ]] && return 0
  # C.UTF-8 keeps sorting byte-wise and deterministic but still knows the case of
  # non-ASCII letters (upper('đ') = 'Đ'); plain C where that locale does not exist.
  local locale=C
  locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$' && locale=C.UTF-8
  log "initdb $DATA (PostgreSQL $("$BIN/postgres" --version | awk '{print $3}'), locale $locale)"
  # Unix-socket connections are trusted (only the owner can reach run/, and this script
  # administers the cluster through them); TCP needs the password (scram), as in production.
  as_owner "$BIN/initdb" -D "$DATA" -U postgres -E UTF8 --locale="$locale" \
    --auth-local=trust --auth-host=scram-sha-256 >"$PGROOT/log/initdb.log" 2>&1 \
    || { tail -n 30 "$PGROOT/log/initdb.log" >&2; die "initdb failed (log: $PGROOT/log/initdb.log)"; }
  # shellcheck disable=SC2016 # $1 is expanded by the inner sh
  echo "include = 'onestop.conf'  # written by deploy/postgres.sh on every start" \
    | as_owner sh -c 'cat >>"$1"' _ "$DATA/postgresql.conf"
}

write_config() {
  write_as_owner "$DATA/onestop.conf" <<EOF
# Written by deploy/postgres.sh on every start: edit the script, not this file.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$SOCKDIR'
cluster_name = 'onestop'
max_connections = 300

# Memory for a dev/test box (24 GB RAM, 2 cores).
shared_buffers = 256MB
work_mem = 8MB
maintenance_work_mem = 128MB
effective_cache_size = 2GB
max_parallel_workers_per_gather = 1
random_page_cost = 1.1

# Durability stays as in production: tests must see the same commit semantics.
fsync = on
synchronous_commit = on
full_page_writes = on
max_wal_size = 1GB
checkpoint_timeout = 10min

# Logs: one file per weekday, overwritten a week later; slow statements and lock waits.
logging_collector = on
log_directory = '$PGROOT/log'
log_filename = 'postgresql-%a.log'
log_truncate_on_rotation = on
log_rotation_age = 1d
log_rotation_size = 0
log_line_prefix = '%m [%p] %q%u@%d '
log_min_duration_statement = 1000
log_lock_waits = on
EOF
}

running() { as_owner "$BIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1; }

running_port() { sed -n 4p "$DATA/postmaster.pid" 2>/dev/null; }

ready() { "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 1; }

port_taken() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PG_PORT" 2>/dev/null; }

# Which other project cluster (e.g. another checkout) holds our port, if any.
port_owner_hint() {
  local pidfile
  for pidfile in "$(dirname "$PGROOT")"/onestop-*/data/postmaster.pid; do
    [[ -f "$pidfile" && "$(sed -n 4p "$pidfile")" == "$PG_PORT" ]] || continue
    local root="${pidfile%/data/postmaster.pid}"
    echo " It is the cluster of $(cat "$root/REPO" 2>/dev/null || echo "$root"): stop it with <that checkout>/deploy/postgres.sh stop."
  done
}

ensure_role_and_db() {
  # Idempotent: create if missing, and reset the password so the URL always works.
  # CREATEDB lets tests create throwaway databases.
  as_owner "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKDIR" -p "$PG_PORT" -U postgres -d postgres >/dev/null <<EOF
SELECT 'CREATE ROLE $DB_USER' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER')\gexec
ALTER ROLE $DB_USER WITH LOGIN CREATEDB PASSWORD '$DB_PASSWORD';
SELECT 'CREATE DATABASE $DB_NAME OWNER $DB_USER' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DB_NAME')\gexec
EOF
}

# Sets BIN, PGROOT, SOCKDIR, DATA. With "install", installs PostgreSQL when it is missing;
# otherwise returns 1 then (stop/status have nothing to do on a machine without it).
prepare() {
  if ! BIN="$(find_bindir_early)"; then
    [[ "${1:-}" == install ]] || return 1
    install_postgres
    BIN="$(find_bindir_early)" || die "PostgreSQL server binaries still not found after installing"
  fi
  setup_layout
  # Now that PGROOT is known, use the major version of an existing cluster.
  BIN="$(find_bindir)" || die "PostgreSQL server binaries not found"
}

# Before PGROOT is known, any server bin dir will do to decide whether to install.
find_bindir_early() { PGROOT=/nonexistent find_bindir; }

# --- subcommands ------------------------------------------------------------------------

cmd_start() {
  prepare install
  # One start at a time (two test runs starting the cluster together). The server must not
  # inherit the lock's fd (9>&- below), or it would hold the lock for as long as it runs.
  exec 9>"$REPO/.local/.pg-start.lock"
  flock -w 120 9 || die "another 'postgres.sh start' has held $REPO/.local/.pg-start.lock for 2 minutes"
  if [[ -f "$DATA/PG_VERSION" ]] && running; then
    local port
    port="$(running_port)"
    [[ "$port" == "$PG_PORT" ]] || die "the cluster is already running on port $port, not $PG_PORT: run '$0 stop' first"
    log "already running on 127.0.0.1:$PG_PORT"
  else
    if port_taken; then
      die "port $PG_PORT on 127.0.0.1 is taken by another process.$(port_owner_hint) Or set PG_PORT, or DATABASE_URL to use that server."
    fi
    init_cluster
    write_config
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT (data: $DATA)"
    as_owner "$BIN/pg_ctl" start -D "$DATA" -w -t 60 -l "$PGROOT/log/startup.log" >/dev/null 9>&- \
      || { tail -n 30 "$PGROOT/log/startup.log" >&2; die "PostgreSQL did not start (logs: $PGROOT/log/)"; }
  fi
  local deadline=$((SECONDS + 30))
  until ready; do
    ((SECONDS < deadline)) || die "PostgreSQL does not accept TCP connections on 127.0.0.1:$PG_PORT (logs: $PGROOT/log/)"
    sleep 0.2
  done
  ensure_role_and_db
  exec 9>&-
  log "ready: $URL"
}

cmd_stop() {
  if ! prepare || ! running; then
    log "not running"
    return 0
  fi
  log "stopping"
  as_owner "$BIN/pg_ctl" stop -D "$DATA" -m fast -w -t 60 >/dev/null \
    || as_owner "$BIN/pg_ctl" stop -D "$DATA" -m immediate -w -t 30 >/dev/null
  log "stopped"
}

cmd_status() {
  if prepare && running && ready; then
    log "running on 127.0.0.1:$PG_PORT (data: $DATA): $URL"
    return 0
  fi
  log "not running"
  return 1
}

cmd_checkpoint() {
  prepare && running && ready || die "not running"
  as_owner "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKDIR" -p "$PG_PORT" -U postgres -d postgres \
    -c CHECKPOINT >/dev/null
}

case "${1:-}" in
  start | stop | status | checkpoint)
    if [[ -n "${DATABASE_URL:-}" ]]; then
      log "DATABASE_URL is set: using that external database, nothing to $1"
      exit 0
    fi
    "cmd_$1"
    ;;
  url) echo "${DATABASE_URL:-$URL}" ;;
  *) echo "usage: $0 {start|stop|status|checkpoint|url}" >&2; exit 2 ;;
esac
