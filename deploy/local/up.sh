#!/usr/bin/env bash
# `make up`: both local services, then .local/hub.env. Idempotent: a second run only
# checks that both answer (no download, no re-format, data kept).
source "$(dirname "$0")/common.sh"
mkdir -p "$LOCAL"; chmod 755 "$LOCAL"
"$DEPLOY/kafka.sh" start
"$DEPLOY/postgres.sh" start
"$DEPLOY/browser.sh"
PW="$(cat "$LOCAL/pg-password")"
umask 077
cat > "$LOCAL/hub.env.tmp" <<ENV
# Written by 'make up'; settings of the local hub (shell-sourceable). Do not commit.
HUB_KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT
HUB_KAFKA_USERNAME=admin
HUB_KAFKA_PASSWORD=$(cat "$LOCAL/kafka-admin-password")
HUB_PG_DSN=postgresql://hub:$PW@127.0.0.1:$PG_PORT/hub
HUB_STATE_DIR=$LOCAL
ENV
mv "$LOCAL/hub.env.tmp" "$LOCAL/hub.env"
# SCRAM credentials are replayed from the metadata log shortly after start-up: wait until
# the admin can log in, then create the hub's topics and accounts (idempotent).
"$ROOT/.venv/bin/python" -m hub accounts provision --wait 60 >/dev/null \
  || die "could not provision the hub's accounts (see the error above)"
say "local hub ready: settings in $LOCAL/hub.env"
