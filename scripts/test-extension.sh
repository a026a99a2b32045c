#!/usr/bin/env bash
# Runs the strata extension's pg_regress and isolation suites (make installcheck)
# against the running server on 127.0.0.1:$STRATA_PG_PORT as user postgres.
# Prints the diffs and exits non-zero on failure.  Build and install first
# (scripts/build-extension.sh) and restart the server so that it preloads strata.
source "$(dirname "$0")/lib.sh"

ext="$STRATA_ROOT/extension"
export PGHOST=127.0.0.1 PGPORT="$STRATA_PG_PORT" PGUSER=postgres
unset PGDATABASE PGSERVICE

"$PG_BIN/pg_isready" -q -h "$PGHOST" -p "$PGPORT" \
    || die "no PostgreSQL on $PGHOST:$PGPORT (start it with scripts/pg.sh start)"

rm -rf "$ext/results" "$ext/output_iso" "$ext/regression.diffs" "$ext/regression.out"
status=0
make -C "$ext" PG_CONFIG="$PG_CONFIG" installcheck || status=$?
if [ "$status" != 0 ]; then
    for f in "$ext/regression.diffs" "$ext/output_iso/regression.diffs"; do
        [ -s "$f" ] && { echo "==== $f"; cat "$f"; }
    done
    die "strata extension tests failed"
fi

# The preloaded path: when the server preloads strata, the shared-memory
# coalescing must have been exercised (the suites accept both; the spec
# wakeup_coalesce has an expected output for each, and prints "preloaded").
preloaded="$(PSQL_DB=postgres strata_psql -tAc "select current_setting('shared_preload_libraries') ~ '(^|[, ])strata($|[, ])'")"
if [ "$preloaded" = t ]; then
    got="$(PSQL_DB=contrib_regression strata_psql -tAc "select strata.ack_wakeup() is not null")"
    [ "$got" = t ] || die "server preloads strata but strata.ack_wakeup() returned NULL"
    grep -q '^t *| *1$' "$ext/output_iso/results/wakeup_coalesce.out" \
        || die "wakeup_coalesce did not see the preloaded in-flight counter"
    echo "strata: preloaded shared-memory path verified"
else
    echo "strata: server does not preload strata; the shared-memory path was not exercised" >&2
fi
