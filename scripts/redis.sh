#!/usr/bin/env bash
# Project-local Redis 7: start | stop | status, on 127.0.0.1:$STRATA_REDIS_PORT, no persistence.
source "$(dirname "$0")/lib.sh"

cmd="${1:-status}"
pidfile="$STRATA_REDIS_DIR/redis.pid"
running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case "$cmd" in
start)
    if running; then exit 0; fi
    mkdir -p "$STRATA_REDIS_DIR"
    redis-server --bind 127.0.0.1 --port "$STRATA_REDIS_PORT" --daemonize yes \
        --pidfile "$pidfile" --logfile "$STRATA_REDIS_DIR/redis.log" --dir "$STRATA_REDIS_DIR" \
        --save "" --appendonly no ${STRATA_REDIS_ARGS:-} \
        || die "redis-server did not start, see $STRATA_REDIS_DIR/redis.log"
    for _ in $(seq 100); do
        redis-cli -h 127.0.0.1 -p "$STRATA_REDIS_PORT" ${STRATA_REDIS_CLI_ARGS:-} ping >/dev/null 2>&1 && exit 0
        sleep 0.05
    done
    die "redis-server did not answer on port $STRATA_REDIS_PORT, see $STRATA_REDIS_DIR/redis.log"
    ;;
stop)
    if running; then
        pid="$(cat "$pidfile")"; kill "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        rm -f "$pidfile"
    fi
    ;;
status)
    if running; then echo "redis: running on 127.0.0.1:$STRATA_REDIS_PORT"; else echo "redis: stopped"; exit 3; fi
    ;;
*) die "usage: $0 start|stop|status" ;;
esac
