-- Capture benchmark setup: bench_items(id int primary key, team_id int, val int)
-- with :rows rows, in one of three variants (psql -v variant=... -v rows=...),
-- each in its own schema bench_<variant> (pgbench runs with that search_path):
--   none     no capture (the baseline)
--   strata   watched by strata: keys 'bench:item:{id}', 'bench:team:{team_id}:*'
--   plpgsql  an equivalent PL/pgSQL trigger: renders the same keys for OLD and
--            NEW, inserts one outbox row (xid, seq, keys, prefixes) and calls
--            pg_notify() in every writing transaction
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\if :{?rows}
\else
  \set rows 100000
\endif

CREATE EXTENSION IF NOT EXISTS strata;
SELECT :'variant' IN ('none', 'strata', 'plpgsql') AS is_known \gset
\if :is_known
\else
  \echo unknown variant :variant (none, strata, plpgsql)
  SELECT 1/0;
\endif
SELECT 'bench_' || :'variant' AS schema \gset
DROP SCHEMA IF EXISTS :"schema" CASCADE;
CREATE SCHEMA :"schema";
SET search_path = :"schema", public;

CREATE TABLE bench_items (id int PRIMARY KEY, team_id int, val int NOT NULL DEFAULT 0);
INSERT INTO bench_items SELECT g, g % 1000, 0 FROM generate_series(1, :rows) g;

SELECT :'variant' = 'strata' AS is_strata, :'variant' = 'plpgsql' AS is_plpgsql \gset

\if :is_strata
TRUNCATE strata.change_log, strata.dirty_marks;
SELECT strata.watch('bench_items', ARRAY['bench:item:{id}', 'bench:team:{team_id}:*']);
\endif

\if :is_plpgsql
-- The same outbox shape as strata.change_log.
CREATE TABLE bench_outbox (
    seq         bigserial PRIMARY KEY,
    xid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
    created_at  timestamptz NOT NULL DEFAULT now(),
    source      text,
    op          "char" NOT NULL,
    keys        text[] NOT NULL,
    prefixes    text[] NOT NULL,
    marks       text[] NOT NULL DEFAULT '{}'
);

CREATE FUNCTION bench_capture() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    k text[] := '{}';
    p text[] := '{}';
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        IF OLD.id IS NOT NULL THEN k := k || ('bench:item:' || OLD.id); END IF;
        IF OLD.team_id IS NOT NULL THEN p := p || ('bench:team:' || OLD.team_id || ':*'); END IF;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        IF NEW.id IS NOT NULL AND NOT ('bench:item:' || NEW.id) = ANY (k) THEN
            k := k || ('bench:item:' || NEW.id);
        END IF;
        IF NEW.team_id IS NOT NULL AND NOT ('bench:team:' || NEW.team_id || ':*') = ANY (p) THEN
            p := p || ('bench:team:' || NEW.team_id || ':*');
        END IF;
    END IF;
    INSERT INTO bench_outbox (xid, source, op, keys, prefixes)
    VALUES (pg_current_xact_id(), TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, left(TG_OP, 1), k, p);
    PERFORM pg_notify('strata_wakeup', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER bench_capture AFTER INSERT OR UPDATE OR DELETE ON bench_items
    FOR EACH ROW EXECUTE FUNCTION bench_capture();
\endif

VACUUM ANALYZE bench_items;
CHECKPOINT;
