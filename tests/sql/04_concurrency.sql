-- Concurrency, with real commits and other sessions (dblink):
--  * one refresh per view at a time (a second caller is told 'skipped', never blocked);
--  * a refresh clears only the marks it covered: a mark committed while it runs stays;
--  * a burst of 10,000 changes in 100 transactions needs one refresh.
-- Runs outside a transaction (its data is committed; the next fixture replaces it).
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\ir _fixture.psql
select plan(26);
select is((select count(*) from strata.refresh_view(v.name) r where r.outcome = 'ok'), 1::bigint, 'initial refresh ' || v.name)
  from strata.views v order by v.name;

create function pg_temp.connstr() returns text language sql as
$$ select format('dbname=%s host=127.0.0.1 port=%s user=postgres', current_database(), current_setting('port')) $$;
-- wait until the session with pid p waits for a lock (at most 10 s)
create function pg_temp.wait_blocked(p integer) returns boolean language plpgsql as $$
begin
    for i in 1 .. 200 loop
        if exists (select 1 from pg_stat_activity where pid = p and wait_event_type = 'Lock') then return true; end if;
        perform pg_sleep(0.05);
    end loop;
    return false;
end $$;
select dblink_connect('writer', pg_temp.connstr());
select dblink_connect('refresher', pg_temp.connstr());
select dblink_connect('other', pg_temp.connstr());

-- 1. A committed change before the refresh (covered) ...
delete from authz.team_members where team_id = 10 and user_id = 4;
-- ... and a change that commits while the refresh runs: the writer changes a membership,
-- then holds a lock the refresh's query needs, so the refresh starts (snapshot taken,
-- view lock held) and waits; the writer commits in the middle of it.
select dblink_exec('writer', 'begin');
select dblink_exec('writer', 'delete from authz.team_members where team_id = 10 and user_id = 5');
select dblink_exec('writer', 'lock table authz.grants in access exclusive mode');
select ok(exists (select 1 from strata.dirty_marks where mark = 'uac:user:4'), 'committed change left mark uac:user:4');
select is((select count(*) from strata.dirty_marks where mark = 'uac:user:5'), 0::bigint, 'uncommitted mark uac:user:5 not visible yet');
create temp table pids as select (select p from dblink('refresher', 'select pg_backend_pid()') as t(p integer)) as refresher;
select dblink_send_query('refresher', $$select outcome, marks_cleared from strata.refresh_view('mv_user_authorization_context')$$);
select ok(pg_temp.wait_blocked((select refresher from pids)), 'the refresh started and waits for the writer''s lock');

-- 2. While it runs: a second refresh of the same view is skipped at once, from any session.
select is((select outcome from strata.refresh_view('mv_user_authorization_context')), 'skipped', 'second refresh of the view: skipped, not blocked');
select is((select outcome from dblink('other', $$select outcome from strata.refresh_view('mv_user_authorization_context')$$) as t(outcome text)),
          'skipped', 'from a third session: skipped too');
select is((select refreshing::text || '/' || reason || '/' || due from strata.refresh_candidates() where view_name = 'mv_user_authorization_context'),
          'true/running/false', 'candidates: running, not due');
select is((select outcome from strata.refresh_view('mv_generation_performance_stats')), 'ok', 'another view refreshes meanwhile');
select ok(strata.check_access(3, 'project', 103, 'write'), 'readers are not blocked by the running refresh');

-- 3. The writer commits in the middle of the refresh; the refresh completes.
select dblink_exec('writer', 'commit');
create temp table res as select * from dblink_get_result('refresher') as t(outcome text, marks_cleared bigint);
select is((select outcome from res), 'ok', 'the refresh completed');
select ok(not exists (select 1 from strata.dirty_marks where mark = 'uac:user:4'), 'mark committed before the refresh: cleared');
select ok(exists (select 1 from strata.dirty_marks where mark = 'uac:user:5'), 'mark committed during the refresh: kept');
select is(strata.check_access(5, 'project', 103, 'read'), false, 'the change committed during the refresh is answered');
select is((select answered_from from strata.allowed_actions(5, 'project', 103)), 'live', '... from the base tables');
select is(strata.check_access(4, 'project', 103, 'read'), false, 'the covered change is answered ...');
select is((select answered_from from strata.allowed_actions(4, 'project', 103)), 'view', '... from the view');
select is((select outcome from strata.refresh_view('mv_user_authorization_context')), 'ok', 'the next refresh');
select ok(not exists (select 1 from strata.dirty_marks where mark like 'uac:%'), 'clears the remaining mark');
select is((select answered_from || '/' || cardinality(actions) from strata.allowed_actions(5, 'project', 103)), 'view/0', 'answered from the view now');

-- 4. A burst: 10,000 membership changes in 100 committed transactions.
insert into authz.users (id, name, email) select i, 'burst' || i, 'burst' || i || '@example.com' from generate_series(100001, 110000) i;
select is((select outcome from strata.refresh_view('mv_user_authorization_context')), 'ok', 'refresh after creating the burst users');
do $$
begin
    for b in 0 .. 99 loop
        insert into authz.team_members (team_id, user_id, role)
        select 10, i, 'viewer' from generate_series(100001 + b * 100, 100000 + (b + 1) * 100) i;
        commit;
    end loop;
end $$;
select ok((select dirty_marks >= 10000 and reason in ('waiting', 'dirty') from strata.refresh_candidates()
            where view_name = 'mv_user_authorization_context'),
          'after the burst: the view is dirty (10,000 marks), due once min_interval has passed');
select ok(strata.check_access(109999, 'team', 10, 'read') and strata.check_access(100001, 'project', 103, 'read'),
          'burst members reach the team at once (base tables)');
select is((select outcome || '/' || (marks_cleared >= 10000)::text from strata.refresh_view('mv_user_authorization_context')),
          'ok/true', 'one refresh covers the whole burst');
select is((select reason || '/' || due from strata.refresh_candidates() where view_name = 'mv_user_authorization_context'),
          'clean/false', 'after it the view is clean');

select dblink_disconnect(c) from unnest(array['writer', 'refresher', 'other']) c \g /dev/null
select * from finish();
