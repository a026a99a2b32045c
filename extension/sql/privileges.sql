-- The trigger writes the outbox for users who have no privileges on it.
\set VERBOSITY terse

CREATE ROLE regress_strata_writer;
CREATE ROLE regress_strata_owner;
CREATE TABLE secrets (id int PRIMARY KEY, owner_id int);
INSERT INTO secrets VALUES (1, 1);
SELECT strata.watch('secrets', ARRAY['secret:{id}', 'owner:{owner_id}:*']);
GRANT UPDATE, SELECT ON secrets TO regress_strata_writer;

SELECT reset_outbox();
SET ROLE regress_strata_writer;
UPDATE secrets SET owner_id = 2 WHERE id = 1;
-- ... but cannot touch the outbox or call the privileged functions.
INSERT INTO strata.change_log (xid, op, keys) VALUES (pg_current_xact_id(), 'M', '{forged}');
SELECT * FROM strata.change_log;
DELETE FROM strata.change_log;
INSERT INTO strata.dirty_marks VALUES ('forged', 1, pg_current_xact_id());
SELECT strata.invalidate(ARRAY['forged']);
SELECT strata.watch('secrets');
SELECT strata.unwatch('secrets');
SELECT strata.ack_wakeup();
-- escape_segment() and render() are for everyone.
SELECT strata.escape_segment('a:b'), strata.render('k:{v}', ARRAY['v'], ARRAY['1']);
RESET ROLE;
SELECT * FROM outbox;

-- A search_path with the caller's objects first cannot redirect the trigger.
CREATE SCHEMA regress_evil;
CREATE FUNCTION regress_evil.unnest(text[]) RETURNS SETOF text LANGUAGE sql AS $$ SELECT 'evil'::text $$;
GRANT USAGE ON SCHEMA regress_evil TO regress_strata_writer;
SELECT strata.watch('secrets', ARRAY['secret:{id}'], marks => ARRAY['mv:secret:{id}']);
SELECT reset_outbox();
SET ROLE regress_strata_writer;
SET search_path = regress_evil, public;
UPDATE secrets SET owner_id = 3 WHERE id = 1;
RESET search_path;
RESET ROLE;
SELECT mark FROM strata.dirty_marks;

-- Granted EXECUTE on watch(), a role still needs TRIGGER on the table.
GRANT EXECUTE ON FUNCTION strata.watch(regclass, text[], text[], integer) TO regress_strata_writer;
GRANT EXECUTE ON FUNCTION strata.unwatch(regclass) TO regress_strata_writer;
SET ROLE regress_strata_writer;
SELECT strata.watch('secrets');
SELECT strata.unwatch('secrets');
RESET ROLE;
-- The table's owner may watch it (the rules are written as the extension's owner).
CREATE TABLE owned (id int PRIMARY KEY);
ALTER TABLE owned OWNER TO regress_strata_owner;
GRANT EXECUTE ON FUNCTION strata.watch(regclass, text[], text[], integer) TO regress_strata_owner;
GRANT EXECUTE ON FUNCTION strata.unwatch(regclass) TO regress_strata_owner;
SELECT reset_outbox();
SET ROLE regress_strata_owner;
SELECT strata.watch('owned');
INSERT INTO owned VALUES (1);
SELECT strata.unwatch('owned');
RESET ROLE;
SELECT * FROM outbox;

-- Clean up the roles (cluster-wide objects).
DROP TABLE owned, secrets;
DROP SCHEMA regress_evil CASCADE;
REVOKE ALL ON FUNCTION strata.watch(regclass, text[], text[], integer) FROM regress_strata_writer, regress_strata_owner;
REVOKE ALL ON FUNCTION strata.unwatch(regclass) FROM regress_strata_writer, regress_strata_owner;
DROP ROLE regress_strata_writer;
DROP ROLE regress_strata_owner;
