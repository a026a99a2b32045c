#!/usr/bin/env bash
# Runs every test against real servers that this script starts (on free loopback ports,
# in .local/test) and stops again: the extension's pg_regress and isolation suites,
# the SQL (pgTAP) suite, and the Swift tests (unit and integration).
source "$(dirname "$0")/lib.sh"
cd "$STRATA_ROOT"

export STRATA_HOME="$STRATA_ROOT/.local/test"
export STRATA_PG_PORT="$(free_port 55532)"
export STRATA_REDIS_PORT="$(free_port 56579)"
export STRATA_PG_URL="postgresql://postgres@127.0.0.1:$STRATA_PG_PORT/$STRATA_DB"
export STRATA_REDIS_URL="redis://127.0.0.1:$STRATA_REDIS_PORT"
export STRATA_PG_FSYNC=off   # test data is thrown away; durability is not under test

cleanup() {
    "$STRATA_ROOT/scripts/pg.sh" stop || true
    "$STRATA_ROOT/scripts/redis.sh" stop || true
}
trap cleanup EXIT

"$STRATA_ROOT/scripts/install-deps.sh"
"$STRATA_ROOT/scripts/build-extension.sh"
rm -rf "$STRATA_HOME"
"$STRATA_ROOT/scripts/pg.sh" start
"$STRATA_ROOT/scripts/redis.sh" start

log "== extension: pg_regress and isolation =="
"$STRATA_ROOT/scripts/test-extension.sh"

if [ -x "$STRATA_ROOT/scripts/test-sql.sh" ]; then
    log "== SQL: migrations and L3 (pgTAP) =="
    "$STRATA_ROOT/scripts/test-sql.sh"
fi

log "== migrations: the runner's own behaviour =="
"$STRATA_ROOT/tests/scripts/migrate-test.sh"

log "== migrations: apply twice (second is a no-op) =="
"$STRATA_ROOT/scripts/migrate.sh"
second="$("$STRATA_ROOT/scripts/migrate.sh" 2>&1)"
[ -z "$second" ] || die "a second migrate printed: $second"

log "== Swift: unit and integration tests =="
swift build --build-tests >"$STRATA_HOME/build.log" 2>&1 \
    || { tail -n 60 "$STRATA_HOME/build.log" >&2; die "swift build failed"; }
export STRATA_TEST_PG_URL="$STRATA_PG_URL"
export STRATA_TEST_REDIS_URL="$STRATA_REDIS_URL"
export STRATA_TEST_HOME="$STRATA_HOME"
export STRATA_WORKER_BIN="$(swift build --show-bin-path)/strata-worker"
set +e
# One test at a time (~100 s here): several integration tests start servers of their own
# through the project's scripts and wait for them synchronously, and on a 2-core machine
# two such waits occupy the whole cooperative thread pool, stalling every test running
# beside them past their deadlines.
swift test --skip-build --no-parallel 2>&1 | tee "$STRATA_HOME/swift-test.log" | grep -vE '^(Test Case .* started|Test Case .* passed|.* Test .* started\.$)'
status="${PIPESTATUS[0]}"
set -e

log "== examples: the Swift code of README.md and docs/ built, the Hummingbird route run against the servers =="
"$STRATA_ROOT/scripts/test-examples.sh" || status=1
exit "$status"
