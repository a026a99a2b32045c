-- Never stale: every kind of rule change is answered correctly before any refresh, from the
-- base tables, while the view still holds the old answer; a refresh brings the view up.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
-- the fixture is committed (a refresh clears only marks of committed transactions)
\ir _fixture.psql
begin;
select plan(45);

select is((select count(*) from strata.refresh_view(v.name) r where r.outcome = 'ok'), 1::bigint, 'refresh ' || v.name)
  from strata.views v order by v.name;
select is((select count(*) from strata.dirty_marks), 0::bigint, 'all views clean');
select is((select answered_from from strata.allowed_actions(3, 'project', 103)), 'view', 'clean: answered from the view');
select ok(strata.check_access(3, 'project', 103, 'write'), 'carol (editor) may write project 103');

-- THE PROOF: revoke a membership, ask before any refresh.
delete from authz.team_members where team_id = 10 and user_id = 3;
select is(strata.check_access(3, 'project', 103, 'write'), false, 'membership revoked: check_access false before any refresh');
select is(strata.check_access(3, 'project', 103, 'read'), false, 'membership revoked: no read either');
select is(strata.check_access(3, 'team', 10, 'read'), false, 'membership revoked: team no longer readable');
select is((select answered_from from strata.allowed_actions(3, 'project', 103)), 'live', 'dirty: answered from the base tables');
select ok((select 'write' = any (actions::text[]) from strata.mv_user_authorization_context
            where user_id = 3 and resource_type = 'project' and resource_id = 103),
          'the view itself still says carol may write (it is stale; the answer is not)');
select ok(exists (select 1 from strata.dirty_marks where mark = 'uac:user:3'), 'the trigger wrote mark uac:user:3 in the same transaction');
select is((select count(*) from strata.user_authorization_context(3) where resource_id in (10, 103, 104)), 0::bigint,
          'user context of carol: team 10 and its projects gone');
select is((select min(answered_from) from strata.user_authorization_context(5)), 'view', 'other users stay on the view');
-- the generation carol created stays hers (creator = owner, read live)
select ok(strata.check_access(3, 'generation', 1001, 'delete'), 'carol still owns her generation 1001');
select is(strata.check_access(5, 'generation', 1001, 'read'), true, 'erin reads generation 1001 through project 103');

-- role change
update authz.team_members set role = 'editor' where team_id = 10 and user_id = 5;
select ok(strata.check_access(5, 'project', 103, 'write'), 'role viewer -> editor: write at once');
-- grant added and revoked
insert into authz.grants (user_id, project_id, action) values (8, 103, 'share');
select ok(strata.check_access(8, 'project', 103, 'share'), 'grant added: allowed at once');
delete from authz.grants where user_id = 7 and project_id = 102;
select is(strata.check_access(7, 'project', 102, 'write'), false, 'grant revoked: denied at once');
select is(strata.check_access(7, 'generation', 1004, 'write'), false, 'grant revoked: generation in the project denied too');
-- visibility change (project-wide: every user at once)
update authz.projects set visibility = 'private' where id = 104;
select is(strata.check_access(8, 'project', 104, 'read'), false, 'public -> private: outsider denied at once');
select is(strata.check_access(0, 'project', 104, 'read'), false, 'public -> private: anonymous denied at once');
select is(strata.check_access(5, 'project', 104, 'read'), false, 'public -> private: team viewer... now editor, still not owner/admin: denied');
select ok(strata.check_access(2, 'project', 104, 'share'), 'public -> private: team admin keeps access');
select is((select count(*) from strata.user_authorization_context(8, p_include_public => true) where resource_id = 104), 0::bigint,
          'public -> private: gone from the outsider''s context with public projects');
update authz.projects set visibility = 'public' where id = 101;
select ok(strata.check_access(8, 'project', 101, 'read'), 'private -> public: readable at once');
-- ownership moves
update authz.projects set owner_team_id = 20 where id = 103;
select ok(strata.check_access(9, 'project', 103, 'read'), 'project moved to team 20: its viewer reads');
select is(strata.check_access(1, 'project', 103, 'read'), false, 'project moved away from team 10: its owner lost access');
update authz.projects set owner_user_id = 8, owner_team_id = null, visibility = 'private' where id = 106;
select ok(strata.check_access(8, 'project', 106, 'admin'), 'project handed to a user: new owner has every action');
select is(strata.check_access(9, 'project', 106, 'read'), false, 'project handed to a user: old team lost access');
-- deletions cascade, their rows write the marks
delete from authz.teams where id = 20;
select is(strata.check_access(9, 'team', 20, 'read'), false, 'team deleted: its member lost it');
select is(strata.check_access(9, 'project', 103, 'read'), false, 'team deleted: its projects are gone');
delete from authz.users where id = 6;
select is(strata.check_access(6, 'project', 105, 'read'), false, 'user deleted: owned project gone');
select is(strata.check_access(7, 'generation', 1003, 'read'), false, 'user deleted: generation and grant gone');

-- The other views: dirty entities from the base tables.
insert into authz.generations (id, user_id, project_id, status, created_at, completed_at)
values (2001, 4, 104, 'succeeded', now() - interval '1 minute', now());
select is((select generations from strata.generation_stats(4, 104)), 1::bigint, 'generation_stats sees a new generation at once');
select is((select answered_from from strata.generation_stats(4, 104)), 'live', 'generation_stats: dirty -> base tables');
select is((select answered_from from strata.generation_stats(3, 102)), 'view', 'generation_stats: other pairs stay on the view');
select is((select generations_7d from strata.team_collaboration(10)), 2::bigint, 'team_collaboration sees the new generation at once');
select is((select answered_from from strata.team_collaboration(10)), 'live', 'team_collaboration: dirty -> base tables');
select is((select generations_7d from strata.mv_team_collaboration_patterns where team_id = 10), 3::bigint,
          'team_collaboration view still has the old count (1001, 1002, 1004)');

-- A refresh inside this (uncommitted) transaction sees its changes but keeps its marks:
-- they are cleared only by a refresh that starts after the commit (04_concurrency.sql).
select is((select count(*) from strata.refresh_view(v.name) r where r.outcome = 'ok'), 1::bigint, 'refresh again ' || v.name)
  from strata.views v order by v.name;
select is(strata.check_access(3, 'project', 103, 'write') or strata.check_access(7, 'project', 102, 'write')
          or strata.check_access(8, 'project', 104, 'read'),
          false, 'after refresh: the same answers');
select ok(exists (select 1 from strata.dirty_marks where mark = 'uac:user:3'), 'marks of an uncommitted transaction survive a refresh');

select * from finish();
rollback;
