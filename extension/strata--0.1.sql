/* strata--0.1.sql: change capture into the outbox strata.change_log */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION strata" to load this file. \quit

-- The outbox.  seq is drawn after the writing transaction's id is assigned.
CREATE SEQUENCE strata.change_log_seq;

CREATE TABLE strata.change_log (
    seq         bigint PRIMARY KEY DEFAULT pg_catalog.nextval('strata.change_log_seq'::pg_catalog.regclass),
    xid         pg_catalog.xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    source      text,
    op          "char" NOT NULL,
    keys        text[] NOT NULL DEFAULT '{}',
    prefixes    text[] NOT NULL DEFAULT '{}',
    marks       text[] NOT NULL DEFAULT '{}'
);
-- No CHECK on op: only strata's own code writes this table, and a CHECK is
-- re-read from its stored form on every insert (a measurable share of the
-- trigger's cost).
COMMENT ON COLUMN strata.change_log.op IS
    'I insert, U update, D delete, T truncate, C collapsed (prefixes only), M manual (strata.invalidate())';
ALTER SEQUENCE strata.change_log_seq OWNED BY strata.change_log.seq;

COMMENT ON TABLE strata.change_log IS
    'Outbox of invalidations, written by the strata capture trigger and strata.invalidate() in the writing transaction';

-- Dirty marks for materialized views, visible in the writer's snapshot.
CREATE TABLE strata.dirty_marks (
    mark        text NOT NULL,
    seq         bigint NOT NULL,
    xid         pg_catalog.xid8 NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
-- Exact probes (mark = ...) and prefix scans (mark LIKE 'uac:%') both use it.
CREATE INDEX dirty_marks_mark_idx ON strata.dirty_marks (mark text_pattern_ops, seq);

-- The rules: one row per watched table, managed by strata.watch()/unwatch().
CREATE TABLE strata.watches (
    tbl             regclass PRIMARY KEY,
    keys            text[] NOT NULL,
    marks           text[] NOT NULL DEFAULT '{}',
    collapse_after  integer NOT NULL DEFAULT 1000 CHECK (collapse_after OPERATOR(pg_catalog.>=) 0),
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-- pg_dump keeps the rules, the outbox and, above all, the sequence (consumer
-- cursors are seqs).
SELECT pg_catalog.pg_extension_config_dump('strata.watches', '');
SELECT pg_catalog.pg_extension_config_dump('strata.change_log', '');
SELECT pg_catalog.pg_extension_config_dump('strata.change_log_seq', '');
SELECT pg_catalog.pg_extension_config_dump('strata.dirty_marks', '');

REVOKE ALL ON strata.change_log, strata.change_log_seq, strata.dirty_marks, strata.watches FROM PUBLIC;

-- Everyone may use escape_segment() and render(); the tables and the other
-- functions are revoked from PUBLIC, to be granted to roles by the migrations.
GRANT USAGE ON SCHEMA strata TO PUBLIC;

-- The capture trigger (installed by strata.watch()).
CREATE FUNCTION strata.capture() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'strata_capture';

CREATE FUNCTION strata.watch(tbl regclass, keys text[] DEFAULT NULL,
                             marks text[] DEFAULT '{}', collapse_after integer DEFAULT 1000)
    RETURNS void
    LANGUAGE c VOLATILE PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'strata_watch';

CREATE FUNCTION strata.unwatch(tbl regclass) RETURNS boolean
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'strata_unwatch';

CREATE FUNCTION strata.invalidate(keys text[]) RETURNS bigint
    LANGUAGE c VOLATILE STRICT PARALLEL UNSAFE AS 'MODULE_PATHNAME', 'strata_invalidate';

CREATE FUNCTION strata.escape_segment(value text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'strata_escape_segment';

CREATE FUNCTION strata.render(template text, names text[], vals text[]) RETURNS text
    LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'strata_render';

CREATE FUNCTION strata.ack_wakeup() RETURNS bigint
    LANGUAGE c VOLATILE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'strata_ack_wakeup';

REVOKE ALL ON FUNCTION strata.capture() FROM PUBLIC;
REVOKE ALL ON FUNCTION strata.watch(regclass, text[], text[], integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION strata.unwatch(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION strata.invalidate(text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION strata.ack_wakeup() FROM PUBLIC;

-- Forget the rules of dropped tables.
CREATE FUNCTION strata.forget_dropped_tables() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM strata.watches AS w
     USING pg_catalog.pg_event_trigger_dropped_objects() AS d
     WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
       AND d.objsubid OPERATOR(pg_catalog.=) 0
       AND d.objid OPERATOR(pg_catalog.=) w.tbl::pg_catalog.oid;
END
$$;
REVOKE ALL ON FUNCTION strata.forget_dropped_tables() FROM PUBLIC;

CREATE EVENT TRIGGER strata_forget_dropped_tables ON sql_drop
    EXECUTE FUNCTION strata.forget_dropped_tables();
