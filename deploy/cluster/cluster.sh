#!/usr/bin/env bash
# A 3-broker KRaft cluster on one machine (own ports and log dirs under .local/cluster/),
# from the same Maven Central jars as deploy/local. For fault-injection tests and benchmarks.
#   cluster.sh start | stop | status | kill N | restart N | env
source "$(dirname "$0")/../local/common.sh"
CDIR="$LOCAL/cluster"
NODES=(1 2 3)
ADMIN_PWFILE="$LOCAL/kafka-admin-password"
CONTROLLER_PWFILE="$LOCAL/kafka-controller-password"
BOOTSTRAP="127.0.0.1:21092,127.0.0.1:22092,127.0.0.1:23092"

java_opts() {
  echo "-Xms128m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile=$DEPLOY/log4j2.properties -Dkafka.logs.dir=$CDIR/node$1/logs"
}

render() {
  local n=$1 dir="$CDIR/node$1"
  mkdir -p "$dir/data" "$dir/logs"
  (umask 077; sed -e "s:@ID@:$n:g" -e "s:@DATA@:$dir/data:" \
    -e "s:@ADMIN_PASSWORD@:$(cat "$ADMIN_PWFILE"):" \
    -e "s:@CONTROLLER_PASSWORD@:$(cat "$CONTROLLER_PWFILE"):g" \
    "$ROOT/deploy/cluster/node.properties.in" > "$dir/server.properties")
}

format_all() {
  [ -f "$CDIR/cluster-id" ] || java -cp "$KAFKA_LIB/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1 > "$CDIR/cluster-id"
  for n in "${NODES[@]}"; do
    [ -f "$CDIR/node$n/data/meta.properties" ] && continue
    # shellcheck disable=SC2046
    java $(java_opts "$n") -cp "$KAFKA_LIB/*" kafka.tools.StorageTool format -t "$(cat "$CDIR/cluster-id")" \
      -c "$CDIR/node$n/server.properties" --ignore-formatted \
      --add-scram "SCRAM-SHA-512=[name=admin,password=$(cat "$ADMIN_PWFILE")]" \
      >"$CDIR/node$n/logs/format.log" 2>&1 || { tail -n 20 "$CDIR/node$n/logs/format.log" >&2; die "format of node $n failed"; }
  done
}

start_node() {
  local n=$1 dir="$CDIR/node$1"
  if pid_alive "$dir/pid"; then return 0; fi
  port_free "2${n}092" || die "port 2${n}092 (cluster node $n) is already taken"
  : > "$dir/logs/server.log"
  # shellcheck disable=SC2046
  setsid nohup java $(java_opts "$n") -cp "$KAFKA_LIB/*" kafka.Kafka "$dir/server.properties" \
    >"$dir/logs/stdout.log" 2>&1 < /dev/null &
  echo $! > "$dir/pid"
}

wait_node() {
  local n=$1 dir="$CDIR/node$1" waited=0
  until grep -q "Kafka Server started" "$dir/logs/server.log" 2>/dev/null; do
    pid_alive "$dir/pid" || { tail -n 30 "$dir/logs/server.log" >&2; die "cluster node $n exited during start-up"; }
    [ "$waited" -ge 90 ] && { tail -n 30 "$dir/logs/server.log" >&2; die "cluster node $n did not start within 90 s"; }
    sleep 1; waited=$((waited + 1))
  done
}

stop_node() {
  local dir="$CDIR/node$1" sig=${2:-TERM}
  pid_alive "$dir/pid" || { rm -f "$dir/pid"; return 0; }
  local pid; pid=$(cat "$dir/pid")
  kill -"$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/pid"
}

case "${1:-}" in
  start)
    "$DEPLOY/kafka.sh" assemble
    for f in "$ADMIN_PWFILE" "$CONTROLLER_PWFILE"; do
      [ -s "$f" ] || (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$f")
    done
    for n in "${NODES[@]}"; do render "$n"; done
    format_all
    for n in "${NODES[@]}"; do start_node "$n"; done
    for n in "${NODES[@]}"; do wait_node "$n"; done
    say "3-broker cluster up: $BOOTSTRAP" ;;
  stop) for n in "${NODES[@]}"; do stop_node "$n"; done ;;
  kill) stop_node "$2" KILL ;;
  restart) render "$2"; start_node "$2"; wait_node "$2" ;;
  status) for n in "${NODES[@]}"; do pid_alive "$CDIR/node$n/pid" && echo "node $n running" || echo "node $n stopped"; done ;;
  env)
    echo "HUB_KAFKA_BOOTSTRAP=$BOOTSTRAP"
    echo "HUB_KAFKA_USERNAME=admin"
    echo "HUB_KAFKA_PASSWORD=$(cat "$ADMIN_PWFILE")"
    echo "HUB_TOPIC_REPLICATION_FACTOR=3"
    echo "HUB_TOPIC_MIN_INSYNC_REPLICAS=2" ;;
  *) echo "usage: $0 start|stop|status|kill N|restart N|env" >&2; exit 2 ;;
esac
