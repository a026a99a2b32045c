#!/usr/bin/env bash
# SQL tests (pgTAP): creates a fresh database (dropping the previous one), applies the
# migrations to it with scripts/migrate.sh, installs pgtap and dblink, runs every
# tests/sql/[0-9]*.sql with psql and counts TAP results. Exit 1 on any failure.
#   STRATA_TEST_DB    database to (re)create (default: ${STRATA_DB}_test)
#   STRATA_MIGRATIONS migrations folder (default: migrations/)
# Needs a running server: scripts/pg.sh start (with the strata extension installed).
source "$(dirname "$0")/lib.sh"

test_db="${STRATA_TEST_DB:-${STRATA_DB}_test}"
[[ "$test_db" =~ ^[A-Za-z0-9_]+$ ]] || die "test database name must be [A-Za-z0-9_]+, got $test_db"
mig="${STRATA_MIGRATIONS:-$STRATA_ROOT/migrations}"

PSQL_DB=postgres strata_psql -c "set client_min_messages = warning" -c "drop database if exists \"$test_db\" with (force)" -c "create database \"$test_db\"" \
    || die "cannot recreate database $test_db on port $STRATA_PG_PORT (is the server running? scripts/pg.sh start)"
STRATA_DB="$test_db" STRATA_PG_URL="postgresql://postgres@127.0.0.1:$STRATA_PG_PORT/$test_db" \
    "$STRATA_ROOT/scripts/migrate.sh" "$mig" || die "migrations failed on $test_db"
PSQL_DB="$test_db" strata_psql -c "create extension if not exists pgtap" -c "create extension if not exists dblink" \
    || die "cannot install pgtap/dblink (packages postgresql-15-pgtap, postgresql-contrib)"

passed=0 failed=0 broken=0
shopt -s nullglob
files=("$STRATA_ROOT"/tests/sql/[0-9]*.sql)
[ ${#files[@]} -gt 0 ] || die "no test files in tests/sql"
for f in "${files[@]}"; do
    name="$(basename "$f")"
    rc=0
    out="$(cd "$(dirname "$f")" && PSQL_DB="$test_db" strata_psql -f "$name" 2>&1)" || rc=$?
    ok=$(printf '%s\n' "$out" | grep -cE '^ok [0-9]+' || true)
    nok=$(printf '%s\n' "$out" | grep -cE '^not ok [0-9]+' || true)
    plan=$(printf '%s\n' "$out" | sed -nE 's/^1\.\.([0-9]+)$/\1/p' | head -n1)
    status="ok"
    if [ "$nok" -gt 0 ]; then
        status="FAILED ($nok of $((ok + nok)))"
        printf '%s\n' "$out" | grep -E -A6 '^not ok' >&2
    fi
    if [ "$rc" -ne 0 ] || [ -z "$plan" ] || [ "$plan" -ne $((ok + nok)) ]; then
        status="BROKEN (psql exit $rc, planned ${plan:-?}, ran $((ok + nok)))"
        printf '%s\n' "$out" | grep -E 'ERROR|FATAL|psql:|# Looks like' | head -n 8 >&2
        broken=$((broken + 1))
    fi
    printf '%-32s %4d tests  %s\n' "$name" $((ok + nok)) "$status"
    passed=$((passed + ok)); failed=$((failed + nok))
done
[ "$broken" -gt 0 ] && failed=$((failed + broken))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
