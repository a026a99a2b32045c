-- Per-transaction dedup and subtransactions.
\set VERBOSITY terse

CREATE TABLE profiles (id int PRIMARY KEY, team_id int, bio text);
INSERT INTO profiles SELECT g, g % 3, '' FROM generate_series(1, 10) g;
SELECT strata.watch('profiles', ARRAY['profile:{id}', 'team:{team_id}:*']);

-- The same key twice in one transaction is written once.
SELECT reset_outbox();
BEGIN;
UPDATE profiles SET bio = 'a' WHERE id = 1;
UPDATE profiles SET bio = 'b' WHERE id = 1;
UPDATE profiles SET bio = 'c' WHERE id = 4;   -- same team as id 1
COMMIT;
SELECT * FROM outbox;

-- In separate transactions each writes its keys.
SELECT reset_outbox();
UPDATE profiles SET bio = 'd' WHERE id = 1;
UPDATE profiles SET bio = 'e' WHERE id = 1;
SELECT * FROM outbox;

-- A subtransaction that rolls back forgets what it wrote: later changes write again.
SELECT reset_outbox();
BEGIN;
SAVEPOINT s1;
UPDATE profiles SET bio = 'f' WHERE id = 2;
ROLLBACK TO SAVEPOINT s1;
UPDATE profiles SET bio = 'g' WHERE id = 2;
COMMIT;
SELECT * FROM outbox;

-- A released (committed) subtransaction keeps its keys deduplicated.
SELECT reset_outbox();
BEGIN;
SAVEPOINT s1;
UPDATE profiles SET bio = 'h' WHERE id = 3;
RELEASE SAVEPOINT s1;
UPDATE profiles SET bio = 'i' WHERE id = 3;
COMMIT;
SELECT * FROM outbox;

-- Keys written before the savepoint stay deduplicated after rolling it back;
-- keys of a nested, released subtransaction go with its rolled-back parent.
SELECT reset_outbox();
BEGIN;
UPDATE profiles SET bio = 'j' WHERE id = 5;
SAVEPOINT a;
UPDATE profiles SET bio = 'k' WHERE id = 6;
SAVEPOINT b;
UPDATE profiles SET bio = 'l' WHERE id = 7;
RELEASE SAVEPOINT b;
ROLLBACK TO SAVEPOINT a;
UPDATE profiles SET bio = 'm' WHERE id IN (5, 6, 7);
COMMIT;
SELECT * FROM outbox;

-- A collapse inside a rolled-back subtransaction is undone.
SELECT strata.watch('profiles', ARRAY['profile:{id}', 'team:{team_id}:*'], collapse_after => 2);
SELECT reset_outbox();
BEGIN;
SAVEPOINT s1;
UPDATE profiles SET bio = 'n';
ROLLBACK TO SAVEPOINT s1;
UPDATE profiles SET bio = 'o' WHERE id = 8;
COMMIT;
SELECT * FROM outbox;

-- PL/pgSQL exception blocks are subtransactions too.
SELECT reset_outbox();
DO $$
BEGIN
  BEGIN
    UPDATE profiles SET bio = 'p' WHERE id = 9;
    RAISE EXCEPTION 'undo';
  EXCEPTION WHEN raise_exception THEN
    NULL;
  END;
  UPDATE profiles SET bio = 'q' WHERE id = 9;
END
$$;
SELECT * FROM outbox;

-- What a transaction added is forgotten at its end, also after a rolled-back
-- subtransaction: the next transaction writes the keys again and counts afresh
-- towards collapse_after (still 2: one row's two entries fit, a second row's do not).
SELECT reset_outbox();
BEGIN;
SAVEPOINT s1;
UPDATE profiles SET bio = 'r' WHERE id = 1;
ROLLBACK TO SAVEPOINT s1;
UPDATE profiles SET bio = 's' WHERE id = 1;
COMMIT;
UPDATE profiles SET bio = 't' WHERE id = 1;
BEGIN;
UPDATE profiles SET bio = 'u' WHERE id = 1;
UPDATE profiles SET bio = 'u' WHERE id = 2;
COMMIT;
SELECT * FROM outbox;

-- A transaction that adds hundreds of entries (its state is dropped at the
-- end rather than emptied), with a rolled-back subtransaction among them;
-- the transactions after it dedup and count as before.
CREATE TABLE bulk (id int PRIMARY KEY, v int);
SELECT strata.watch('bulk', ARRAY['bulk:{id}']);
SELECT reset_outbox();
BEGIN;
INSERT INTO bulk SELECT g, 0 FROM generate_series(1, 300) g;
SAVEPOINT s1;
UPDATE bulk SET v = 1 WHERE id <= 10;
INSERT INTO bulk VALUES (301, 0);
ROLLBACK TO SAVEPOINT s1;
INSERT INTO bulk VALUES (301, 0);
UPDATE bulk SET v = 2 WHERE id > 290;
UPDATE profiles SET bio = 'v' WHERE id = 3;
COMMIT;
SELECT op, source, count(*) AS rows, count(DISTINCT keys) AS distinct_keys
  FROM strata.change_log GROUP BY op, source ORDER BY op, source;
SELECT reset_outbox();
BEGIN;
UPDATE bulk SET v = 3 WHERE id = 1;
UPDATE bulk SET v = 4 WHERE id = 1;
UPDATE profiles SET bio = 'w' WHERE id = 3;
UPDATE profiles SET bio = 'x' WHERE id = 3;
COMMIT;
SELECT * FROM outbox;
SELECT strata.unwatch('bulk');
