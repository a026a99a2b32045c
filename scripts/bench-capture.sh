#!/usr/bin/env bash
# Capture-trigger benchmark: single-row UPDATEs by random id (pgbench) against
# bench_items unwatched, watched by strata, and watched by an equivalent
# PL/pgSQL outbox trigger with pg_notify().  Prints TPS and ratios to the
# unwatched table.  Runs on the running server ($STRATA_PG_PORT) in its own
# database, with a stand-in worker that LISTENs and acknowledges wake-ups.
# The variants live in schemas bench_none, bench_strata, bench_plpgsql and are
# run interleaved, BENCH_ROUNDS times; the table shows the median per cell
# (commit latency with fsync on varies a lot on shared machines) and, since the
# runs of one round are adjacent in time, the median and range of the per-round
# ratios to the unwatched run of the same round.
#
#   BENCH_SECONDS  duration of each pgbench run (default 15)
#   BENCH_CLIENTS  client counts (default "1 8")
#   BENCH_ROUNDS   interleaved rounds (default 3)
#   BENCH_ROWS     rows in bench_items (default 100000)
#   BENCH_DB       database (default strata_bench; created if missing)
#   BENCH_PGOPTIONS  extra server options for the pgbench sessions, e.g.
#                  "-c synchronous_commit=off" to compare CPU cost without WAL flushes
source "$(dirname "$0")/lib.sh"

seconds="${BENCH_SECONDS:-15}"
clients="${BENCH_CLIENTS:-1 8}"
rounds="${BENCH_ROUNDS:-3}"
rows="${BENCH_ROWS:-100000}"
db="${BENCH_DB:-strata_bench}"
bench="$STRATA_ROOT/extension/bench"
variants="none strata plpgsql"
pgbench="${PGBENCH:-$PG_BIN/pgbench}"

if ! PSQL_DB=postgres strata_psql -tAc "select 1 from pg_database where datname = '$db'" | grep -q 1; then
    PSQL_DB=postgres strata_psql -c "create database \"$db\""
fi
preload="$(PSQL_DB=postgres strata_psql -tAc "show shared_preload_libraries")"
settings="$(PSQL_DB=postgres strata_psql -tAc "select string_agg(name || '=' || setting, ' ') from pg_settings where name in ('fsync', 'synchronous_commit')")${BENCH_PGOPTIONS:+ (sessions: $BENCH_PGOPTIONS)}"

worker_pid=""
stop_worker() {
    if [ -n "$worker_pid" ]; then kill "$worker_pid" 2>/dev/null || true; wait "$worker_pid" 2>/dev/null || true; worker_pid=""; fi
}
trap stop_worker EXIT

for variant in $variants; do
    PSQL_DB="$db" strata_psql -v variant="$variant" -v rows="$rows" -f "$bench/setup.sql" >/dev/null
done

# psql itself in the background (not a shell function), so that $! is its pid
"$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$STRATA_PG_PORT" -U postgres -d "$db" \
    -f "$bench/worker.sql" >/dev/null 2>&1 &
worker_pid=$!

declare -A runs
for round in $(seq 1 "$rounds"); do
    for c in $clients; do
        for variant in $variants; do
            out="$(PGOPTIONS="-c search_path=bench_$variant,public ${BENCH_PGOPTIONS:-}" "$pgbench" -n -h 127.0.0.1 \
                   -p "$STRATA_PG_PORT" -U postgres -c "$c" -j "$c" -T "$seconds" \
                   -D rows="$rows" -f "$bench/update.sql" "$db" 2>&1)" \
                || { printf '%s\n' "$out" >&2; die "pgbench failed ($variant, -c $c)"; }
            t="$(printf '%s\n' "$out" | sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p')"
            runs[$variant,$c]="${runs[$variant,$c]:-} $t"
            log "  round $round: $variant -c $c: $t tps"
        done
    done
done
stop_worker
outbox_rows="$(PSQL_DB="$db" strata_psql -tAc "select count(*) from strata.change_log")"

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
declare -A tps
for variant in $variants; do
    for c in $clients; do tps[$variant,$c]="$(printf '%s' "${runs[$variant,$c]}" | median)"; done
done

printf '\ncapture benchmark: median of %s interleaved runs of %s s, %s rows, shared_preload_libraries=%s, %s\n' \
    "$rounds" "$seconds" "$rows" "${preload:-none}" "$settings"
printf '%-10s' variant
for c in $clients; do printf ' %12s %9s' "tps(c=$c)" "ratio"; done
printf '\n'
for variant in $variants; do
    printf '%-10s' "$variant"
    for c in $clients; do
        printf ' %12.1f %9.3f' "${tps[$variant,$c]}" \
            "$(awk -v a="${tps[$variant,$c]}" -v b="${tps[none,$c]}" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')"
    done
    printf '\n'
done
printf '(ratio: median TPS relative to the unwatched table; strata outbox rows written: %s)\n' "$outbox_rows"
printf 'per-round ratios to the unwatched run of the same round: median [min-max]\n'
for variant in $variants; do
    [ "$variant" = none ] && continue
    printf '%-10s' "$variant"
    for c in $clients; do
        r="$(paste -d ' ' <(printf '%s\n' ${runs[$variant,$c]}) <(printf '%s\n' ${runs[none,$c]}) \
             | awk '{ printf "%.3f\n", ($2 > 0 ? $1 / $2 : 0) }' | sort -g)"
        printf '   c=%-3s %s [%s-%s]' "$c" "$(printf '%s\n' $r | median)" "$(printf '%s\n' $r | head -1)" "$(printf '%s\n' $r | tail -1)"
    done
    printf '\n'
done
for variant in $variants; do
    for c in $clients; do printf '  runs %-8s c=%-3s %s\n' "$variant" "$c" "${runs[$variant,$c]}"; done
done
