-- strata.next_xid(): the bound of the transactions that may still commit a missing seq.
-- It is above every assigned id, including ones at or above a snapshot's xmax (which a
-- snapshot treats as running without listing them).
\set VERBOSITY terse
SELECT extversion FROM pg_extension WHERE extname = 'strata';
SELECT strata.next_xid() >= pg_snapshot_xmax(pg_current_snapshot()) AS not_below_xmax;
BEGIN;
SELECT pg_current_xact_id() < strata.next_xid() AS above_own_xid;
COMMIT;
