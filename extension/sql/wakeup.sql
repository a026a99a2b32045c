-- Wake-ups.  This suite runs with and without the library preloaded; the
-- preloaded behaviour is checked by the isolation spec wakeup_coalesce.
\set VERBOSITY terse

-- NULL without preloading, else the number of in-flight writers.
SELECT strata.ack_wakeup() IS NULL OR strata.ack_wakeup() >= 0 AS ok;

-- A transaction that wrote the outbox commits fine (its NOTIFY is queued at
-- pre-commit), and one that wrote nothing sends nothing.
CREATE TABLE pings (id int PRIMARY KEY);
SELECT strata.watch('pings');
INSERT INTO pings VALUES (1);
SELECT 1 AS nothing_written;

-- The coalescing window is a superuser setting.
SHOW strata.wakeup_coalesce_ms;
SET strata.wakeup_coalesce_ms = 0;
INSERT INTO pings VALUES (2);
RESET strata.wakeup_coalesce_ms;
CREATE ROLE regress_strata_user;
SET ROLE regress_strata_user;
SET strata.wakeup_coalesce_ms = 10;
RESET ROLE;
DROP ROLE regress_strata_user;

-- PREPARE TRANSACTION is not refused because of a wake-up (none is sent at
-- prepare); with max_prepared_transactions = 0 it fails for that reason only.
BEGIN;
INSERT INTO pings VALUES (3);
PREPARE TRANSACTION 'strata_regress';
SELECT count(*) FROM pings;

-- Dropping the extension is refused while tables are watched.
DROP EXTENSION strata;
