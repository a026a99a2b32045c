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
#   BENCH_WORKER   path to a strata-worker binary: run the real worker (needs Redis at
#                  $STRATA_REDIS_URL; it drains and prunes the outbox as in production;
#                  every row's value is cached in Redis first, and the report ends with how
#                  many updated rows were still cached once the worker drained: must be 0)
#                  instead of the stand-in that only acknowledges wake-ups
#   BENCH_PGOPTIONS  extra server options for the pgbench sessions, e.g.
#                  "-c synchronous_commit=off" to compare CPU cost without WAL flushes
#
# Besides TPS, every run measures the CPU time the whole server spent (all postgres
# processes: backends, WAL writer, checkpointer, autovacuum; from /proc) per committed
# transaction (and, with BENCH_WORKER, the CPU time of the worker and Redis processes per
# transaction: the rest of the pipeline on the same machine). Unlike TPS, that figure does not move with other load on the machine or
# with the disk's flush time, so "CPU per transaction, unwatched / watched" is the
# throughput ratio a CPU-bound server would see.
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

if [ -n "${BENCH_WORKER:-}" ]; then
    # the real worker: drains into Redis ($STRATA_REDIS_URL) and prunes the outbox every 5 s
    [ -x "$BENCH_WORKER" ] || die "BENCH_WORKER=$BENCH_WORKER is not an executable (build it: swift build -c release --product strata-worker)"
    # the worker keeps its cursor in strata.consumer_offsets (migrations)
    STRATA_DB="$db" STRATA_PG_URL="postgresql://postgres@127.0.0.1:$STRATA_PG_PORT/$db" "$STRATA_ROOT/scripts/migrate.sh" >/dev/null
    PSQL_DB="$db" strata_psql -qc "delete from strata.consumer_offsets" >/dev/null
    # Correctness alongside: a cached value for every row of the watched table; after the
    # runs, every row that was updated must have lost its value in Redis.
    command -v redis-cli >/dev/null || die "redis-cli not found (package redis-tools)"
    redis_cli=(redis-cli -u "${STRATA_REDIS_URL:-redis://127.0.0.1:$STRATA_REDIS_PORT}")
    awk -v n="$rows" 'BEGIN { for (i = 1; i <= n; i++) printf "SET strata:v:bench:item:%d cached\n", i }' \
        | "${redis_cli[@]}" --pipe >/dev/null || die "could not seed the cached values in Redis"
    "$BENCH_WORKER" --postgres-url "postgresql://postgres@127.0.0.1:$STRATA_PG_PORT/$db" \
        --redis-url "${STRATA_REDIS_URL:-redis://127.0.0.1:$STRATA_REDIS_PORT}" --consumer bench-capture \
        --no-refresh --log-level warning >"$STRATA_HOME/bench-capture-worker.log" 2>&1 &
    worker_pid=$!
    worker_kind="strata-worker ($BENCH_WORKER)"
else
    # psql itself in the background (not a shell function), so that $! is its pid
    "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$STRATA_PG_PORT" -U postgres -d "$db" \
        -f "$bench/worker.sql" >/dev/null 2>&1 &
    worker_pid=$!
    worker_kind="stand-in (LISTEN + ack_wakeup every 10 ms, no pruning)"
fi

# CPU ticks (utime + stime, 1/CLK_TCK s) of the server: its live processes, plus the
# children the postmaster has reaped (backends of finished connections, autovacuum workers).
pg_cpu_ticks() {
    local pm; pm="$(head -1 "$STRATA_PG_DATA/postmaster.pid")"
    {
        awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$pm/stat"
        for child in $(pgrep -P "$pm"); do
            awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$child/stat" 2>/dev/null || true
        done
    } | awk '{ t += $1 } END { print t + 0 }'
}
hz="$(getconf CLK_TCK)"
# CPU ticks of the real worker and of Redis (they share the machine with the server)
proc_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
redis_pid=""
if [ -n "${BENCH_WORKER:-}" ] && [ -f "$STRATA_REDIS_DIR/redis.pid" ]; then redis_pid="$(cat "$STRATA_REDIS_DIR/redis.pid")"; fi
pipeline_ticks() {
    [ -n "${BENCH_WORKER:-}" ] || { echo 0; return; }
    local w r=0
    w="$(proc_ticks "$worker_pid")"
    if [ -n "$redis_pid" ]; then r="$(proc_ticks "$redis_pid")"; fi
    echo $(( w + r ))
}
# the run's backends exit after pgbench disconnects; their time reaches the postmaster
# once it has reaped them, so wait for the server's process count to drop back
pg_children() { pgrep -c -P "$(head -1 "$STRATA_PG_DATA/postmaster.pid")" || true; }
wait_for_children() { # count
    local i
    for i in $(seq 100); do [ "$(pg_children)" -le "$1" ] && return 0; sleep 0.05; done
    log "  (server processes still running after 5 s: $(pg_children), expected $1)"
}

declare -A runs cpus pcpus
for round in $(seq 1 "$rounds"); do
    for c in $clients; do
        for variant in $variants; do
            kids="$(pg_children)"
            cpu0="$(pg_cpu_ticks)"
            p0="$(pipeline_ticks)"
            out="$(PGOPTIONS="-c search_path=bench_$variant,public ${BENCH_PGOPTIONS:-}" "$pgbench" -n -h 127.0.0.1 \
                   -p "$STRATA_PG_PORT" -U postgres -c "$c" -j "$c" -T "$seconds" \
                   -D rows="$rows" -f "$bench/update.sql" "$db" 2>&1)" \
                || { printf '%s\n' "$out" >&2; die "pgbench failed ($variant, -c $c)"; }
            wait_for_children "$kids"
            cpu1="$(pg_cpu_ticks)"
            p1="$(pipeline_ticks)"
            t="$(printf '%s\n' "$out" | sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p')"
            n="$(printf '%s\n' "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')"
            us="$(awk -v a="$cpu0" -v b="$cpu1" -v n="$n" -v hz="$hz" 'BEGIN { printf "%.1f", (n > 0 ? (b - a) * 1e6 / hz / n : 0) }')"
            pus="$(awk -v a="$p0" -v b="$p1" -v n="$n" -v hz="$hz" 'BEGIN { printf "%.1f", (n > 0 ? (b - a) * 1e6 / hz / n : 0) }')"
            pcpus[$variant,$c]="${pcpus[$variant,$c]:-} $pus"
            runs[$variant,$c]="${runs[$variant,$c]:-} $t"
            cpus[$variant,$c]="${cpus[$variant,$c]:-} $us"
            log "  round $round: $variant -c $c: $t tps, server CPU $us us per transaction"
        done
    done
done
lost_report=""
if [ -n "${BENCH_WORKER:-}" ]; then
    # let the worker drain everything drawn so far, then look for updated rows still cached
    head="$(PSQL_DB="$db" strata_psql -tAc "select coalesce(pg_sequence_last_value('strata.change_log_seq'), 0)")"
    for _ in $(seq 300); do
        at="$(PSQL_DB="$db" strata_psql -tAc "select coalesce((select last_seq from strata.consumer_offsets where consumer = 'bench-capture'), -1)")"
        [ "$at" -ge "$head" ] && break
        sleep 0.1
    done
    updated="$(PSQL_DB="$db" strata_psql -tAc "select id from bench_strata.bench_items where val > 0")"
    n_updated="$(printf '%s\n' "$updated" | sed '/^$/d' | wc -l)"
    n_lost="$(printf '%s\n' "$updated" | sed '/^$/d' | awk '{ print "EXISTS strata:v:bench:item:" $1 }' \
              | "${redis_cli[@]}" | grep -c '^1$' || true)"
    lost_report="invalidations lost: $n_lost of $n_updated updated rows still cached in Redis after the worker drained (cursor $at, head $head)"
fi
stop_worker
outbox_rows="$(PSQL_DB="$db" strata_psql -tAc "select count(*) from strata.change_log")"

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
declare -A tps
for variant in $variants; do
    for c in $clients; do tps[$variant,$c]="$(printf '%s' "${runs[$variant,$c]}" | median)"; done
done

printf '\ncapture benchmark: median of %s interleaved runs of %s s, %s rows, shared_preload_libraries=%s, %s\nworker: %s\n' \
    "$rounds" "$seconds" "$rows" "${preload:-none}" "$settings" "$worker_kind"
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
[ -z "$lost_report" ] || printf '%s\n' "$lost_report"
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
printf 'server CPU per transaction (all postgres processes), median of the rounds, and unwatched / variant\n'
for variant in $variants; do
    printf '%-10s' "$variant"
    for c in $clients; do
        m="$(printf '%s' "${cpus[$variant,$c]}" | median)"
        base="$(printf '%s' "${cpus[none,$c]}" | median)"
        printf '   c=%-3s %7.1f us %6.3f' "$c" "$m" "$(awk -v a="$base" -v b="$m" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')"
    done
    printf '\n'
done
if [ -n "${BENCH_WORKER:-}" ]; then
    printf 'strata-worker + Redis CPU per transaction, median of the rounds\n'
    for variant in $variants; do
        printf '%-10s' "$variant"
        for c in $clients; do printf '   c=%-3s %7.1f us' "$c" "$(printf '%s' "${pcpus[$variant,$c]}" | median)"; done
        printf '\n'
    done
fi
for variant in $variants; do
    for c in $clients; do printf '  runs %-8s c=%-3s %s  (CPU us/tx: %s)\n' "$variant" "$c" "${runs[$variant,$c]}" "${cpus[$variant,$c]}"; done
done
