-- 0009_dirty_path.sql: check_access's dirty path answers projects and teams with the rules
-- written out for one (user, resource) instead of the generic rule view. It must give the
-- rule view's answer on every case: the fixture, and random data with every kind of edge
-- (user and team owners, every visibility and role, grants on teams and projects).
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
begin;
select plan(8);

-- random domain: 40 users, 6 teams, random memberships and roles, 30 projects with random
-- owners and visibilities, 60 random grants (setseed: the same data on every run)
delete from authz.users;
delete from authz.teams;
select setseed(0.42);
insert into authz.users (id, name, email) select i, 'u' || i, 'u' || i || '@example.com' from generate_series(1, 40) i;
insert into authz.teams (id, name) select i, 't' || i from generate_series(1, 6) i;
insert into authz.team_members (team_id, user_id, role)
select t, u, (enum_range(null::authz.team_role))[1 + floor(random() * 5)::int]
  from generate_series(1, 6) t cross join generate_series(1, 40) u
 where random() < 0.35;
insert into authz.projects (id, name, owner_user_id, owner_team_id, visibility)
select i, 'p' || i,
       case when user_owned then 1 + floor(random() * 40)::bigint end,
       case when not user_owned then 1 + floor(random() * 6)::bigint end,
       case when user_owned then (array['private', 'public'])[1 + floor(random() * 2)::int]
            else (array['private', 'team', 'public'])[1 + floor(random() * 3)::int] end::authz.visibility
  from (select i, random() < 0.3 as user_owned from generate_series(1, 30) i) x;
insert into authz.grants (user_id, team_id, project_id, action)
select distinct on (u, tm, pr, a) u, tm, pr, a
  from (select 1 + floor(random() * 40)::bigint as u,
               case when k then 1 + floor(random() * 6)::bigint end as tm,
               case when not k then 1 + floor(random() * 30)::bigint end as pr,
               (enum_range(null::authz.action))[1 + floor(random() * 6)::int] as a
          from (select random() < 0.4 as k from generate_series(1, 60)) g) x;

select cmp_ok((select count(distinct visibility) from authz.projects), '=', 3::bigint, 'random data: every visibility');
select cmp_ok((select count(distinct role) from authz.team_members), '=', 5::bigint, 'random data: every role');
select cmp_ok((select count(distinct resource_type) from authz.grants), '=', 2::bigint, 'random data: team and project grants');

-- every (user, team or project, action), with the rule view's answer
create temp table cases on commit drop as
select u, t, id, a, exists (select 1 from strata_private.authorization_edges e
                             where e.user_id in (u, case when t = 'team' then u else 0 end)
                               and e.resource_type = t::authz.resource_type and e.resource_id = id
                               and a::authz.action = any (e.actions)) as expected
  from generate_series(1, 41) u      -- 41: a user id with no rows at all
 cross join (select 'team' as t, x as id from generate_series(1, 7) x
             union all select 'project', x from generate_series(1, 31) x) r
 cross join unnest(enum_range(null::authz.action)::text[]) a;
select cmp_ok((select count(*) from cases where expected), '>', 500::bigint, 'many allowed cases');
select cmp_ok((select count(*) from cases where not expected), '>', 500::bigint, 'many denied cases');

-- the view is stale for all of it (never refreshed over this data): mark every user dirty,
-- then every resource, then only a prefix, and compare
insert into strata.dirty_marks (mark, seq, xid) select 'uac:user:' || u, 0, pg_current_xact_id() from generate_series(1, 41) u;
select is((select count(*) from cases where strata.check_access(u, t, id, a) is distinct from expected), 0::bigint,
          'every user dirty: the dirty path = the rule view on every case');
delete from strata.dirty_marks;
insert into strata.dirty_marks (mark, seq, xid)
select 'uac:' || t || ':' || id, 0, pg_current_xact_id() from (select distinct t, id from cases) x;
select is((select count(*) from cases where strata.check_access(u, t, id, a) is distinct from expected), 0::bigint,
          'every resource dirty: the dirty path = the rule view on every case');
delete from strata.dirty_marks;
insert into strata.dirty_marks (mark, seq, xid) values ('uac:*', 0, pg_current_xact_id());
select is((select count(*) from cases where strata.check_access(u, t, id, a) is distinct from expected), 0::bigint,
          'a collapsed transaction''s prefix mark: the dirty path = the rule view on every case');

select * from finish();
rollback;
