-- The outbox is written without an INSERT statement (heap and index inserts
-- from C).  Everything an INSERT would do must still happen, and whatever the
-- direct path does not handle (triggers, rules, unknown columns) sends the row
-- through a real INSERT instead.
\set VERBOSITY terse
CREATE EXTENSION IF NOT EXISTS amcheck;

CREATE TABLE direct_items (id int PRIMARY KEY, team int);
SELECT strata.watch('direct_items', ARRAY['d:{id}', 'dteam:{team}:*'], marks => ARRAY['mv:d:{id}']);
SELECT reset_outbox();
INSERT INTO direct_items SELECT g, g % 3 FROM generate_series(1, 20) g;
UPDATE direct_items SET team = team + 1 WHERE id <= 5;
DELETE FROM direct_items WHERE id > 18;
SELECT op, count(*) AS rows, sum(cardinality(keys)) AS keys,
       sum(cardinality(prefixes)) AS prefixes, sum(cardinality(marks)) AS marks
  FROM strata.change_log GROUP BY op ORDER BY op;

-- Every heap tuple has its index entries (amcheck's heapallindexed).
SELECT bt_index_check('strata.change_log_pkey', true) AS change_log_pkey,
       bt_index_check('strata.dirty_marks_mark_idx', true) AS dirty_marks_mark_idx;

-- The worker's query uses the index on seq and sees the same rows as a
-- sequential scan, in order.
PREPARE worker_drain(bigint) AS
  SELECT seq, keys, prefixes, marks FROM strata.change_log WHERE seq > $1 ORDER BY seq;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) EXECUTE worker_drain(0);
CREATE TEMP TABLE via_index AS EXECUTE worker_drain(0);
SELECT mark FROM strata.dirty_marks WHERE mark LIKE 'mv:d:1%' ORDER BY mark;
EXPLAIN (COSTS OFF) SELECT mark FROM strata.dirty_marks WHERE mark LIKE 'mv:d:1%';
RESET enable_seqscan;
RESET enable_bitmapscan;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
CREATE TEMP TABLE via_heap AS EXECUTE worker_drain(0);
RESET enable_indexscan;
RESET enable_bitmapscan;
SELECT (SELECT count(*) FROM via_index) AS via_index,
       (SELECT count(*) FROM via_heap) AS via_heap,
       NOT EXISTS (SELECT * FROM via_index EXCEPT SELECT * FROM via_heap) AS same_rows,
       (SELECT bool_and(seq > prev) FROM (SELECT seq, lag(seq, 1, 0::bigint) OVER (ORDER BY seq) AS prev FROM via_index) s) AS increasing;
-- The dirty marks carry their row's seq and xid.
SELECT count(*) AS marks, bool_and(c.seq IS NOT NULL AND c.xid = m.xid AND m.mark = ANY (c.marks)) AS match_row
  FROM strata.dirty_marks m LEFT JOIN strata.change_log c ON c.seq = m.seq;
DEALLOCATE worker_drain;

-- Within the writing transaction: xid, created_at and seq as the column
-- defaults would give them, visible to the next statement.
SELECT reset_outbox();
BEGIN;
SELECT strata.invalidate(ARRAY['tx:1']) = currval('strata.change_log_seq') AS seq_from_sequence;
UPDATE direct_items SET team = 7 WHERE id = 1;
SELECT keys, prefixes, xid = pg_current_xact_id() AS own_xid, created_at = now() AS created_now
  FROM strata.change_log ORDER BY seq;
COMMIT;

-- A rolled-back subtransaction takes its rows and index entries with it.
SELECT reset_outbox();
BEGIN;
SAVEPOINT a;
SELECT strata.invalidate(ARRAY['sub:1']) IS NOT NULL AS written;
ROLLBACK TO a;
SELECT strata.invalidate(ARRAY['sub:2']) IS NOT NULL AS written;
COMMIT;
SELECT keys FROM strata.change_log;
SELECT bt_index_check('strata.change_log_pkey', true) AS change_log_pkey;

-- A role with no privilege on the outbox, its sequence or the marks table.
CREATE ROLE regress_strata_direct;
GRANT EXECUTE ON FUNCTION strata.invalidate(text[]) TO regress_strata_direct;
GRANT SELECT, UPDATE ON direct_items TO regress_strata_direct;
SELECT reset_outbox();
SET ROLE regress_strata_direct;
SELECT strata.invalidate(ARRAY['role:1']) IS NOT NULL AS written;
UPDATE direct_items SET team = 8 WHERE id = 2;
SELECT nextval('strata.change_log_seq');
RESET ROLE;
SELECT op, keys, prefixes, marks FROM strata.change_log ORDER BY seq;
SELECT mark FROM strata.dirty_marks;
REVOKE ALL ON FUNCTION strata.invalidate(text[]) FROM regress_strata_direct;
REVOKE ALL ON direct_items FROM regress_strata_direct;
DROP ROLE regress_strata_direct;

-- As an INSERT: no writes in a read-only transaction.
BEGIN READ ONLY;
SELECT strata.invalidate(ARRAY['ro:1']);
ROLLBACK;

-- The primary key is enforced: a sequence set back collides.
SELECT reset_outbox();
SELECT strata.invalidate(ARRAY['pk:1']) IS NOT NULL AS written;
SELECT setval('strata.change_log_seq', currval('strata.change_log_seq') - 1) IS NOT NULL AS set_back;
SELECT strata.invalidate(ARRAY['pk:2']);
SELECT setval('strata.change_log_seq', (SELECT max(seq) FROM strata.change_log)) IS NOT NULL AS restored;

-- CHECK constraints added to the outbox are enforced.
ALTER TABLE strata.change_log ADD CONSTRAINT regress_no_forbidden CHECK (NOT 'forbidden' = ANY (keys));
SELECT strata.invalidate(ARRAY['forbidden']);
SELECT strata.invalidate(ARRAY['allowed']) IS NOT NULL AS written;
ALTER TABLE strata.change_log DROP CONSTRAINT regress_no_forbidden;

-- A NOT NULL added to the outbox is enforced as by INSERT (strata.invalidate()
-- writes no source); rows that satisfy it are still written.
SELECT reset_outbox();
ALTER TABLE strata.change_log ALTER COLUMN source SET NOT NULL;
SELECT strata.invalidate(ARRAY['no-source']);
UPDATE direct_items SET team = 13 WHERE id = 7;
ALTER TABLE strata.change_log ALTER COLUMN source DROP NOT NULL;
SELECT op, keys FROM strata.change_log WHERE 'd:7' = ANY (keys);

-- A plain index added to the outbox is maintained too.
CREATE INDEX regress_source_seq ON strata.change_log (source, seq);
SELECT reset_outbox();
SELECT strata.invalidate(ARRAY['plain:1']) IS NOT NULL AS written;
UPDATE direct_items SET team = 14 WHERE id = 8;
SELECT bt_index_check('strata.regress_source_seq', true) AS plain_index,
       bt_index_check('strata.change_log_pkey', true) AS change_log_pkey;
SET enable_seqscan = off;
SELECT op, keys FROM strata.change_log WHERE source = 'public.direct_items' ORDER BY seq;
RESET enable_seqscan;
DROP INDEX strata.regress_source_seq;
SELECT strata.invalidate(ARRAY['plain:2']) IS NOT NULL AS written;

-- Indexes of the outbox rebuilt, altered, or created and dropped
-- concurrently: each write maintains the indexes the tables have then.
SELECT reset_outbox();
REINDEX INDEX strata.change_log_pkey;
REINDEX INDEX strata.dirty_marks_mark_idx;
SELECT strata.invalidate(ARRAY['reindex:1']) IS NOT NULL AS written;
UPDATE direct_items SET team = 15 WHERE id = 9;
ALTER INDEX strata.change_log_pkey SET (fillfactor = 80);
SELECT strata.invalidate(ARRAY['alter:1']) IS NOT NULL AS written;
ALTER INDEX strata.change_log_pkey RESET (fillfactor);
CREATE INDEX CONCURRENTLY regress_op_seq ON strata.change_log (op, seq);
SELECT strata.invalidate(ARRAY['cic:1']) IS NOT NULL AS written;
UPDATE direct_items SET team = 16 WHERE id = 10;
SELECT bt_index_check('strata.regress_op_seq', true) AS concurrent_index,
       bt_index_check('strata.change_log_pkey', true) AS change_log_pkey,
       bt_index_check('strata.dirty_marks_mark_idx', true) AS dirty_marks_mark_idx;
DROP INDEX CONCURRENTLY strata.regress_op_seq;
SELECT strata.invalidate(ARRAY['cic:2']) IS NOT NULL AS written;
SELECT keys FROM strata.change_log ORDER BY seq;
SELECT bt_index_check('strata.change_log_pkey', true) AS change_log_pkey;

-- Indexes added to the outbox (expression, partial) are maintained.
CREATE INDEX regress_first_key ON strata.change_log ((keys[1])) WHERE op = 'M';
SELECT reset_outbox();
SELECT strata.invalidate(ARRAY['expr:1']) IS NOT NULL AS written;
UPDATE direct_items SET team = 9 WHERE id = 3;
SELECT bt_index_check('strata.regress_first_key', true) AS expression_index;
SET enable_seqscan = off;
SELECT keys FROM strata.change_log WHERE keys[1] = 'expr:1' AND op = 'M';
RESET enable_seqscan;
DROP INDEX strata.regress_first_key;

-- A trigger on the outbox is not bypassed: such rows go through INSERT.
CREATE FUNCTION regress_outbox_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'trigger on %: %', TG_TABLE_NAME,
        CASE TG_TABLE_NAME WHEN 'change_log' THEN to_jsonb(NEW)->>'keys' ELSE to_jsonb(NEW)->>'mark' END;
    RETURN NEW;
END
$$;
CREATE TRIGGER regress_outbox_trigger AFTER INSERT ON strata.change_log
    FOR EACH ROW EXECUTE FUNCTION regress_outbox_trigger();
CREATE TRIGGER regress_marks_trigger AFTER INSERT ON strata.dirty_marks
    FOR EACH ROW EXECUTE FUNCTION regress_outbox_trigger();
SELECT reset_outbox();
SELECT strata.invalidate(ARRAY['trig:1']) IS NOT NULL AS written;
UPDATE direct_items SET team = 10 WHERE id = 4;
DROP TRIGGER regress_marks_trigger ON strata.dirty_marks;
UPDATE direct_items SET team = 11 WHERE id = 5;
DROP TRIGGER regress_outbox_trigger ON strata.change_log;
SELECT strata.invalidate(ARRAY['trig:2']) IS NOT NULL AS written;
SELECT op, keys, marks FROM strata.change_log ORDER BY seq;
SELECT count(*) AS marks FROM strata.dirty_marks;

-- A column added to the outbox gets its default (through INSERT); once it is
-- dropped, the direct path skips the dropped column.
ALTER TABLE strata.change_log ADD COLUMN regress_note text DEFAULT 'by insert';
SELECT reset_outbox();
SELECT strata.invalidate(ARRAY['col:1']) IS NOT NULL AS written;
SELECT keys, regress_note FROM strata.change_log;
ALTER TABLE strata.change_log DROP COLUMN regress_note;
SELECT strata.invalidate(ARRAY['col:2']) IS NOT NULL AS written;
UPDATE direct_items SET team = 12 WHERE id = 6;
SELECT op, keys, prefixes, marks FROM strata.change_log ORDER BY seq;
SELECT bt_index_check('strata.change_log_pkey', true) AS change_log_pkey;

DROP FUNCTION regress_outbox_trigger();
SELECT strata.unwatch('direct_items');
DROP TABLE direct_items;
SELECT reset_outbox();
