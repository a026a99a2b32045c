-- The capture trigger: rows in, keys out.
\set VERBOSITY terse
SELECT reset_outbox();

CREATE TABLE team_members (
    user_id  int NOT NULL,
    team_id  int,
    role     text,
    PRIMARY KEY (user_id, team_id)
);
SELECT strata.watch('team_members',
                    ARRAY['authz:user:{user_id}', 'authz:team:{team_id}:*',
                          'authz:team:{team_id}:user:{user_id}']);

-- The triggers watch() installed.
SELECT tgname, tgtype, tgfoid::regproc FROM pg_trigger
 WHERE tgrelid = 'team_members'::regclass ORDER BY tgname;

INSERT INTO team_members VALUES (1, 10, 'admin');
UPDATE team_members SET role = 'member' WHERE user_id = 1;
DELETE FROM team_members WHERE user_id = 1;
SELECT * FROM outbox;

-- UPDATE changing the key column invalidates the old and the new team.
SELECT reset_outbox();
INSERT INTO team_members VALUES (2, 20, 'member');
UPDATE team_members SET team_id = 21 WHERE user_id = 2;
SELECT * FROM outbox;

-- seq, xid and created_at: xid is the writing transaction's, seq increases.
SELECT reset_outbox();
BEGIN;
INSERT INTO team_members VALUES (3, 30, 'member');
INSERT INTO team_members VALUES (4, 30, 'member');
SELECT count(*) AS nrows, bool_and(xid = pg_current_xact_id()) AS own_xid,
       bool_and(created_at = now()) AS txn_time, max(seq) - min(seq) AS seq_span
  FROM strata.change_log;
COMMIT;

-- NULL values give no key and no error.
SELECT reset_outbox();
ALTER TABLE team_members DROP CONSTRAINT team_members_pkey, ALTER COLUMN team_id DROP NOT NULL;
INSERT INTO team_members VALUES (5, NULL, 'nobody');
UPDATE team_members SET team_id = 50 WHERE user_id = 5;
SELECT * FROM outbox;

-- Escaping in the trigger: values cannot add segments.
CREATE TABLE docs (id text PRIMARY KEY, owner text, body text);
SELECT strata.watch('docs', ARRAY['doc:{id}', 'owner:{owner}:*']);
SELECT reset_outbox();
INSERT INTO docs VALUES ('a:b*', 'x y', 'ok'),
                        (E'tab\tand\\slash', '[?]', 'ok'),
                        ('{id}%', '', 'empty owner');
SELECT * FROM outbox;

-- Huge values are hashed (deterministically), and the write succeeds.
SELECT reset_outbox();
INSERT INTO docs VALUES (repeat('k', 100000), 'o', 'huge key');
SELECT keys[1] = 'doc:' || strata.escape_segment(repeat('k', 100000)) AS same_as_escape_segment,
       keys[1] = 'doc:%H' || left(encode(sha256(convert_to(repeat('k', 100000), 'UTF8')), 'hex'), 32) AS sha256,
       length(keys[1]) AS key_length
  FROM strata.change_log;

-- An UPDATE that leaves the template columns alone renders them once (OLD's keys are
-- NEW's); a huge, TOASTed key column left alone still gives its one hashed key.
SELECT reset_outbox();
UPDATE docs SET body = 'edited' WHERE owner = 'o';
SELECT op, cardinality(keys) AS nkeys,
       keys[1] = 'doc:' || strata.escape_segment(repeat('k', 100000)) AS same_key, prefixes
  FROM strata.change_log;

-- A key column set to NULL still invalidates what the old value named.
SELECT reset_outbox();
UPDATE team_members SET team_id = NULL WHERE user_id = 5;
SELECT * FROM outbox;

-- The default template is '<table>:{pk...}' in primary key order.
CREATE TABLE grants (resource_id uuid, grantee int, granted boolean, amount numeric,
                     PRIMARY KEY (grantee, resource_id));
SELECT strata.watch('grants');
SELECT keys FROM strata.watches WHERE tbl = 'grants'::regclass;
SELECT reset_outbox();
INSERT INTO grants VALUES ('6f1c1f04-9d4e-4f5c-9a8e-2a9c1b2c3d4e', 7, true, 1.50);
SELECT * FROM outbox;

-- Other types render with their text output, under fixed settings (ISO dates,
-- UTC, ...) so that keys do not depend on the writer's session.
CREATE TABLE typed (id bigint PRIMARY KEY, flag boolean, amount numeric, day date, tags text[],
                    at timestamptz, ratio float8, span interval, raw bytea);
SELECT strata.watch('typed', ARRAY['typed:{flag}:{amount}:{day}:{tags}', 'at:{at}:{ratio}:{span}:{raw}']);
SELECT reset_outbox();
SET datestyle = 'SQL, DMY';
SET timezone = 'America/New_York';
SET intervalstyle = 'sql_standard';
SET extra_float_digits = -3;
SET bytea_output = 'escape';
INSERT INTO typed VALUES (1, false, -2.50, '2024-02-29', '{a,"b c"}',
                          '2024-02-29 12:00:00+00', 0.1, '1 day 2 hours', '\x00ff');
SET timezone = 'Asia/Tokyo';
UPDATE typed SET id = 2;
RESET datestyle; RESET timezone; RESET intervalstyle; RESET extra_float_digits; RESET bytea_output;
SELECT * FROM outbox;
SHOW timezone;

-- A table name that needs escaping gets an escaped default template.
CREATE TABLE "Odd Name" (id int PRIMARY KEY);
SELECT strata.watch('"Odd Name"');
SELECT keys FROM strata.watches WHERE tbl = '"Odd Name"'::regclass;
SELECT reset_outbox();
INSERT INTO "Odd Name" VALUES (1);
SELECT * FROM outbox;

-- Marks go to change_log.marks and to strata.dirty_marks with the same seq and xid.
CREATE TABLE memberships (user_id int PRIMARY KEY, team_id int);
SELECT strata.watch('memberships', ARRAY['m:user:{user_id}'],
                    marks => ARRAY['mv:user_teams:{user_id}', 'mv:team_users:{team_id}:*']);
SELECT reset_outbox();
INSERT INTO memberships VALUES (1, 100);
SELECT * FROM outbox;
SELECT d.mark, d.seq = c.seq AS same_seq, d.xid = c.xid AS same_xid
  FROM strata.dirty_marks d JOIN strata.change_log c ON d.mark = ANY (c.marks)
 ORDER BY d.mark;

-- A table without marks writes none.
SELECT reset_outbox();
INSERT INTO docs VALUES ('plain', 'o', 'x');
SELECT count(*) AS dirty_marks FROM strata.dirty_marks;

-- Dropping a column a template names: the write does not fail, the template
-- contributes its prefix (with a warning), and the next watch() fails.
CREATE TABLE fragile (id int PRIMARY KEY, team_id int);
SELECT strata.watch('fragile', ARRAY['f:{id}', 'f:team:{team_id}:x']);
ALTER TABLE fragile DROP COLUMN team_id;
SELECT reset_outbox();
INSERT INTO fragile VALUES (1);
SELECT * FROM outbox;
SELECT strata.watch('fragile', ARRAY['f:{id}', 'f:team:{team_id}:x']);

-- Dropping a watched table forgets its rules.
SELECT count(*) FROM strata.watches WHERE tbl = 'fragile'::regclass;
DROP TABLE fragile;
SELECT count(*) FROM strata.watches WHERE tbl::oid NOT IN (SELECT oid FROM pg_class);
