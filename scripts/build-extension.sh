#!/usr/bin/env bash
# Builds and installs the strata extension with PGXS (idempotent, quiet unless it fails).
# Restart the server afterwards (scripts/pg.sh restart) so that it preloads the new library.
source "$(dirname "$0")/lib.sh"

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
if ! make -C "$STRATA_ROOT/extension" PG_CONFIG="$PG_CONFIG" install >"$out" 2>&1; then
    cat "$out" >&2
    die "building the strata extension failed"
fi
