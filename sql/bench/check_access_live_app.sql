-- pgbench script (scripts/bench-l3.sh). Variables (-D): users, teams, projects, mpt (members per team).
-- A random member u of a random team t, and a random project p owned by t (seed.sql layout).
\set t random(1, :teams)
\set k random(0, :mpt - 1)
\set u 1 + (:t * 104729 + :k * 7919) % :users
\set j random(0, :projects / (2 * :teams) - 1)
\set p 2 * (:t + :teams * :j)
-- The same question as an application would write it over the base tables, without the
-- rule views: the project row by primary key, then its owner, public visibility (read), the
-- user's membership in the owning team (primary key probe; private team projects only for
-- owners and admins; the role's actions from authz.role_actions), or an explicit grant
-- (unique index probe). Same answers as check_access for projects (tests/sql/08_fast_path.sql).
select exists (
    select 1 from authz.projects p
     where p.id = :p
       and (p.owner_user_id = :u
            or p.visibility = 'public'
            or exists (select 1 from authz.team_members m
                        where m.team_id = p.owner_team_id and m.user_id = :u
                          and (p.visibility <> 'private' or m.role in ('owner', 'admin'))
                          and 'read' = any (authz.role_actions('project', m.role)))
            or exists (select 1 from authz.grants g
                        where g.user_id = :u and g.resource_type = 'project' and g.resource_id = p.id
                          and g.action = 'read')));
