#!/usr/bin/env bash
# L2 benchmark: get and set through the library (L2Cache: envelope, checksum, binary codec,
# prefix generations) against redis-benchmark on the same Redis, in the same run, one
# connection each, interleaved rounds (the order alternates between rounds).
#
#   unpipelined: l2-bench get/set       vs  redis-benchmark -c 1 -t get,set -d SIZE
#   batches:     l2-bench getMany/setMany of 16  vs  redis-benchmark -c 1 -P 16 -t get,set -d SIZE
#                l2-bench setMany of 16          vs  redis-benchmark -c 1 -P 16 SET key:__rand_int__ VALUE PX TTL
#
# The second batch reference sends the write command the library sends for each entry
# (SET with a PX TTL; VALUE is SIZE bytes, TTL the library's, same key range): Redis spends
# more on SET … PX than on a plain SET, so setMany is reported against both, plain SET -P 16
# (the issue's reference) and the same command.
# SIZE is the stored size of the library's entry (envelope + 100-byte payload), so both
# sides move the same bytes. A library get is GET value + MGET of the key's 3 prefix
# generations in one round trip; a set is DEL lease + SET + MGET generations; getMany(16)
# is MGET of 16 values + MGET of the generations; setMany(16) is one DEL, 16 SETs, one MGET.
# Three values: a [UInt8] blob (what redis-benchmark's -d is), a 6-field struct through
# Codable, and the same struct through the binary codec's fast path (L2BinaryCodable: same
# bytes, fields written and read without Codable). "sync" runs the blocking calls on one
# caller-owned connection (no thread hop); "async" the async API through a pool of one
# connection (I/O on the calling task's thread while the connection is free, its I/O thread
# only for slow replies: docs/clients.md).
#
# Prints a markdown table (also $STRATA_HOME/bench-l2.md): medians of each side, and the
# median and range of the per-round ratios library / redis-benchmark.
#
# PIN_CPU (default 0) runs Redis and both clients on that one CPU (taskset): a loopback
# round trip between two CPUs of a mostly idle VM includes waking the other virtual CPU
# (measured ~55 µs instead of ~20 µs here), which swamps what the clients themselves cost
# and changes with the neighbours' load. On one CPU, client and server share it, so the
# figures compare the clients' cost. PIN_CPU=none leaves scheduling alone.
#
#   ROUNDS (5)  REQUESTS (50000, unpipelined)  BATCH_REQUESTS (400000)  KEYS (1000, -r)
#   STRATA_HOME (.local/bench-l2), STRATA_REDIS_PORT (a free port): the Redis used; started
#     here when not running (and stopped at the end), reused otherwise
#   L2_BENCH_BIN: a built l2-bench; default: built here (release; SCRATCH_PATH, default
#     Benchmarks/.build)
set -euo pipefail
port_given="${STRATA_REDIS_PORT:-}"
export STRATA_HOME="${STRATA_HOME:-$(cd "$(dirname "$0")/.." && pwd)/.local/bench-l2}"
source "$(dirname "$0")/lib.sh"
if [ -z "$port_given" ]; then
    export STRATA_REDIS_PORT="$(free_port 58600)"
fi
export STRATA_REDIS_URL="redis://127.0.0.1:$STRATA_REDIS_PORT"

rounds="${ROUNDS:-5}" requests="${REQUESTS:-50000}" batch_requests="${BATCH_REQUESTS:-400000}" keys="${KEYS:-1000}"
for n in "$rounds" "$requests" "$batch_requests" "$keys"; do [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS, REQUESTS, BATCH_REQUESTS and KEYS must be positive integers"; done
command -v redis-benchmark >/dev/null || die "redis-benchmark not found (it comes with the redis-tools package)"

bin="${L2_BENCH_BIN:-}"
if [ -z "$bin" ]; then
    log "building l2-bench (release)"
    scratch=()
    if [ -n "${SCRATCH_PATH:-}" ]; then scratch=(--scratch-path "$SCRATCH_PATH"); fi
    (cd "$STRATA_ROOT/Benchmarks" && swift build -c release "${scratch[@]}" --product l2-bench >&2)
    bin="$(cd "$STRATA_ROOT/Benchmarks" && swift build -c release "${scratch[@]}" --show-bin-path)/l2-bench"
fi
[ -x "$bin" ] || die "l2-bench not found at $bin"

started=0
if ! "$STRATA_ROOT/scripts/redis.sh" status >/dev/null 2>&1; then
    "$STRATA_ROOT/scripts/redis.sh" start
    started=1
fi
redis_pid="$(cat "$STRATA_REDIS_DIR/redis.pid")"
original_affinity=""
pin=()
pin_cpu="${PIN_CPU:-0}"
if [ "$pin_cpu" != none ]; then
    [[ "$pin_cpu" =~ ^[0-9]+$ ]] || die "PIN_CPU must be a CPU number or 'none'"
    command -v taskset >/dev/null || die "taskset not found (util-linux); set PIN_CPU=none to run unpinned"
    original_affinity="$(taskset -pc "$redis_pid" | sed -E 's/.*: //')"
    taskset -apc "$pin_cpu" "$redis_pid" >/dev/null
    pin=(taskset -c "$pin_cpu")
fi
cleanup() {
    if [ -n "$original_affinity" ] && kill -0 "$redis_pid" 2>/dev/null; then taskset -apc "$original_affinity" "$redis_pid" >/dev/null || true; fi
    if [ "$started" = 1 ]; then "$STRATA_ROOT/scripts/redis.sh" stop; fi
}
trap cleanup EXIT

read -r _ payload size ttl_ms < <("$bin" sizes --url "$STRATA_REDIS_URL" --value bytes | grep '^SIZES')
[[ "$ttl_ms" =~ ^[1-9][0-9]*$ ]] || die "l2-bench sizes did not report the TTL (an older l2-bench? rebuild it)"
read -r _ struct_payload struct_size _ < <("$bin" sizes --url "$STRATA_REDIS_URL" --value struct | grep '^SIZES')
[ "$size" = "$struct_size" ] || log "note: blob and struct entries differ in size ($size vs $struct_size bytes)"
read -r _ fast_payload fast_size _ < <("$bin" sizes --url "$STRATA_REDIS_URL" --value fast | grep '^SIZES')
[ "$struct_payload $struct_size" = "$fast_payload $fast_size" ] || die "the fast-path struct's entry differs from the Codable struct's ($fast_size vs $struct_size bytes)"
log "entry: $payload-byte payload, $size bytes stored, PX $ttl_ms; Redis $(redis-server --version | sed -E 's/.*v=([0-9.]+).*/\1/') on port $STRATA_REDIS_PORT"

mkdir -p "$STRATA_HOME"
results="$(mktemp)"
trap 'rm -f "$results"; cleanup' EXIT

reference() { # round label pipeline requests
    "${pin[@]}" redis-benchmark -h 127.0.0.1 -p "$STRATA_REDIS_PORT" -n "$4" -c 1 -P "$3" -t set,get -d "$size" -r "$keys" --csv \
        | sed -nE 's/^"(SET|GET)","([0-9.]+)".*/\1 \2/p' | while read -r test rps; do
            echo "$1 $2-$(tr 'A-Z' 'a-z' <<<"$test") $rps" >>"$results"
        done
}
# The library's write command: SET with the same TTL, a value of the same size, the same key range.
setpx_value="$(head -c "$size" /dev/zero | tr '\0' x)"
reference_setpx() { # round label requests
    "${pin[@]}" redis-benchmark -h 127.0.0.1 -p "$STRATA_REDIS_PORT" -n "$3" -c 1 -P 16 -r "$keys" --csv \
        SET 'key:__rand_int__' "$setpx_value" PX "$ttl_ms" \
        | sed -nE 's/^"SET [^"]*","([0-9.]+)".*/\1/p' | while read -r rps; do
            echo "$1 $2 $rps" >>"$results"
        done
}
library() { # round requests mode...
    local round="$1" n="$2"; shift 2
    for mode in "$@"; do
        for value in bytes struct fast; do
            "${pin[@]}" "$bin" "$mode" --url "$STRATA_REDIS_URL" --requests "$n" --value "$value" \
                | sed -nE "s/^RESULT ([a-z-]+) ([0-9.]+) ([0-9.]+)$/$round \1 \2 \3/p" >>"$results"
        done
    done
}

log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$rounds"); do
    log "round $round/$rounds (load $(cut -d' ' -f1-3 /proc/loadavg))"
    if [ $((round % 2)) = 1 ]; then
        reference "$round" redis-benchmark 1 "$requests"
        library "$round" "$requests" get-sync set-sync get-async set-async
        reference "$round" redis-benchmark-P16 16 "$batch_requests"
        reference_setpx "$round" redis-benchmark-P16-setpx "$batch_requests"
        library "$round" "$batch_requests" getmany-sync setmany-sync getmany-async setmany-async
    else
        library "$round" "$requests" get-sync set-sync get-async set-async
        reference "$round" redis-benchmark 1 "$requests"
        library "$round" "$batch_requests" getmany-sync setmany-sync getmany-async setmany-async
        reference_setpx "$round" redis-benchmark-P16-setpx "$batch_requests"
        reference "$round" redis-benchmark-P16 16 "$batch_requests"
    fi
    echo "$round load $(cut -d' ' -f1 /proc/loadavg)" >>"$results"
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$results" "$rounds" "$size" "$payload" "$requests" "$batch_requests" "$keys" "$load_after" "$pin_cpu" \
    "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
    "$(redis-server --version | sed -E 's/.*v=([0-9.]+).*/\1/')" "$ttl_ms" <<'PY' | tee "$STRATA_HOME/bench-l2.md"
import sys, statistics, collections
path, rounds, size, payload, requests, batch_requests, keys, load_after, pin_cpu, machine, redis_version, ttl_ms = sys.argv[1:]
ops = collections.defaultdict(dict)   # name -> round -> ops/s
cpu = collections.defaultdict(list)   # name -> [µs/op]
loads = []
for line in open(path):
    parts = line.split()
    if parts[1] == "load":
        loads.append(float(parts[2])); continue
    ops[parts[1]][parts[0]] = float(parts[2])
    if len(parts) > 3: cpu[parts[1]].append(float(parts[3]))

def med(values): return statistics.median(values) if values else float("nan")
rows = [
    ("get", "get-sync", "redis-benchmark-get", "`GET`"),
    ("set", "set-sync", "redis-benchmark-set", "`SET`"),
    ("get (async API)", "get-async", "redis-benchmark-get", "`GET`"),
    ("set (async API)", "set-async", "redis-benchmark-set", "`SET`"),
    ("getMany, 16 keys", "getmany-sync", "redis-benchmark-P16-get", "`GET`, `-P 16`"),
    ("setMany, 16 entries", "setmany-sync", "redis-benchmark-P16-set", "`SET`, `-P 16`"),
    ("getMany, 16 keys (async API)", "getmany-async", "redis-benchmark-P16-get", "`GET`, `-P 16`"),
    ("setMany, 16 entries (async API)", "setmany-async", "redis-benchmark-P16-set", "`SET`, `-P 16`"),
    ("setMany, 16 entries", "setmany-sync", "redis-benchmark-P16-setpx", "`SET … PX`, `-P 16`"),
    ("setMany, 16 entries (async API)", "setmany-async", "redis-benchmark-P16-setpx", "`SET … PX`, `-P 16`"),
]
placement = "Redis and both clients on CPU " + pin_cpu + " (taskset)" if pin_cpu != "none" else "unpinned"
print(f"Machine: {machine}; Redis {redis_version} on loopback TCP, no persistence; {placement}. Load average per round: "
      + ", ".join(f"{l:.1f}" for l in loads) + f"; after: {load_after}.")
print(f"Command: `scripts/bench-l2.sh` (ROUNDS={rounds} REQUESTS={requests} BATCH_REQUESTS={batch_requests} KEYS={keys} PIN_CPU={pin_cpu}); "
      f"one connection on each side; entries of {size} bytes ({payload}-byte payload); ops/s are medians of {rounds} interleaved rounds, "
      "ratios are the median (and range) of the per-round ratios library / redis-benchmark. "
      f"`SET … PX`: redis-benchmark sending the library's write command, `SET key:__rand_int__ <{size} bytes> PX {ttl_ms}`.")
print()
print("| operation (one connection) | redis-benchmark | ops/s | library, blob | ratio (range) | library, struct (Codable) | ratio (range) "
      "| library, struct (fast path) | ratio (range) | CPU µs/op blob / struct / fast |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for label, mode, ref, refname in rows:
    cells = [label, refname, f"{med(list(ops[ref].values())):,.0f}"]
    for value in ("bytes", "struct", "fast"):
        name = f"{mode}-{value}"
        ratios = [ops[name][r] / ops[ref][r] for r in ops[name] if r in ops[ref] and ops[ref][r] > 0]
        cells.append(f"{med(list(ops[name].values())):,.0f}")
        cells.append(f"{med(ratios):.2f}x ({min(ratios):.2f}–{max(ratios):.2f})" if ratios else "n/a")
    cells.append(f"{med(cpu[mode + '-bytes']):.1f} / {med(cpu[mode + '-struct']):.1f} / {med(cpu[mode + '-fast']):.1f}")
    print("| " + " | ".join(cells) + " |")
PY
