#!/usr/bin/env bash
# Applies migrations/NNNN_name.sql in order with psql, each file in one transaction
# together with its row in strata.schema_migrations. Already applied versions are
# skipped, so a second run is a no-op. A failing file is rolled back and named.
# A file whose first line is `-- strata:no-transaction` runs outside a transaction
# (for CREATE INDEX CONCURRENTLY and the like).
source "$(dirname "$0")/lib.sh"

dir="${1:-$STRATA_ROOT/migrations}"
[ -d "$dir" ] || die "no migrations folder at $dir"

strata_psql -c "create schema if not exists strata;
create table if not exists strata.schema_migrations (
    version    text primary key,
    name       text not null,
    checksum   text not null,
    applied_at timestamptz not null default now()
);" 2>&1 | grep -v 'already exists, skipping' >&2 || true

applied="$(strata_psql -tA -c "select version || ' ' || checksum from strata.schema_migrations")" \
    || die "cannot read strata.schema_migrations on $STRATA_PG_URL"

count=0
for file in "$dir"/[0-9]*.sql; do
    [ -e "$file" ] || continue
    name="$(basename "$file")"
    version="${name%%_*}"
    [[ "$version" =~ ^[0-9]+$ ]] || die "migration $name: the name must start with digits and '_' (e.g. 0003_add_views.sql)"
    sum="$(sha256sum "$file" | cut -c1-16)"
    recorded="$(printf '%s\n' "$applied" | awk -v v="$version" '$1 == v { print $2 }')"
    if [ -n "$recorded" ]; then
        [ "$recorded" = "$sum" ] || log "warning: migration $name changed after it was applied (checksum $recorded, now $sum); applied migrations are never edited, add a new file instead"
        continue
    fi
    record="insert into strata.schema_migrations(version, name, checksum) values ('$version', '$name', '$sum')"
    if head -n1 "$file" | grep -q -- '-- strata:no-transaction'; then
        out="$(strata_psql -f "$file" -c "$record" 2>&1)" || die "migration $name failed: $(printf '%s' "$out" | grep -E 'ERROR|FATAL|error' | head -n 3)"
    else
        out="$(strata_psql --single-transaction -f "$file" -c "$record" 2>&1)" || die "migration $name failed and was rolled back: $(printf '%s' "$out" | grep -E 'ERROR|FATAL|error|DETAIL|HINT' | head -n 4)"
    fi
    log "applied migration $name"
    count=$((count + 1))
done
exit 0
