# Common settings for Strata's scripts. Source it; every value can be overridden
# from the environment.
set -euo pipefail

STRATA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export STRATA_ROOT
# Where the scripts keep server data, sockets and logs (owned by the scripts).
export STRATA_HOME="${STRATA_HOME:-$STRATA_ROOT/.local/dev}"
export STRATA_PG_PORT="${STRATA_PG_PORT:-55432}"
export STRATA_REDIS_PORT="${STRATA_REDIS_PORT:-56379}"
export STRATA_DB="${STRATA_DB:-strata}"
export PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
export PG_CONFIG="${PG_CONFIG:-$PG_BIN/pg_config}"
export STRATA_PG_DATA="$STRATA_HOME/pg/data"
export STRATA_PG_SOCKET_DIR="$STRATA_HOME/pg/run"
export STRATA_REDIS_DIR="$STRATA_HOME/redis"
export STRATA_PG_URL="${STRATA_PG_URL:-postgresql://postgres@127.0.0.1:$STRATA_PG_PORT/$STRATA_DB}"
export STRATA_REDIS_URL="${STRATA_REDIS_URL:-redis://127.0.0.1:$STRATA_REDIS_PORT}"

log() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run a command as the postgres user when we are root (PostgreSQL refuses root).
as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# psql against the project's database as the superuser, quiet and strict.
strata_psql() {
    PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
        -h 127.0.0.1 -p "$STRATA_PG_PORT" -U postgres -d "${PSQL_DB:-$STRATA_DB}" "$@"
}

# Print a free TCP port on 127.0.0.1 at or above $1.
free_port() {
    python3 - "$1" <<'PY'
import socket, sys
p = int(sys.argv[1])
while p < 65535:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); s.close(); print(p); break
    except OSError:
        p += 1
PY
}
