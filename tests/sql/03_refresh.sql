-- refresh_view(): result, registry, history, failures with backoff, refresh_candidates().
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\ir _fixture.psql
begin;
select plan(42);

create temp table r on commit drop as select * from strata.refresh_view('mv_user_authorization_context');
select is((select outcome from r), 'ok', 'refresh_view returns outcome ok');
select is((select rows from r), (select count(*) from strata.mv_user_authorization_context), 'rows = rows in the view');
select ok((select marks_cleared from r) > 0, 'marks_cleared counts the committed fixture''s marks');
select ok((select duration from r) > interval '0' and (select error from r) is null, 'duration set, no error');
select is((select count(*) from strata.dirty_marks where mark like 'uac:%'), 0::bigint, 'uac marks cleared');
select ok((select count(*) from strata.dirty_marks where mark like 'tcp:%') > 0, 'other views'' marks untouched');
select is((select last_outcome || '/' || last_rows || '/' || last_marks_cleared || '/' || failures
             from strata.views where name = 'mv_user_authorization_context'),
          (select 'ok/' || rows || '/' || marks_cleared || '/0' from r), 'registry records the last refresh');
select is((select count(*) from strata.view_refreshes where view_name = 'mv_user_authorization_context' and outcome = 'ok'
              and rows = (select rows from r) and marks_cleared = (select marks_cleared from r)), 1::bigint,
          'history records the refresh');
select is((select outcome from strata.refresh_view('strata.mv_team_collaboration_patterns')), 'ok', 'schema-qualified name accepted');
select is((select outcome from strata.refresh_view('mv_generation_performance_stats')), 'ok', 'third view refreshes');

-- candidates: all just refreshed and clean
select is((select count(*) from strata.refresh_candidates() where not due and reason = 'clean' and dirty_marks = 0), 3::bigint,
          'candidates: three clean views, none due');
select ok((select bool_and(next_due_at = last_ended_at + periodic_interval) from strata.refresh_candidates()),
          'candidates: clean views are due again after their periodic interval');
select is((select periodic_interval from strata.views where name = 'mv_generation_performance_stats'), interval '15 minutes',
          'default periodic interval 15 minutes');

-- periodic
update strata.views set last_ended_at = now() - interval '16 minutes' where name = 'mv_generation_performance_stats';
select is((select reason || '/' || due || '/' || priority from strata.refresh_candidates() where view_name = 'mv_generation_performance_stats'),
          'periodic/true/4', 'untouched view past its periodic interval: due, reason periodic');

-- dirty, but within min_interval of the last refresh: waiting
insert into authz.team_members (team_id, user_id, role) values (10, 8, 'viewer');
select is((select reason || '/' || due from strata.refresh_candidates() where view_name = 'mv_user_authorization_context'),
          'waiting/false', 'dirty within min_interval: waiting');
select ok((select next_due_at = last_ended_at + min_interval from strata.refresh_candidates() where view_name = 'mv_user_authorization_context'),
          'waiting: next_due_at = last refresh end + min_interval');
select is((select dirty_marks from strata.refresh_candidates() where view_name = 'mv_user_authorization_context'), 1::bigint,
          'candidates count the dirty marks');
update strata.views set last_ended_at = now() - interval '6 seconds' where name = 'mv_user_authorization_context';
select is((select reason || '/' || due || '/' || priority from strata.refresh_candidates() where view_name = 'mv_user_authorization_context'),
          'dirty/true/2', 'dirty past min_interval: due, reason dirty');
-- dirty longer than max_staleness: refreshed next (first in the list)
update strata.dirty_marks set created_at = now() - interval '2 minutes' where mark = 'tcp:team:10';
update strata.views set last_ended_at = now() where name = 'mv_team_collaboration_patterns';
select is((select view_name || '/' || reason || '/' || priority from strata.refresh_candidates() limit 1),
          'mv_team_collaboration_patterns/max_staleness/1', 'dirty longer than max_staleness: first, even within min_interval');

-- a failing refresh: recorded, retried with backoff, marks kept
revoke select on authz.generations from strata_definer;
create temp table f on commit drop as select * from strata.refresh_view('mv_generation_performance_stats');
select is((select outcome from f), 'failed', 'failing refresh returns outcome failed');
select matches((select error from f), 'permission denied', 'the error text is returned');
select is((select failures from strata.views where name = 'mv_generation_performance_stats'), 1, 'registry counts the failure');
select ok((select next_retry_at between now() + interval '4 seconds' and clock_timestamp() + interval '6 seconds'
             from strata.views where name = 'mv_generation_performance_stats'), 'first retry after retry_base (5 s)');
select is((select count(*) from strata.view_refreshes where view_name = 'mv_generation_performance_stats' and outcome = 'failed'
              and error ~ 'permission denied'), 1::bigint, 'history records the failure');
select is((select reason || '/' || due from strata.refresh_candidates() where view_name = 'mv_generation_performance_stats'),
          'backoff/false', 'candidates: in backoff, not due');
select ok((select next_due_at = next_retry_at from strata.refresh_candidates() where view_name = 'mv_generation_performance_stats'),
          'backoff: next_due_at = next_retry_at');
update strata.views set next_retry_at = now() - interval '1 second', last_ended_at = now() where name = 'mv_generation_performance_stats';
select is((select reason || '/' || due || '/' || priority from strata.refresh_candidates() where view_name = 'mv_generation_performance_stats'),
          'retry/true/3', 'backoff over: due, reason retry');
select ok((select d between interval '9 seconds' and interval '11 seconds'
             from (select strata.record_refresh_failure('mv_generation_performance_stats', 'statement timeout') - clock_timestamp() as d
                    offset 0) x), 'second failure: backoff doubles (10 s)');
update strata.views set failures = 20 where name = 'mv_generation_performance_stats';
select ok((select d between interval '4 minutes 59 seconds' and interval '5 minutes'
             from (select strata.record_refresh_failure('mv_generation_performance_stats', 'again') - clock_timestamp() as d
                    offset 0) x), 'backoff is capped at retry_max (5 min)');
grant select on authz.generations to strata_definer;
select is((select outcome from strata.refresh_view('mv_generation_performance_stats')), 'ok', 'retry succeeds');
select is((select failures::text || coalesce(next_retry_at::text, '-') || coalesce(last_error, '-')
             from strata.views where name = 'mv_generation_performance_stats'), '0--', 'success resets failures and backoff');

-- a failed refresh keeps the view and the marks
revoke select on authz.grants from strata_definer;
select is((select outcome from strata.refresh_view('mv_user_authorization_context')), 'failed', 'uac refresh fails');
select is((select count(*) from strata.dirty_marks where mark like 'uac:%'), 1::bigint, 'failed refresh kept the marks');
grant select on authz.grants to strata_definer;
select ok(strata.check_access(8, 'project', 103, 'read'), 'lookups still right after a failed refresh');

-- errors and history retention
select throws_ok($$select * from strata.refresh_view('mv_nope')$$, '22023', 'unknown view "mv_nope"', 'unknown view: clear error');
select throws_ok($$select * from strata.refresh_view(null)$$, '22023', 'view name must not be NULL', 'NULL view: clear error');
select throws_ok($$select strata.record_refresh_failure('mv_nope', 'x')$$, '22023', 'unknown view "mv_nope"', 'record_refresh_failure: unknown view');
select throws_ok($$select strata.record_refresh_failure('mv_user_authorization_context', null)$$, '22023',
                 'error text must not be empty', 'record_refresh_failure: error text required');
select is(strata.prune_refresh_history('1 hour'), 0::bigint, 'prune_refresh_history keeps recent history');
update strata.view_refreshes set started_at = now() - interval '31 days' where view_name = 'mv_generation_performance_stats';
select ok(strata.prune_refresh_history() >= 3, 'prune_refresh_history drops history older than 30 days');
select is((select count(*) from strata.view_refreshes where view_name = 'mv_generation_performance_stats'), 0::bigint, 'old history gone');
select throws_ok($$select strata.prune_refresh_history('-1 day')$$, '22023', null, 'prune_refresh_history: negative keep rejected');

select * from finish();
rollback;
