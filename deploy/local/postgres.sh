#!/usr/bin/env bash
# The local PostgreSQL 15 cluster under .local/pg. As root it runs as the `postgres`
# user (the server refuses to run as root); otherwise as the calling user.
#   postgres.sh start | stop | status
source "$(dirname "$0")/common.sh"
PGDIR="$LOCAL/pg"
DATA="$PGDIR/data"
SOCK="$PGDIR/run"
PWFILE="$LOCAL/pg-password"

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ensure_binaries() {
  if [ -x "$PG_BIN/pg_ctl" ]; then return 0; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing the PostgreSQL 15 server binaries from Debian"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15) >/dev/null \
      || die "could not install postgresql-15 with apt-get"
  fi
  [ -x "$PG_BIN/pg_ctl" ] || die "PostgreSQL 15 server binaries not found in $PG_BIN: 'apt-get install -y postgresql-15'"
}

# The postgres user must be able to reach .local/pg: give traversal (x) to ancestors that lack it.
ensure_traversal() {
  [ "$(id -u)" = 0 ] || return 0
  id postgres >/dev/null 2>&1 || die "no 'postgres' system user: install the postgresql-15 package"
  local d="$PGDIR"
  while [ "$d" != "/" ]; do
    if ! runuser -u postgres -- test -x "$d" 2>/dev/null; then chmod o+x "$d"; fi
    d="$(dirname "$d")"
  done
}

init() {
  mkdir -p "$PGDIR"
  [ "$(id -u)" = 0 ] && chown postgres: "$PGDIR"
  ensure_traversal
  if [ -f "$DATA/PG_VERSION" ]; then return 0; fi
  say "initialising a PostgreSQL cluster in $DATA"
  as_owner "$PG_BIN/initdb" -D "$DATA" -U postgres -E UTF8 --no-locale \
    --auth-local=peer --auth-host=scram-sha-256 >"$PGDIR/initdb.log" 2>&1 \
    || { tail -n 20 "$PGDIR/initdb.log" >&2; die "initdb failed"; }
  cat >> "$DATA/postgresql.conf" <<CONF
# credit-hub local settings
listen_addresses = '127.0.0.1'
unix_socket_directories = '$SOCK'
unix_socket_permissions = 0700
max_connections = 300
shared_buffers = 256MB
logging_collector = off
CONF
}

# Checkpoint spacing for bulk work (a 200k-decision submit, a unit replaying the log): at
# the default max_wal_size (1GB) checkpoints came every ~25 s during benchmarks, and every
# page first touched after one is written whole to the WAL again. Durability is unchanged
# (fsync and synchronous_commit stay on). Kept in a file of its own so that clusters
# initialised before this setting get it too; reloadable, no restart needed.
tune() {
  as_owner tee "$DATA/credit-hub.conf" >/dev/null <<CONF
max_wal_size = 4GB
checkpoint_timeout = 15min
CONF
  grep -q "^include_if_exists = 'credit-hub.conf'" "$DATA/postgresql.conf" \
    || echo "include_if_exists = 'credit-hub.conf'" | as_owner tee -a "$DATA/postgresql.conf" >/dev/null
}

# Client authentication, rewritten on every start (a cluster initialised by an older
# version trusted every local socket connection): the cluster's owner reaches its superuser
# over the socket by peer authentication (the OS user, mapped to `postgres`); every other
# connection, socket or TCP, needs a password (SCRAM). Nothing is trusted.
secure_auth() {
  local owner; owner="$( [ "$(id -u)" = 0 ] && echo postgres || id -un )"
  as_owner tee "$DATA/pg_ident.conf" >/dev/null <<CONF
# Written by deploy/local/postgres.sh. MAPNAME  SYSTEM-USERNAME  PG-USERNAME
owner  $owner  postgres
CONF
  as_owner tee "$DATA/pg_hba.conf" >/dev/null <<'CONF'
# Written by deploy/local/postgres.sh: no "trust" anywhere (docs/threat-model.md).
# TYPE  DATABASE  USER      ADDRESS        METHOD
local   all       postgres                 peer map=owner
local   all       all                      scram-sha-256
host    all       all       127.0.0.1/32   scram-sha-256
host    all       all       ::1/128        scram-sha-256
CONF
}

start() {
  ensure_binaries
  init
  tune
  secure_auth
  mkdir -p "$SOCK"; [ "$(id -u)" = 0 ] && chown postgres: "$SOCK"; chmod 700 "$SOCK"
  if as_owner "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    say "PostgreSQL already running"
    as_owner "$PG_BIN/pg_ctl" -D "$DATA" reload >/dev/null 2>&1 || true
  else
    port_free "$PG_PORT" || die "port $PG_PORT (PostgreSQL) is already taken; free it or set HUB_LOCAL_PG_PORT"
    say "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    as_owner "$PG_BIN/pg_ctl" -D "$DATA" -l "$PGDIR/postgres.log" -o "-p $PG_PORT" -w -t 60 start >/dev/null \
      || { tail -n 20 "$PGDIR/postgres.log" >&2; die "PostgreSQL did not start (log: $PGDIR/postgres.log)"; }
  fi
  ensure_role
}

ensure_role() {
  if [ ! -s "$PWFILE" ]; then
    (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$PWFILE")
  fi
  local pw; pw="$(cat "$PWFILE")"
  as_owner "$PG_BIN/psql" -q -h "$SOCK" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -v pw="$pw" >/dev/null <<'SQL' || die "could not create the hub role and database"
SELECT format('CREATE ROLE hub LOGIN CREATEDB CREATEROLE PASSWORD %L', :'pw')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hub') \gexec
SELECT format('ALTER ROLE hub CREATEROLE PASSWORD %L', :'pw') \gexec
SELECT 'CREATE DATABASE hub OWNER hub'
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'hub') \gexec
SQL
}

stop() {
  [ -f "$DATA/PG_VERSION" ] || return 0
  if as_owner "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    say "stopping PostgreSQL"
    as_owner "$PG_BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) as_owner "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1 && echo running || echo stopped ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
