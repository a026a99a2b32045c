-- Install the extension into the regression database and check its objects.
\set VERBOSITY terse
CREATE EXTENSION strata;

SELECT extname, extversion, extrelocatable, nspname
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE extname = 'strata';

-- Functions of the SQL interface, with their signatures.
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args,
       pg_get_function_result(p.oid) AS result, p.provolatile, p.proisstrict
  FROM pg_proc p
 WHERE p.pronamespace = 'strata'::regnamespace
 ORDER BY 1;

-- Tables and their columns.
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
 WHERE c.relnamespace = 'strata'::regnamespace AND c.relkind = 'r'
   AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY c.relname, a.attnum;

-- What PUBLIC may do.
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
  FROM pg_proc p
 WHERE p.pronamespace = 'strata'::regnamespace
 ORDER BY 1;
SELECT c.relname,
       has_table_privilege('public', c.oid, 'SELECT') AS public_select,
       has_table_privilege('public', c.oid, 'INSERT') AS public_insert
  FROM pg_class c
 WHERE c.relnamespace = 'strata'::regnamespace AND c.relkind IN ('r', 'S')
 ORDER BY 1;

-- The outbox as the tests look at it: without seq, xid and timestamps.
CREATE VIEW outbox AS
SELECT row_number() OVER (ORDER BY seq) AS n, op, source, keys, prefixes, marks
  FROM strata.change_log ORDER BY seq;

-- Empty the outbox between tests.
CREATE FUNCTION reset_outbox() RETURNS void LANGUAGE sql AS $$
  TRUNCATE strata.change_log, strata.dirty_marks;
$$;
