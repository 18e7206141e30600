# Shared settings of the local services; sourced by kafka.sh, postgres.sh and up.sh.
# shellcheck shell=bash
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL="$ROOT/.local"
DEPLOY="$ROOT/deploy/local"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$DEPLOY/pom.xml")"
CACHE_DIR="${HUB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/credit-hub}"
KAFKA_LIB="$CACHE_DIR/kafka-$KAFKA_VERSION/lib"
KAFKA_PORT="${HUB_LOCAL_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${HUB_LOCAL_KAFKA_CONTROLLER_PORT:-19093}"
PG_PORT="${HUB_LOCAL_PG_PORT:-15432}"
PG_BIN="${HUB_PG_BIN:-/usr/lib/postgresql/15/bin}"

die() { echo "make up: $*" >&2; exit 1; }
say() { echo "==> $*"; }

# port_free PORT: true when nothing listens on 127.0.0.1:PORT
port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# pid_alive FILE: true when FILE holds the pid of a running process
pid_alive() {
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}
