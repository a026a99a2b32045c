#!/usr/bin/env bash
# Stops the servers that `make up` started.
source "$(dirname "$0")/lib.sh"
"$STRATA_ROOT/scripts/pg.sh" stop
"$STRATA_ROOT/scripts/redis.sh" stop
