#!/usr/bin/env bash
# Tiered and authorization cache benchmarks (Benchmarks/Sources/tiered-bench):
#  1. hit cost, interleaved rounds side by side with the physical references: a TieredCache
#     L1 hit against a bare L1Cache get, an L2 hit (policy without L1) against a raw Redis
#     GET round trip on one connection (and L2Cache.get, the library floor);
#  2. authorization: 10,000 simulated users (zipf) checking access against the seeded
#     schema through AuthorizationCache (L2 in Redis, L3 = strata.allowed_actions /
#     check_access, PostgreSQL invalidation subscriber): hit ratio, p50/p95/p99 per check;
#     then one performance sample through strata.record_performance, read back.
# Prints markdown (also written to $STRATA_HOME/bench-tiered.md).
#   BENCH_DB (strata_tiered_bench)  SKIP_SEED=1 reuses the database (applies missing migrations)
#   USERS TEAMS MEMBERSHIPS PROJECTS GENERATIONS GRANTS: seed sizes (sql/seed.sql; defaults = full size)
#   Any arguments go to tiered-bench: [hit|authz|all] [--rounds 7] [--users 10000] [--warmup 100000]
#   [--checks 300000] [--concurrency 2] [--zipf 1.0] [--l1-ops N] [--l2-ops N]
# Needs running servers: scripts/pg.sh start; scripts/redis.sh start.
source "$(dirname "$0")/lib.sh"

db="${BENCH_DB:-strata_tiered_bench}"
[[ "$db" =~ ^[A-Za-z0-9_]+$ ]] || die "BENCH_DB must be [A-Za-z0-9_]+"
users="${USERS:-100000}" teams="${TEAMS:-10000}" memberships="${MEMBERSHIPS:-1000000}"
projects="${PROJECTS:-20000}" generations="${GENERATIONS:-2000000}" grants="${GRANTS:-100000}"
url="postgresql://postgres@127.0.0.1:$STRATA_PG_PORT/$db"
out="$STRATA_HOME/bench-tiered.md"
q() { PSQL_DB="$db" strata_psql -tA "$@"; }

if [ "${SKIP_SEED:-0}" != 1 ]; then
    log "recreating $db and applying migrations"
    PSQL_DB=postgres strata_psql -c "set client_min_messages = warning" -c "drop database if exists \"$db\" with (force)" -c "create database \"$db\""
    STRATA_DB="$db" STRATA_PG_URL="$url" "$STRATA_ROOT/scripts/migrate.sh"
    log "seeding: $users users, $teams teams, $memberships memberships, $projects projects, $generations generations, $grants grants"
    t0=$(date +%s.%N)
    q -v users="$users" -v teams="$teams" -v memberships="$memberships" -v projects="$projects" \
      -v generations="$generations" -v grants="$grants" -f "$STRATA_ROOT/sql/seed.sql" >"$STRATA_HOME/seed-tiered.log" 2>&1 \
        || die "seed failed, see $STRATA_HOME/seed-tiered.log"
    log "seeded in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }') s"
    q -c "vacuum analyze" >/dev/null
else
    log "reusing $db; applying missing migrations"
    STRATA_DB="$db" STRATA_PG_URL="$url" "$STRATA_ROOT/scripts/migrate.sh"
fi
q -c "delete from strata.dirty_marks" >/dev/null

log "building tiered-bench (release)"
scratch="$STRATA_ROOT/.build-tiered-bench"
(cd "$STRATA_ROOT/Benchmarks" && swift build -c release --product tiered-bench --scratch-path "$scratch" >"$STRATA_HOME/build-tiered-bench.log" 2>&1) \
    || { tail -n 40 "$STRATA_HOME/build-tiered-bench.log" >&2; die "build failed"; }

{
    echo "## Tiered and authorization caches (scripts/bench-tiered.sh)"
    echo
    echo "machine: $(nproc) cores, $(uname -sr), $(swift --version 2>/dev/null | head -n 1)"
    echo "seed: $(q -c "select count(*) from authz.users") users, $(q -c "select count(*) from authz.generations") generations (database $db)"
    echo
} >"$out"
BENCH_PG_URL="$url" STRATA_REDIS_URL="$STRATA_REDIS_URL" BENCH_OUT="$out.part" "$scratch/release/tiered-bench" "${@:-all}" >&2
cat "$out.part" >>"$out" && rm -f "$out.part"
cat "$out"
