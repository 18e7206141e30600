#!/usr/bin/env bash
# `make down`: stop both local services (data kept under .local/).
source "$(dirname "$0")/common.sh"
[ -d "$LOCAL/cluster" ] && "$ROOT/deploy/cluster/cluster.sh" stop
"$DEPLOY/kafka.sh" stop
"$DEPLOY/postgres.sh" stop
