#!/usr/bin/env bash
# The main job: installs what is missing, builds and installs the extension, starts
# PostgreSQL and Redis on loopback, applies the migrations, seeds the demo data and
# runs strata-worker in the foreground. Ctrl-C stops the worker; `make down` stops
# the servers.
source "$(dirname "$0")/lib.sh"
cd "$STRATA_ROOT"

"$STRATA_ROOT/scripts/install-deps.sh"
"$STRATA_ROOT/scripts/build-extension.sh"
"$STRATA_ROOT/scripts/pg.sh" start
# A server started before the extension was installed lacks the preload: restart it.
if [ "$(strata_psql -tAc 'show shared_preload_libraries')" != "strata" ]; then
    "$STRATA_ROOT/scripts/pg.sh" restart
fi
"$STRATA_ROOT/scripts/redis.sh" start
"$STRATA_ROOT/scripts/migrate.sh"
strata_psql -f "$STRATA_ROOT/sql/demo.sql"

log "building strata-worker (release)…"
swift build -c release --product strata-worker >"$STRATA_HOME/build.log" 2>&1 \
    || { tail -n 40 "$STRATA_HOME/build.log" >&2; die "swift build failed, see $STRATA_HOME/build.log"; }
bin="$(swift build -c release --show-bin-path)/strata-worker"

cat >&2 <<MSG

PostgreSQL: $STRATA_PG_URL   Redis: $STRATA_REDIS_URL
Try, in another terminal:
  psql '$STRATA_PG_URL' -c "update demo.team_members set role = 'viewer' where team_id = 1 and user_id = 2"
  redis-cli -p $STRATA_REDIS_PORT subscribe strata:invalidations
Stop with Ctrl-C, then 'make down' to stop the servers.

MSG
exec "$bin" --postgres-url "$STRATA_PG_URL" --redis-url "$STRATA_REDIS_URL"
