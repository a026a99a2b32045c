-- watch() checks everything at watch time; unwatch().
\set VERBOSITY terse

CREATE TABLE accounts (id int PRIMARY KEY, org_id int, email text);

-- A wrong column is an error here, with the table's columns as a hint.
\set VERBOSITY default
SELECT strata.watch('accounts', ARRAY['acct:{id}', 'org:{organisation_id}:*']);
SELECT strata.watch('accounts', ARRAY['acct:{id}'], marks => ARRAY['mv:{nope}']);
-- No primary key and no templates.
CREATE TABLE events (at timestamptz, payload text);
SELECT strata.watch('events');
SELECT strata.watch('events', ARRAY[]::text[]);
-- Invalid templates.
SELECT strata.watch('accounts', ARRAY['acct{id}']);
\set VERBOSITY terse
SELECT strata.watch('accounts', ARRAY['acct:{id}:*:x']);
SELECT strata.watch('accounts', ARRAY['acct:{id}', NULL]);
SELECT strata.watch('accounts', ARRAY['acct:{ctid}']);
SELECT strata.watch('accounts', collapse_after => -1);
SELECT strata.watch(NULL);

-- Not a table, or strata's own.
CREATE VIEW accounts_v AS SELECT * FROM accounts;
SELECT strata.watch('accounts_v', ARRAY['a:{id}']);
CREATE TABLE parted (id int PRIMARY KEY) PARTITION BY RANGE (id);
SELECT strata.watch('parted');
SELECT strata.watch('strata.change_log');
SELECT strata.watch('strata.watches');
SELECT strata.watch('pg_class', ARRAY['c:{oid}']);

-- Nothing was installed by the failures.
SELECT count(*) FROM pg_trigger WHERE tgrelid = 'accounts'::regclass;
SELECT count(*) FROM strata.watches WHERE tbl = 'accounts'::regclass;

-- A table without a primary key can be watched with templates.
SELECT strata.watch('events', ARRAY['events:{payload}']);

-- watch() is idempotent and replaces the rules.
SELECT strata.watch('accounts');
SELECT strata.watch('accounts', ARRAY['acct:{id}', 'acct:{id}', 'org:{org_id}:*'], ARRAY['mv:org:{org_id}'], 10);
SELECT tbl, keys, marks, collapse_after FROM strata.watches WHERE tbl = 'accounts'::regclass;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'accounts'::regclass ORDER BY 1;
SELECT reset_outbox();
INSERT INTO accounts VALUES (1, 2, 'a@example.com');
SELECT * FROM outbox;

-- The new rules apply at once in this session (cached rules are rebuilt).
SELECT strata.watch('accounts', ARRAY['account:{email}']);
SELECT reset_outbox();
UPDATE accounts SET org_id = 3;
SELECT * FROM outbox;

-- ... and in a transaction that changes the rules midway.
SELECT reset_outbox();
BEGIN;
UPDATE accounts SET org_id = 4;
SELECT strata.watch('accounts', ARRAY['acct2:{id}']);
UPDATE accounts SET org_id = 5;
SELECT * FROM outbox;
ROLLBACK;
UPDATE accounts SET org_id = 6;
SELECT * FROM outbox;

-- Changes alternating between two tables use each one's rules, also when
-- the rules of the table changed last, or of the other one, are replaced.
CREATE TABLE ledgers (id int PRIMARY KEY, org_id int);
INSERT INTO ledgers VALUES (1, 2);
SELECT strata.watch('ledgers', ARRAY['ledger:{id}']);
SELECT reset_outbox();
UPDATE accounts SET org_id = 8;
UPDATE ledgers SET org_id = 8;
UPDATE accounts SET org_id = 9;
SELECT strata.watch('accounts', ARRAY['acct3:{id}']);
UPDATE ledgers SET org_id = 9;
UPDATE accounts SET org_id = 10;
SELECT strata.watch('ledgers', ARRAY['ledger2:{id}']);
UPDATE accounts SET org_id = 11;
UPDATE ledgers SET org_id = 11;
SELECT * FROM outbox;

-- unwatch() and watch() again in one session: the new rules apply.
SELECT reset_outbox();
SELECT strata.unwatch('ledgers');
UPDATE ledgers SET org_id = 12;
SELECT strata.watch('ledgers', ARRAY['ledger3:{id}']);
UPDATE ledgers SET org_id = 13;
SELECT * FROM outbox;
SELECT strata.unwatch('ledgers');

-- unwatch() drops the triggers and the rules; false when not watched.
SELECT strata.unwatch('accounts');
SELECT strata.unwatch('accounts');
SELECT count(*) FROM pg_trigger WHERE tgrelid = 'accounts'::regclass;
SELECT count(*) FROM strata.watches WHERE tbl = 'accounts'::regclass;
SELECT reset_outbox();
UPDATE accounts SET org_id = 7;
SELECT count(*) FROM strata.change_log;

-- A capture trigger without rules does not fail writes (it warns).
CREATE TABLE orphan (id int PRIMARY KEY);
SELECT strata.watch('orphan');
DELETE FROM strata.watches WHERE tbl = 'orphan'::regclass;
-- (watch() invalidated the cache; a new session reads the rules afresh)
\c
\set VERBOSITY terse
INSERT INTO orphan VALUES (1);
SELECT count(*) FROM strata.change_log;
SELECT strata.unwatch('orphan');

-- Calling the trigger function directly is refused.
SELECT strata.capture();
