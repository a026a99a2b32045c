-- Seed generator for the reference authorization domain (authz.*), deterministic and
-- set-based. Sizes are psql variables (defaults = the benchmark size):
--   psql -X -v ON_ERROR_STOP=1 -f sql/seed.sql                                   # full size
--   psql -X -v ON_ERROR_STOP=1 -v users=1000 -v teams=100 -v memberships=10000 \
--        -v projects=400 -v generations=20000 -v grants=1000 -f sql/seed.sql     # demo size
-- Variables: users (100000), teams (10000), memberships (1000000; at most teams*users,
-- spread evenly: memberships/teams per team), projects (20000; even ids team-owned,
-- odd ids user-owned), generations (2000000, created over the last 90 days), grants
-- (100000), seed (0.42).
-- Replaces all authz rows. Runs as a superuser: the capture triggers and FK checks are
-- off while loading (session_replication_role = replica) — no outbox rows are written —
-- and the views are refreshed at the end, so the loaded state is clean.
--
-- Shapes the benchmarks rely on (sql/bench/*.sql compute ids the same way):
--   member k (0-based) of team t:   user 1 + (t * 104729 + k * 7919) % users
--     k = 0 is the team's owner, k = 1, 2 admins, the rest editor / contributor / viewer
--   team-owned project i (even):    team 1 + (i / 2 - 1) % teams
\if :{?users}       \else \set users 100000 \endif
\if :{?teams}       \else \set teams 10000 \endif
\if :{?memberships} \else \set memberships 1000000 \endif
\if :{?projects}    \else \set projects 20000 \endif
\if :{?generations} \else \set generations 2000000 \endif
\if :{?grants}      \else \set grants 100000 \endif
\if :{?seed}        \else \set seed 0.42 \endif
\set ON_ERROR_STOP 1
\timing on

select (:memberships::bigint <= :teams::bigint * :users::bigint and :memberships >= :teams) as sizes_ok \gset
\if :sizes_ok
\else
    \echo 'memberships must be between teams and teams * users'
    \quit
\endif

set session_replication_role = replica;
set max_parallel_workers_per_gather = 0;   -- one process: random() after setseed() is deterministic
set synchronous_commit = off;
set maintenance_work_mem = '256MB';
set work_mem = '64MB';
select setseed(:seed);

truncate authz.grants, authz.generations, authz.projects, authz.team_members, authz.teams, authz.users;
delete from strata.dirty_marks where mark ~ '^(uac|tcp|gps):';

\echo users
insert into authz.users (id, name, email, created_at)
select i, 'user ' || i, 'user' || i || '@example.com', now() - (i % 1000) * interval '1 day'
  from generate_series(1, :users) i;

\echo teams
insert into authz.teams (id, name, created_at)
select i, 'team ' || i, now() - (i % 1000) * interval '1 day'
  from generate_series(1, :teams) i;

\echo memberships
insert into authz.team_members (team_id, user_id, role, joined_at)
select t, 1 + (t::bigint * 104729 + k::bigint * 7919) % :users,
       case when k = 0 then 'owner'
            when k <= 2 then 'admin'
            else (array['editor', 'editor', 'editor', 'contributor', 'contributor', 'contributor',
                        'viewer', 'viewer', 'viewer', 'viewer'])[1 + floor(random() * 10)::int]
       end::authz.team_role,
       now() - random() * interval '365 days'
  from (select 1 + (i - 1) % :teams as t, (i - 1) / :teams as k from generate_series(1, :memberships) i) m;

\echo projects
insert into authz.projects (id, name, owner_user_id, owner_team_id, visibility, created_at)
select i, 'project ' || i,
       case when i % 2 = 1 then 1 + (i::bigint * 2654435761) % :users end,
       case when i % 2 = 0 then 1 + (i / 2 - 1) % :teams end,
       case when i % 2 = 1 then (case when r < 0.8 then 'private' else 'public' end)
            else (case when r < 0.2 then 'private' when r < 0.85 then 'team' else 'public' end) end::authz.visibility,
       now() - random() * interval '365 days'
  from (select i, random() as r from generate_series(1, :projects) i) p;

\echo generations
insert into authz.generations (id, user_id, project_id, status, created_at, started_at, completed_at, size_bytes)
select g.id,
       coalesce(p.owner_user_id,
                1 + (p.owner_team_id * 104729 + floor(g.r1 * (:memberships / :teams))::bigint * 7919) % :users),
       g.project_id, g.status, g.created_at,
       case when g.status <> 'queued' then g.created_at + g.queue_ms * interval '1 ms' end,
       case when g.status in ('succeeded', 'failed', 'canceled')
            then g.created_at + (g.queue_ms + g.run_ms) * interval '1 ms' end,
       case when g.status = 'succeeded' then (50000 + g.r2 * 5000000)::bigint end
  from (select i as id,
               1 + floor(random() * :projects)::bigint as project_id,
               random() as r1, random() as r2,
               now() - random() * interval '90 days' as created_at,
               (case when s < 0.85 then 'succeeded' when s < 0.90 then 'failed' when s < 0.93 then 'canceled'
                     when s < 0.97 then 'running' else 'queued' end)::authz.generation_status as status,
               floor(random() * 2000)::int as queue_ms,
               floor(200 + exp(random() * 5) * 150)::int as run_ms   -- 0.35 s .. 22 s, skewed low
          from (select i, random() as s from generate_series(1, :generations) i) x) g
  join authz.projects p on p.id = g.project_id;

\echo grants
insert into authz.grants (user_id, team_id, project_id, generation_id, action, granted_at)
select 1 + floor(random() * :users)::bigint,
       case when k = 0 then 1 + floor(r * :teams)::bigint end,
       case when k = 1 then 1 + floor(r * :projects)::bigint end,
       case when k = 2 then 1 + floor(r * :generations)::bigint end,
       (array['read', 'read', 'read', 'write', 'share', 'create'])[1 + floor(random() * 6)::int]::authz.action,
       now() - random() * interval '180 days'
  from (select case when random() < 0.1 then 0 when random() < 0.78 then 1 else 2 end as k, random() as r
          from generate_series(1, :grants)) x
on conflict do nothing;

reset session_replication_role;
\echo analyze
analyze authz.users, authz.teams, authz.team_members, authz.projects, authz.generations, authz.grants;

\echo refresh views
refresh materialized view strata.mv_user_authorization_context;
refresh materialized view strata.mv_team_collaboration_patterns;
refresh materialized view strata.mv_generation_performance_stats;
analyze strata.mv_user_authorization_context, strata.mv_team_collaboration_patterns, strata.mv_generation_performance_stats;
update strata.views set last_started_at = now(), last_ended_at = clock_timestamp(), last_outcome = 'ok',
       last_error = null, failures = 0, next_retry_at = null;

select (select count(*) from authz.users) as users, (select count(*) from authz.teams) as teams,
       (select count(*) from authz.team_members) as memberships, (select count(*) from authz.projects) as projects,
       (select count(*) from authz.generations) as generations, (select count(*) from authz.grants) as grants,
       (select count(*) from strata.mv_user_authorization_context) as uac_rows,
       (select count(*) from strata.mv_team_collaboration_patterns) as tcp_rows,
       (select count(*) from strata.mv_generation_performance_stats) as gps_rows;
