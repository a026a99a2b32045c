-- strata.invalidate(): manual keys and prefixes.
\set VERBOSITY terse
SELECT reset_outbox();

SELECT strata.invalidate(ARRAY['authz:user:1', 'authz:team:2:*', 'authz:user:1']) =
       (SELECT max(seq) FROM strata.change_log) AS returns_seq;
SELECT * FROM outbox;

-- Keys built with render()/escape_segment() are accepted, including hashed segments
-- and empty (escaped) values; a lone '*' is the prefix of every key.
SELECT reset_outbox();
SELECT strata.invalidate(ARRAY[
    strata.render('doc:{id}', ARRAY['id'], ARRAY['a:b*']),
    strata.render('doc:{id}', ARRAY['id'], ARRAY[repeat('z', 500)]),
    strata.render('owner:{o}:*', ARRAY['o'], ARRAY['']),
    '*']) IS NOT NULL AS written;
SELECT op, source, cardinality(keys) AS nkeys, prefixes, keys[1] AS first_key FROM outbox;

-- In the caller's transaction: a rollback removes it.
SELECT reset_outbox();
BEGIN;
SELECT strata.invalidate(ARRAY['x:1']) IS NOT NULL AS written;
ROLLBACK;
SELECT count(*) FROM strata.change_log;

-- xid is the caller's transaction id, even in a transaction that wrote nothing else.
BEGIN;
SELECT strata.invalidate(ARRAY['x:2']) IS NOT NULL AS written;
SELECT xid = pg_current_xact_id() AS own_xid FROM strata.change_log;
COMMIT;

-- An empty array writes nothing and returns NULL.
SELECT reset_outbox();
SELECT strata.invalidate('{}') IS NULL AS is_null;
SELECT strata.invalidate(NULL) IS NULL AS is_null;
SELECT count(*) FROM strata.change_log;

-- Invalid keys.
SELECT strata.invalidate(ARRAY['authz:user:{id}']);
SELECT strata.invalidate(ARRAY['authz:*:x']);
SELECT strata.invalidate(ARRAY['authz:us*']);
SELECT strata.invalidate(ARRAY['with space']);
SELECT strata.invalidate(ARRAY['a?']);
SELECT strata.invalidate(ARRAY['100%']);
SELECT strata.invalidate(ARRAY['a%41']);
SELECT strata.invalidate(ARRAY['a:%Hdeadbeef']);
SELECT strata.invalidate(ARRAY['']);
SELECT strata.invalidate(ARRAY[NULL::text]);
SELECT strata.invalidate(ARRAY[repeat('a', 2049)]);
SELECT strata.invalidate(ARRAY[['a', 'b'], ['c', 'd']]);
SELECT count(*) FROM strata.change_log;
