#!/usr/bin/env bash
# Project-local PostgreSQL 15: start | stop | status.
# Data lives in $STRATA_HOME/pg (owned by the postgres user), listens on 127.0.0.1:$STRATA_PG_PORT.
source "$(dirname "$0")/lib.sh"

cmd="${1:-status}"
pg_ctl() { as_postgres "$PG_BIN/pg_ctl" -D "$STRATA_PG_DATA" "$@"; }

running() { [ -f "$STRATA_PG_DATA/postmaster.pid" ] && pg_ctl status >/dev/null 2>&1; }

case "$cmd" in
start)
    if running; then exit 0; fi
    mkdir -p "$STRATA_HOME/pg" "$STRATA_PG_SOCKET_DIR"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$STRATA_HOME/pg" "$STRATA_PG_SOCKET_DIR"
    if [ ! -f "$STRATA_PG_DATA/PG_VERSION" ]; then
        as_postgres "$PG_BIN/initdb" -D "$STRATA_PG_DATA" -U postgres -A trust -E UTF8 \
            --locale=C.UTF-8 >"$STRATA_HOME/pg/initdb.log" 2>&1 \
            || die "initdb failed, see $STRATA_HOME/pg/initdb.log"
    fi
    preload=""
    if [ -f "$("$PG_CONFIG" --pkglibdir)/strata.so" ]; then preload="strata"; fi
    cat >"$STRATA_PG_DATA/postgresql.auto.conf" <<CONF
# Written by scripts/pg.sh on every start; edit scripts/pg.sh instead.
listen_addresses = '127.0.0.1'
port = $STRATA_PG_PORT
unix_socket_directories = '$STRATA_PG_SOCKET_DIR'
shared_preload_libraries = '$preload'
max_connections = 200
shared_buffers = '256MB'
fsync = ${STRATA_PG_FSYNC:-on}
synchronous_commit = on
max_wal_size = '2GB'
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
CONF
    chown postgres:postgres "$STRATA_PG_DATA/postgresql.auto.conf" 2>/dev/null || true
    pg_ctl -l "$STRATA_HOME/pg/server.log" -w -t 60 start >/dev/null \
        || die "PostgreSQL did not start on port $STRATA_PG_PORT, see $STRATA_HOME/pg/server.log"
    # The project's database.
    if ! PSQL_DB=postgres strata_psql -tAc "select 1 from pg_database where datname = '$STRATA_DB'" | grep -q 1; then
        PSQL_DB=postgres strata_psql -c "create database \"$STRATA_DB\""
    fi
    ;;
stop)
    if running; then pg_ctl -m fast -w stop >/dev/null; fi
    ;;
restart)
    "$0" stop; "$0" start
    ;;
status)
    if running; then echo "postgresql: running on 127.0.0.1:$STRATA_PG_PORT ($STRATA_PG_DATA)"; else echo "postgresql: stopped"; exit 3; fi
    ;;
*) die "usage: $0 start|stop|restart|status" ;;
esac
