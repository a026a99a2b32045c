-- Bounded outbox: collapse after collapse_after distinct keys per table and
-- transaction; TRUNCATE writes the prefixes.
\set VERBOSITY terse

CREATE TABLE items (id int PRIMARY KEY, team_id int, val int);
INSERT INTO items SELECT g, g % 10, 0 FROM generate_series(1, 100000) g;
SELECT strata.watch('items', ARRAY['item:{id}', 'team:{team_id}:*', 'items:all']);

-- A 100,000-row UPDATE: the outbox stays bounded.
SELECT reset_outbox();
UPDATE items SET val = val + 1;
SELECT count(*) AS rows_written, count(*) FILTER (WHERE op = 'C') AS collapsed_rows,
       sum(cardinality(keys) + cardinality(prefixes)) AS entries
  FROM strata.change_log;
SELECT op, keys, prefixes FROM outbox WHERE op = 'C';
-- nothing for the table after the collapse row
SELECT max(n) = (SELECT n FROM outbox WHERE op = 'C') AS collapse_is_last FROM outbox;

-- A small collapse_after.
SELECT strata.watch('items', ARRAY['item:{id}', 'team:{team_id}:*'], collapse_after => 3);
SELECT reset_outbox();
BEGIN;
UPDATE items SET val = 0 WHERE id = 1;   -- item:1, team:1:*        (2 entries)
UPDATE items SET val = 0 WHERE id = 11;  -- item:11 (team:1:* already written: 3 entries)
UPDATE items SET val = 0 WHERE id = 2;   -- would be 5 > 3: collapse
UPDATE items SET val = 0 WHERE id = 3;   -- nothing more
INSERT INTO items VALUES (100001, 1, 0); -- nothing more
COMMIT;
SELECT * FROM outbox;

-- collapse_after 0: every transaction writes only the prefixes.
SELECT strata.watch('items', ARRAY['item:{id}'], collapse_after => 0);
SELECT reset_outbox();
UPDATE items SET val = 1 WHERE id = 5;
SELECT * FROM outbox;

-- Collapsing is per table: another table in the same transaction is unaffected.
CREATE TABLE other (id int PRIMARY KEY);
SELECT strata.watch('other');
SELECT reset_outbox();
BEGIN;
UPDATE items SET val = 2 WHERE id = 5;
INSERT INTO other VALUES (1);
COMMIT;
SELECT * FROM outbox;

-- TRUNCATE invalidates the table's prefixes (and literal keys), op 'T'.
SELECT strata.watch('items', ARRAY['item:{id}', 'team:{team_id}:*', 'items:all'],
                    marks => ARRAY['mv:items:{id}']);
SELECT reset_outbox();
TRUNCATE items;
SELECT * FROM outbox;
SELECT mark FROM strata.dirty_marks;

-- After a TRUNCATE, later changes in the same transaction are covered.
SELECT reset_outbox();
BEGIN;
TRUNCATE items;
INSERT INTO items VALUES (1, 1, 1);
COMMIT;
SELECT * FROM outbox;

-- Changes before the TRUNCATE are written, then the prefixes.
SELECT reset_outbox();
BEGIN;
INSERT INTO items VALUES (2, 2, 2);
TRUNCATE items;
COMMIT;
SELECT * FROM outbox;

-- Collapsed marks go to dirty_marks as prefixes.
SELECT strata.watch('items', ARRAY['item:{id}'], marks => ARRAY['mv:items:{id}', 'mv:teams:{team_id}:*'],
                    collapse_after => 2);
SELECT reset_outbox();
INSERT INTO items SELECT g, g, 0 FROM generate_series(1, 10) g;
SELECT * FROM outbox;
SELECT mark FROM strata.dirty_marks ORDER BY mark;
