-- 0010_subscriber_role.sql: strata_subscriber reads the outbox and the consumer cursors,
-- and nothing else of strata's.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
begin;
select plan(9);

select ok(exists (select 1 from pg_roles where rolname = 'strata_subscriber' and not rolcanlogin), 'strata_subscriber exists, NOLOGIN');
select ok(has_schema_privilege('strata_subscriber', 'strata', 'usage'), 'USAGE on schema strata');
select ok(has_table_privilege('strata_subscriber', 'strata.change_log', 'select'), 'SELECT on the outbox');
select ok(has_table_privilege('strata_subscriber', 'strata.consumer_offsets', 'select'), 'SELECT on the consumer cursors');
select ok(not has_table_privilege('strata_subscriber', 'strata.change_log', 'delete,insert,update,truncate'), 'no writes to the outbox');
select ok(not has_table_privilege('strata_subscriber', 'strata.consumer_offsets', 'insert,update,delete'), 'no cursor of its own');
select ok(not has_table_privilege('strata_subscriber', 'strata.dirty_marks', 'select'), 'not the dirty marks');
select ok(not has_function_privilege('strata_subscriber', 'strata.check_access(bigint, text, bigint, text)', 'execute'), 'not the lookups');
select ok(to_regprocedure('strata.ack_wakeup()') is null
          or not has_function_privilege('strata_subscriber', 'strata.ack_wakeup()', 'execute'), 'cannot acknowledge the worker''s wake-ups');

select * from finish();
rollback;
