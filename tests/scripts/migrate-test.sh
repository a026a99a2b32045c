#!/usr/bin/env bash
# Behaviour of scripts/migrate.sh against the running test server: applies in order,
# records versions, a second run is a no-op, a failing file is rolled back and named.
source "$(dirname "$0")/../../scripts/lib.sh"

export STRATA_DB="strata_migrate_test"
PSQL_DB=postgres strata_psql -c "set client_min_messages = warning" -c "drop database if exists $STRATA_DB" -c "create database $STRATA_DB"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"; PSQL_DB=postgres strata_psql -c "drop database if exists $STRATA_DB"' EXIT
passed=0; failed=0
check() { if eval "$2"; then passed=$((passed + 1)); else failed=$((failed + 1)); log "not ok: $1"; fi; }

cat >"$dir/0001_first.sql" <<'SQL'
create table public.m1 (id int primary key);
SQL
cat >"$dir/0002_second.sql" <<'SQL'
insert into public.m1 values (1);
SQL
out="$("$STRATA_ROOT/scripts/migrate.sh" "$dir" 2>&1)"
versions="$(strata_psql -tAc "select string_agg(version, ' ' order by version) from strata.schema_migrations")"
check "applies both files in order" '[ "$versions" = "0001 0002" ]'
check "reports what it applied" 'printf "%s" "$out" | grep -q "applied migration 0002_second.sql"'
out="$("$STRATA_ROOT/scripts/migrate.sh" "$dir" 2>&1)"
check "a second run is a no-op and quiet" '[ -z "$out" ]'

cat >"$dir/0003_broken.sql" <<'SQL'
insert into public.m1 values (2);
select * from no_such_table;
SQL
status=0; out="$("$STRATA_ROOT/scripts/migrate.sh" "$dir" 2>&1)" || status=$?
check "a failing file exits non-zero" '[ "$status" -ne 0 ]'
check "the message names the file" 'printf "%s" "$out" | grep -q "0003_broken.sql"'
check "the message carries the error" 'printf "%s" "$out" | grep -q "no_such_table"'
check "the failing file was rolled back" '[ "$(strata_psql -tAc "select count(*) from public.m1")" = "1" ]'
check "the failing version is not recorded" '[ "$(strata_psql -tAc "select count(*) from strata.schema_migrations where version = '"'0003'"'")" = "0" ]'

printf 'migrate: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
