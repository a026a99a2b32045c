-- 0008_lookup_fast_path.sql: the cheaper check_access, argument checks and dirty checks give
-- the same answers and the same errors as before; prefix marks (collapsed or truncating
-- transactions) still send a lookup to the base tables.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
-- the fixture is committed (a refresh clears only marks of committed transactions)
\ir _fixture.psql
begin;
select plan(48);

create function pg_temp.hint_of(q text) returns text language plpgsql as $$
declare h text;
begin
    execute q;
    return '(no error)';
exception when others then
    get stacked diagnostics h = pg_exception_hint;
    return h;
end $$;

create function pg_temp.plan_of(q text) returns text language plpgsql as $$
declare l text; r text := '';
begin
    for l in execute 'explain (costs off) ' || q loop r := r || l || ' '; end loop;
    return r;
end $$;

-- every (user, resource, action) of the fixture, and the rules' answer (the live aggregate)
create temp table cases on commit drop as
select u, t, id, a, exists (select 1 from strata_private.authorization_live l
                             where l.user_id in (u, case when t = 'team' then u else 0 end)
                               and l.resource_type = t::authz.resource_type and l.resource_id = id
                               and a::authz.action = any (l.actions)) as expected
  from unnest(array[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 424242]::bigint[]) u
 cross join (select 'team' as t, x as id from unnest(array[10, 20, 424242]::bigint[]) x
             union all select 'project', x from unnest(array[101, 102, 103, 104, 105, 106, 424242]::bigint[]) x) r
 cross join unnest(enum_range(null::authz.action)::text[]) a;
-- generations: what strata_private.access (unchanged since 0005) says
insert into cases
select u, 'generation', id, a, a::authz.action = any ((strata_private.access(u, 'generation', id)).actions)
  from unnest(array[0, 1, 3, 4, 5, 6, 7, 8, 424242]::bigint[]) u
 cross join unnest(array[1001, 1002, 1003, 1004, 424242]::bigint[]) id
 cross join unnest(enum_range(null::authz.action)::text[]) a;

-- the constant sets of the argument checks are exactly the enums
select is(array(select strata_private.parse_action(x)::text from unnest(enum_range(null::authz.action)::text[]) x),
          enum_range(null::authz.action)::text[], 'parse_action accepts every authz.action label');
select is(array(select strata_private.parse_resource_type(x)::text from unnest(enum_range(null::authz.resource_type)::text[]) x),
          enum_range(null::authz.resource_type)::text[], 'parse_resource_type accepts every authz.resource_type label');
select is((select count(*) from cases where strata.check_access(1, t, 103, a) is null), 0::bigint,
          'check_access accepts every action with every resource type');

-- same errors, in the same order (type, action, user, resource), same hints
select throws_ok($$select strata.check_access(null, 'folder', null, 'frobnicate')$$, '22023', 'unknown resource type "folder"', 'type checked first');
select throws_ok($$select strata.check_access(null, 'project', null, 'frobnicate')$$, '22023', 'unknown action "frobnicate"', 'then the action');
select throws_ok($$select strata.check_access(null, 'team', null, 'read')$$, '22023', 'user_id must not be NULL', 'then the user');
select throws_ok($$select strata.check_access(1, 'generation', null, 'read')$$, '22023', 'resource_id must not be NULL', 'then the resource');
select throws_ok($$select strata.check_access(1, 'Project', 1, 'read')$$, '22023', 'unknown resource type "Project"', 'types are lower case');
select throws_ok($$select strata.check_access(1, 'project ', 1, 'read')$$, '22023', 'unknown resource type "project "', 'no trimming');
select throws_ok($$select strata.check_access(1, 'team', 1, '')$$, '22023', 'unknown action ""', 'empty action');
select is(pg_temp.hint_of($$select strata.check_access(1, null, 1, 'read')$$),
          'allowed resource types: team, project, generation', 'NULL type: hint');
select is(pg_temp.hint_of($$select strata.check_access(1, 'team', 1, null)$$),
          'allowed actions: read, create, write, delete, share, admin', 'NULL action: hint');
select is(pg_temp.hint_of($$select strata.check_access(1, 'team', 1, 'READ')$$),
          'allowed actions: read, create, write, delete, share, admin', 'unknown action: hint');
select throws_ok($$select * from strata.allowed_actions(1, 'folder', 1)$$, '22023', 'unknown resource type "folder"', 'allowed_actions: same type check');
select is(pg_temp.hint_of($$select * from strata.allowed_actions(1, 'folder', 1)$$),
          'allowed resource types: team, project, generation', 'allowed_actions: same hint');

-- authz.role_actions: inlinable now, same table as 0004 for every scope and role, NULL on NULL
select is((select string_agg(s || '/' || r || '=' || coalesce(authz.role_actions(s, r)::text, 'NULL'), ' ' order by s, r)
             from unnest(enum_range(null::authz.resource_type)) s cross join unnest(enum_range(null::authz.team_role)) r),
          'team/owner={read,write,delete,admin} team/admin={read,write,admin} team/editor={read} team/contributor={read} team/viewer={read} '
          || 'project/owner={read,create,write,delete,share,admin} project/admin={read,create,write,delete,share} '
          || 'project/editor={read,create,write} project/contributor={read,create} project/viewer={read} '
          || 'generation/owner=NULL generation/admin=NULL generation/editor=NULL generation/contributor=NULL generation/viewer=NULL',
          'role_actions: the 0004 table');
select is(authz.role_actions(null, 'owner') is null and authz.role_actions('team', null) is null, true, 'role_actions: NULL in, NULL out');
select ok(pg_temp.plan_of($$select 1 from authz.team_members m where 'read' = any (authz.role_actions('project', m.role))$$) !~ 'role_actions',
          'role_actions is inlined into the rule queries');

-- the partial index of prefix marks exists and the lookups' prefix probe can use it
select is((select pg_get_expr(i.indpred, i.indrelid) from pg_index i
            where i.indexrelid = 'strata.dirty_marks_prefix_idx'::regclass), '(mark ~~ ''%*''::text)',
          'dirty_marks_prefix_idx holds only marks ending in *');
set local enable_seqscan = off;
select ok(pg_temp.plan_of($$select 1 from strata.dirty_marks m where m.mark like '%*'
                             and m.mark = any ('{*,uac:*,uac:user:*,uac:project:*}'::text[])$$) ~ 'dirty_marks_prefix_idx',
          'the prefix probe can use dirty_marks_prefix_idx');
reset enable_seqscan;

-- clean: every case through the view; dirty (every entity marked): every case live
select is((select count(*) from strata.refresh_view(v.name) r where r.outcome = 'ok'), 1::bigint, 'refresh ' || v.name)
  from strata.views v order by v.name;
select is((select count(*) from strata.dirty_marks), 0::bigint, 'all views clean');
select is((select count(*) from cases where strata.check_access(u, t, id, a) is distinct from expected), 0::bigint,
          'clean: check_access = the rules for every user, resource and action');
select is((select count(*) from cases where t = 'project' and expected is distinct from exists (
             select 1 from authz.projects p
              where p.id = cases.id
                and (p.owner_user_id = cases.u or (p.visibility = 'public' and cases.a = 'read')
                     or exists (select 1 from authz.team_members m
                                 where m.team_id = p.owner_team_id and m.user_id = cases.u
                                   and (p.visibility <> 'private' or m.role in ('owner', 'admin'))
                                   and cases.a::authz.action = any (authz.role_actions('project', m.role)))
                     or exists (select 1 from authz.grants g
                                 where g.user_id = cases.u and g.resource_type = 'project' and g.resource_id = p.id
                                   and g.action = cases.a::authz.action)))), 0::bigint,
          'the benchmark''s hand-written live query (sql/bench/check_access_live_app.sql) = the rules, every project case');
insert into strata.dirty_marks (mark, seq, xid)
select 'uac:user:' || u, 0, pg_current_xact_id() from (select distinct u from cases) x;
select is((select count(*) from cases where strata.check_access(u, t, id, a) is distinct from expected), 0::bigint,
          'every user dirty: check_access = the rules for every case');
delete from strata.dirty_marks;
insert into strata.dirty_marks (mark, seq, xid)
select 'uac:' || t || ':' || id, 0, pg_current_xact_id() from (select distinct t, id from cases) x;
select is((select count(*) from cases where strata.check_access(u, t, id, a) is distinct from expected), 0::bigint,
          'every resource dirty: check_access = the rules for every case');
delete from strata.dirty_marks;

-- Stale view + only a prefix mark: the lookup must answer live. The changes are made, then
-- their exact marks removed, leaving what a collapsed / truncating transaction leaves.
delete from authz.team_members where team_id = 10 and user_id = 3;      -- carol loses team 10
update authz.projects set visibility = 'private' where id = 104;         -- 104 no longer public
delete from strata.dirty_marks;
select ok(strata.check_access(3, 'project', 103, 'write'), 'no mark at all: the (stale) view answers (what a mark prevents)');
select ok(strata.check_access(3, 'team', 10, 'read'), 'no mark at all: the (stale) view answers for the team too');

create function pg_temp.with_mark(p_mark text, p_user bigint, p_type text, p_id bigint, p_action text) returns boolean
language plpgsql as $$
declare r boolean;
begin
    insert into strata.dirty_marks (mark, seq, xid) values (p_mark, 0, pg_current_xact_id());
    r := strata.check_access(p_user, p_type, p_id, p_action);
    delete from strata.dirty_marks;
    return r;
end $$;
select is(pg_temp.with_mark('*', 3, 'project', 103, 'write'), false, 'mark *: project answered live');
select is(pg_temp.with_mark('uac:*', 3, 'project', 103, 'write'), false, 'mark uac:*: project answered live');
select is(pg_temp.with_mark('uac:user:*', 3, 'project', 103, 'write'), false, 'mark uac:user:*: project answered live');
select is(pg_temp.with_mark('uac:project:*', 3, 'project', 103, 'write'), false, 'mark uac:project:*: project answered live');
select is(pg_temp.with_mark('uac:project:*', 0, 'project', 104, 'read'), false, 'mark uac:project:*: anonymous, 104 no longer public');
select is(pg_temp.with_mark('uac:user:3', 3, 'project', 103, 'write'), false, 'exact mark uac:user:3: answered live');
select is(pg_temp.with_mark('uac:project:104', 0, 'project', 104, 'read'), false, 'exact mark uac:project:104: answered live');
select is(pg_temp.with_mark('*', 3, 'team', 10, 'read'), false, 'mark *: team answered live');
select is(pg_temp.with_mark('uac:*', 3, 'team', 10, 'read'), false, 'mark uac:*: team answered live');
select is(pg_temp.with_mark('uac:user:*', 3, 'team', 10, 'read'), false, 'mark uac:user:*: team answered live');
select is(pg_temp.with_mark('uac:team:*', 3, 'team', 10, 'read'), false, 'mark uac:team:*: team answered live');
-- marks of other views or other types do not send the lookup to the base tables
select is(pg_temp.with_mark('tcp:*', 3, 'project', 103, 'write'), true, 'mark tcp:* is not an authorization mark');
select is(pg_temp.with_mark('uac:team:*', 3, 'project', 103, 'write'), true, 'mark uac:team:* does not cover projects');
select is(pg_temp.with_mark('uac:project:*', 3, 'team', 10, 'read'), true, 'mark uac:project:* does not cover teams');

-- the shared dirty check (allowed_actions, generations) with prefix marks only
insert into strata.dirty_marks (mark, seq, xid) values ('uac:user:*', 0, pg_current_xact_id());
select is((select answered_from || ' ' || array_to_string(actions, ',') from strata.allowed_actions(3, 'project', 103)), 'live ',
          'allowed_actions: prefix mark uac:user:*: live, no actions');
select is(strata.check_access(5, 'generation', 1001, 'read'), true, 'generation via its project, prefix mark: live answer');
delete from strata.dirty_marks;
insert into strata.dirty_marks (mark, seq, xid) values ('gps:user:3:*', 0, pg_current_xact_id());
select is((select answered_from from strata.generation_stats(3, 103)), 'live', 'generation_stats: prefix mark gps:user:3:* answered live');
delete from strata.dirty_marks;
insert into strata.dirty_marks (mark, seq, xid) values ('tcp:project:*', 0, pg_current_xact_id());
select is((select answered_from from strata.team_collaboration(10)), 'live', 'team_collaboration: prefix mark tcp:project:* answered live');
delete from strata.dirty_marks;

select * from finish();
rollback;
