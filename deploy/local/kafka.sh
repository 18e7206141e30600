#!/usr/bin/env bash
# The local Apache Kafka broker (KRaft, one node) from Maven Central jars.
#   kafka.sh assemble | start | stop | status | controller-probe TOPIC [USER PASSWORD]
source "$(dirname "$0")/common.sh"
KDIR="$LOCAL/kafka"
PIDFILE="$KDIR/broker.pid"
LOGDIR="$KDIR/logs"

assemble() {
  if [ -f "$KAFKA_LIB/.complete" ]; then return 0; fi
  command -v java >/dev/null || die "Java is missing: install it with 'apt-get install -y openjdk-17-jre-headless'"
  command -v mvn >/dev/null || die "Maven is missing: install it with 'apt-get install -y maven'"
  say "assembling Apache Kafka $KAFKA_VERSION from Maven Central into $KAFKA_LIB"
  rm -rf "$KAFKA_LIB.tmp" && mkdir -p "$KAFKA_LIB.tmp"
  if ! mvn -q -B -f "$DEPLOY/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$KAFKA_LIB.tmp" >"$CACHE_DIR/mvn.log" 2>&1; then
    tail -n 20 "$CACHE_DIR/mvn.log" >&2
    die "Maven could not fetch the Kafka jars (log: $CACHE_DIR/mvn.log)"
  fi
  ls "$KAFKA_LIB.tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || die "kafka_2.13 jar missing after Maven run"
  ls "$KAFKA_LIB.tmp"/log4j-slf4j2-impl-*.jar >/dev/null 2>&1 || die "no log4j2 slf4j binding among the jars"
  touch "$KAFKA_LIB.tmp/.complete"
  rm -rf "$KAFKA_LIB" && mv "$KAFKA_LIB.tmp" "$KAFKA_LIB"
}

ADMIN_PWFILE="$LOCAL/kafka-admin-password"
CONTROLLER_PWFILE="$LOCAL/kafka-controller-password"

secret() {  # secret FILE: a generated password, kept once in a 0600 file
  if [ ! -s "$1" ]; then
    (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$1")
  fi
}

# Renders server.properties. A broker already running with other settings (an older
# .local, whose controller listener let anonymous clients in) is restarted on the new ones.
render() {
  mkdir -p "$KDIR/data" "$LOGDIR"
  secret "$ADMIN_PWFILE"
  secret "$CONTROLLER_PWFILE"
  (umask 077; sed -e "s:@DATA@:$KDIR/data:" -e "s:@PORT@:$KAFKA_PORT:g" \
    -e "s:@CPORT@:$KAFKA_CONTROLLER_PORT:g" -e "s:@ADMIN_PASSWORD@:$(cat "$ADMIN_PWFILE"):" \
    -e "s:@CONTROLLER_PASSWORD@:$(cat "$CONTROLLER_PWFILE"):g" \
    "$DEPLOY/server.properties.in" > "$KDIR/server.properties.new")
  if [ -f "$KDIR/server.properties" ] && ! cmp -s "$KDIR/server.properties.new" "$KDIR/server.properties" \
      && pid_alive "$PIDFILE"; then
    say "Kafka's settings changed (e.g. the controller listener now authenticates): restarting it"
    stop
  fi
  mv "$KDIR/server.properties.new" "$KDIR/server.properties"
}

java_opts() {
  echo "-Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile=$DEPLOY/log4j2.properties -Dkafka.logs.dir=$LOGDIR"
}

format() {
  if [ -f "$KDIR/data/meta.properties" ] && [ -f "$KDIR/data/.scram-admin" ]; then return 0; fi
  if [ -f "$KDIR/data/meta.properties" ]; then
    # Storage from before authentication was on: its metadata has no admin credential and
    # nobody could log in. Local data only, so start again.
    say "local Kafka storage predates SCRAM authentication: re-formatting it"
    rm -rf "$KDIR/data"; mkdir -p "$KDIR/data"
  fi
  say "formatting KRaft storage (once), with the admin's SCRAM credential"
  local cid
  # shellcheck disable=SC2046
  cid="$(java $(java_opts) -cp "$KAFKA_LIB/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
  # shellcheck disable=SC2046
  java $(java_opts) -cp "$KAFKA_LIB/*" kafka.tools.StorageTool format -t "$cid" \
    -c "$KDIR/server.properties" --ignore-formatted \
    --add-scram "SCRAM-SHA-512=[name=admin,password=$(cat "$ADMIN_PWFILE")]" >"$LOGDIR/format.log" 2>&1 \
    || { tail -n 20 "$LOGDIR/format.log" >&2; die "formatting Kafka storage failed"; }
  touch "$KDIR/data/.scram-admin"
}

start() {
  assemble
  render
  if pid_alive "$PIDFILE"; then say "Kafka already running (pid $(cat "$PIDFILE"))"; return 0; fi
  port_free "$KAFKA_PORT" || die "port $KAFKA_PORT (Kafka client listener) is already taken; free it or set HUB_LOCAL_KAFKA_PORT"
  port_free "$KAFKA_CONTROLLER_PORT" || die "port $KAFKA_CONTROLLER_PORT (Kafka controller) is already taken; free it or set HUB_LOCAL_KAFKA_CONTROLLER_PORT"
  format
  say "starting Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT"
  : > "$LOGDIR/stdout.log"
  # shellcheck disable=SC2046
  setsid nohup java $(java_opts) -cp "$KAFKA_LIB/*" kafka.Kafka "$KDIR/server.properties" \
    >"$LOGDIR/stdout.log" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  local waited=0
  until grep -q "Kafka Server started" "$LOGDIR/server.log" 2>/dev/null \
        && ! port_free "$KAFKA_PORT"; do
    if ! pid_alive "$PIDFILE"; then
      tail -n 30 "$LOGDIR/server.log" "$LOGDIR/stdout.log" >&2 2>/dev/null || true
      rm -f "$PIDFILE"; die "the Kafka broker exited during start-up (log: $LOGDIR/server.log)"
    fi
    if [ "$waited" -ge "${HUB_KAFKA_START_TIMEOUT:-60}" ]; then
      tail -n 30 "$LOGDIR/server.log" >&2 2>/dev/null || true
      stop; die "the Kafka broker did not start within ${HUB_KAFKA_START_TIMEOUT:-60} s (log: $LOGDIR/server.log)"
    fi
    sleep 1; waited=$((waited + 1))
  done
  say "Kafka is up"
}

stop() {
  if ! pid_alive "$PIDFILE"; then rm -f "$PIDFILE"; return 0; fi
  local pid; pid="$(cat "$PIDFILE")"
  say "stopping Kafka (pid $pid)"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
}

case "${1:-}" in
  assemble) assemble ;;
  start) start ;;
  stop) stop ;;
  status) pid_alive "$PIDFILE" && echo "running" || echo "stopped" ;;
  # What an intruder on this machine would try (docs/threat-model.md): create an ACL
  # through the controller listener, anonymously or with the credentials given.
  controller-probe)
    shift
    java --list-modules 2>/dev/null | grep -q '^jdk.compiler@' \
      || die "the controller probe runs Java source: it needs a JDK ('apt-get install -y openjdk-17-jdk-headless')"
    mkdir -p "$LOGDIR"
    java -Dlog4j2.configurationFile="$DEPLOY/log4j2.properties" -Dkafka.logs.dir="$LOGDIR" -cp "$KAFKA_LIB/*" \
      "$DEPLOY/ControllerProbe.java" "127.0.0.1:$KAFKA_CONTROLLER_PORT" "$@" ;;
  *) echo "usage: $0 assemble|start|stop|status|controller-probe TOPIC [USER PASSWORD]" >&2; exit 2 ;;
esac
