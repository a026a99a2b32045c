-- 0011_refresh_if_due.sql: refresh_view_if_due() refreshes only what refresh_candidates()
-- still calls due under the view's lock; refresh_view() keeps refreshing on demand.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\ir _fixture.psql
begin;
select plan(8);

-- a view that is dirty and past its min interval: due, refreshed
update strata.views set last_ended_at = now() - interval '1 hour' where name = 'mv_user_authorization_context';
select is((select due from strata.refresh_candidates() where view_name = 'mv_user_authorization_context'), true, 'dirty and past min_interval: due');
create temp table a on commit drop as select * from strata.refresh_view_if_due('mv_user_authorization_context');
select is((select outcome from a), 'ok', 'due: refreshed');
select is((select count(*) from strata.dirty_marks where mark like 'uac:%'), 0::bigint, 'its marks cleared');

-- what a second scheduler that decided from an older snapshot would call right after
create temp table b on commit drop as select * from strata.refresh_view_if_due('mv_user_authorization_context');
select is((select outcome from b), 'skipped', 'just refreshed and clean: skipped');
select ok((select error from b) like 'no longer due (clean)%', 'the reason says why: ' || (select error from b));
select is((select count(*) from strata.view_refreshes where view_name = 'mv_user_authorization_context' and outcome = 'ok' and started_at >= now()), 1::bigint,
          'no second refresh in the history');

-- dirty again but within min_interval: still skipped; refresh_view() refreshes anyway
insert into strata.dirty_marks (mark, seq, xid) values ('uac:user:1', 0, pg_current_xact_id());
select is((select outcome from strata.refresh_view_if_due('mv_user_authorization_context')), 'skipped', 'dirty within min_interval: skipped');
select is((select outcome from strata.refresh_view('mv_user_authorization_context')), 'ok', 'refresh_view() refreshes on demand');

select * from finish();
rollback;
