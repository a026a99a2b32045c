-- L3: the access rules (written once), the materialized views built from them, the view
-- registry, the refresh function the worker calls and the refresh history. docs/l3.md.
--
-- Each rule set is a plain view in strata_private (the "live" query over the base tables).
-- A materialized view is `select * from` that live view, and the lookups' dirty path
-- queries the same live view with the entity's key, so the two cannot drift apart.
create schema if not exists strata_private;
comment on schema strata_private is 'Strata L3 internals: live rule views and helpers; only strata_definer uses them';
revoke all on schema strata_private from public;
grant usage on schema strata_private to strata_definer;

-- ---------------------------------------------------------------------------------------
-- Rules
-- ---------------------------------------------------------------------------------------

-- What a team role may do, on the team itself and on the team's projects.
create or replace function authz.role_actions(scope authz.resource_type, role authz.team_role)
returns authz.action[]
language sql immutable strict parallel safe
set search_path = pg_catalog
as $$
    select case scope
        when 'project' then case role
            when 'owner'       then '{read,create,write,delete,share,admin}'
            when 'admin'       then '{read,create,write,delete,share}'
            when 'editor'      then '{read,create,write}'
            when 'contributor' then '{read,create}'
            when 'viewer'      then '{read}'
        end
        when 'team' then case role
            when 'owner'       then '{read,write,delete,admin}'
            when 'admin'       then '{read,write,admin}'
            else                    '{read}'
        end
    end::authz.action[]
$$;
comment on function authz.role_actions(authz.resource_type, authz.team_role) is
    'actions a team role grants on the team (scope team) or on a team-owned project (scope project)';

-- One row per reason a user may act on a team or project. user_id 0 = every user.
-- (Every branch's columns have exactly the same types, so that the planner pushes a
-- lookup's user / resource conditions into each branch.)
-- Generations are not listed here except for explicit grants: access to a generation is
-- decided at lookup time from its (live) row — its creator is its owner — and from the
-- access to its project (strata_private.access).
create or replace view strata_private.authorization_edges as
    -- the owner of a user-owned project: every action
    select p.owner_user_id as user_id, 'project'::authz.resource_type as resource_type, p.id as resource_id,
           '{read,create,write,delete,share,admin}'::authz.action[] as actions,
           'owner'::authz.access_reason as reason
      from authz.projects p
     where p.owner_user_id is not null
    union all
    -- members of the owning team, by role; a private team project only for owners and admins
    select m.user_id, 'project', p.id, authz.role_actions('project', m.role), 'team_role'
      from authz.projects p
      join authz.team_members m on m.team_id = p.owner_team_id
     where p.visibility <> 'private' or m.role in ('owner', 'admin')
    union all
    -- public projects: everybody reads
    select 0::bigint, 'project', p.id, '{read}', 'public'
      from authz.projects p
     where p.visibility = 'public'
    union all
    -- the team itself, by role
    select m.user_id, 'team', m.team_id, authz.role_actions('team', m.role), 'team_role'
      from authz.team_members m
    union all
    -- explicit grants
    select g.user_id, g.resource_type, g.resource_id, array[g.action], 'grant'
      from authz.grants g;

-- The rules aggregated per (user, resource): what the view stores, what the dirty path reads.
create or replace view strata_private.authorization_live as
    select e.user_id, e.resource_type, e.resource_id,
           array_agg(distinct a order by a) as actions,
           array_agg(distinct e.reason order by e.reason) as reasons
      from strata_private.authorization_edges e
     cross join lateral unnest(e.actions) as a
     group by e.user_id, e.resource_type, e.resource_id;

-- Per team: members, active members, recent activity, most-used projects (30 / 7 day
-- windows ending at computed_at; the view's windows end at its last refresh).
create or replace view strata_private.team_collaboration_live as
    select t.id as team_id,
           mem.members,
           act.active_members,
           act.generations_7d,
           act.generations_30d,
           act.last_activity_at,
           top.top_projects,
           now() as computed_at
      from authz.teams t
     cross join lateral (
            select count(*) as members from authz.team_members m where m.team_id = t.id) mem
     cross join lateral (
            select count(distinct g.user_id) filter (where m.user_id is not null) as active_members,
                   count(*) filter (where g.created_at >= now() - interval '7 days') as generations_7d,
                   count(*) as generations_30d,
                   max(g.created_at) as last_activity_at
              from authz.projects p
              join authz.generations g on g.project_id = p.id and g.created_at >= now() - interval '30 days'
              left join authz.team_members m on m.team_id = t.id and m.user_id = g.user_id
             where p.owner_team_id = t.id) act
     cross join lateral (
            select coalesce(array_agg(x.project_id order by x.n desc, x.project_id), '{}') as top_projects
              from (select g.project_id, count(*) as n
                      from authz.projects p
                      join authz.generations g on g.project_id = p.id and g.created_at >= now() - interval '30 days'
                     where p.owner_team_id = t.id
                     group by g.project_id
                     order by n desc, g.project_id
                     limit 5) x) top;

-- Per (user, project): generations created in the last 7 days, status mix, latency
-- (created -> completed, succeeded ones) percentiles, bytes.
create or replace view strata_private.generation_stats_live as
    select g.user_id, g.project_id,
           count(*) as generations,
           count(*) filter (where g.status = 'queued') as queued,
           count(*) filter (where g.status = 'running') as running,
           count(*) filter (where g.status = 'succeeded') as succeeded,
           count(*) filter (where g.status = 'failed') as failed,
           count(*) filter (where g.status = 'canceled') as canceled,
           percentile_cont(0.50) within group (order by l.ms) as latency_p50_ms,
           percentile_cont(0.95) within group (order by l.ms) as latency_p95_ms,
           percentile_cont(0.99) within group (order by l.ms) as latency_p99_ms,
           coalesce(sum(g.size_bytes), 0)::bigint as total_bytes,
           max(g.created_at) as last_generation_at,
           now() as computed_at
      from authz.generations g
     cross join lateral (
            select case when g.status = 'succeeded' and g.completed_at is not null
                        then extract(epoch from g.completed_at - g.created_at)::float8 * 1000 end as ms) l
     where g.created_at >= now() - interval '7 days'
     group by g.user_id, g.project_id;

-- ---------------------------------------------------------------------------------------
-- Materialized views (applications cannot read them; see 0005 for the lookups)
-- ---------------------------------------------------------------------------------------
create materialized view if not exists strata.mv_user_authorization_context as
    select * from strata_private.authorization_live;
create unique index if not exists mv_user_authorization_context_key
    on strata.mv_user_authorization_context (user_id, resource_type, resource_id);

create materialized view if not exists strata.mv_team_collaboration_patterns as
    select * from strata_private.team_collaboration_live;
create unique index if not exists mv_team_collaboration_patterns_key
    on strata.mv_team_collaboration_patterns (team_id);

create materialized view if not exists strata.mv_generation_performance_stats as
    select * from strata_private.generation_stats_live;
create unique index if not exists mv_generation_performance_stats_key
    on strata.mv_generation_performance_stats (user_id, project_id);

comment on materialized view strata.mv_user_authorization_context is
    'one row per (user, resource type, resource id): allowed actions and why; user_id 0 = every user (public). Read through strata.check_access() and friends';
comment on materialized view strata.mv_team_collaboration_patterns is
    'per team: members, active members, recent activity, most-used projects. Read through strata.team_collaboration()';
comment on materialized view strata.mv_generation_performance_stats is
    'per (user, project): counts, status mix, latency percentiles over the last 7 days. Read through strata.generation_stats()';

-- ---------------------------------------------------------------------------------------
-- Dirty set: lookups probe strata.dirty_marks by exact mark, refreshes by view prefix.
-- ---------------------------------------------------------------------------------------
do $$
begin
    if not exists (
        select 1 from pg_index i
         where i.indrelid = 'strata.dirty_marks'::regclass
           and i.indkey[0] = (select attnum from pg_attribute
                               where attrelid = 'strata.dirty_marks'::regclass and attname = 'mark')
           and i.indclass[0] = (select oid from pg_opclass where opcname = 'text_pattern_ops'
                                  and opcmethod = (select oid from pg_am where amname = 'btree')))
    then
        create index dirty_marks_mark_pattern_idx on strata.dirty_marks (mark text_pattern_ops);
    end if;
end $$;

-- ---------------------------------------------------------------------------------------
-- View registry and refresh history
-- ---------------------------------------------------------------------------------------
create table if not exists strata.views (
    name               text primary key,               -- e.g. 'mv_user_authorization_context'
    relation           regclass not null unique,       -- the materialized view
    mark_prefix        text not null unique
                       check (mark_prefix ~ '^[a-z0-9_]+:$'),  -- its dirty marks start with this
    source_tables      text[] not null,                -- base tables whose changes mark it dirty
    min_interval       interval not null default '5 seconds'  check (min_interval >= '0'),
    max_staleness      interval not null default '1 minute'   check (max_staleness > '0'),
    periodic_interval  interval not null default '15 minutes' check (periodic_interval > '0'),
    retry_base         interval not null default '5 seconds'  check (retry_base > '0'),
    retry_max          interval not null default '5 minutes'  check (retry_max >= retry_base),
    last_started_at    timestamptz,
    last_ended_at      timestamptz,
    last_duration      interval,
    last_rows          bigint,
    last_marks_cleared bigint,
    last_outcome       text check (last_outcome in ('ok', 'failed')),
    last_error         text,
    failures           integer not null default 0,     -- consecutive failed refreshes
    next_retry_at      timestamptz                     -- after a failure: not before this
);
comment on table strata.views is
    'L3 view registry: refresh policy (min interval, max staleness, periodic interval, retry backoff) and the last refresh';

create table if not exists strata.view_refreshes (
    id            bigint generated always as identity primary key,
    view_name     text not null references strata.views (name) on delete cascade,
    started_at    timestamptz not null,
    ended_at      timestamptz not null,
    duration      interval not null,
    rows          bigint,
    marks_cleared bigint,
    outcome       text not null check (outcome in ('ok', 'failed')),
    error         text
);
create index if not exists view_refreshes_view_started_idx on strata.view_refreshes (view_name, started_at desc);
comment on table strata.view_refreshes is 'every refresh of an L3 view: start, duration, rows, dirty marks cleared, outcome';

insert into strata.views (name, relation, mark_prefix, source_tables) values
    ('mv_user_authorization_context',  'strata.mv_user_authorization_context',  'uac:',
     '{authz.users,authz.teams,authz.team_members,authz.projects,authz.grants}'),
    ('mv_team_collaboration_patterns', 'strata.mv_team_collaboration_patterns', 'tcp:',
     '{authz.teams,authz.team_members,authz.projects,authz.generations}'),
    ('mv_generation_performance_stats','strata.mv_generation_performance_stats','gps:',
     '{authz.generations}')
on conflict (name) do nothing;

-- Resolves 'mv_x' or 'strata.mv_x' to the registry row; clear error otherwise.
create or replace function strata_private.registered_view(p_view text)
returns strata.views
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
    v strata.views;
begin
    if p_view is null then
        raise exception 'view name must not be NULL'
            using errcode = 'invalid_parameter_value',
                  hint = 'registered views: ' || (select string_agg(name, ', ' order by name) from strata.views);
    end if;
    select * into v from strata.views where name = regexp_replace(p_view, '^strata\.', '');
    if not found then
        raise exception 'unknown view "%"', p_view
            using errcode = 'invalid_parameter_value',
                  hint = 'registered views: ' || (select string_agg(name, ', ' order by name) from strata.views);
    end if;
    return v;
end $$;

-- Records a failed refresh: history row, failure count, backoff (retry_base * 2^(n-1),
-- at most retry_max). Used by refresh_view() itself, and by the worker when the call
-- could not even return (statement timeout, lost connection).
create or replace function strata.record_refresh_failure(p_view text, p_error text, p_started_at timestamptz default null)
returns timestamptz
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v strata.views := strata_private.registered_view(p_view);
    t0 timestamptz := coalesce(p_started_at, clock_timestamp());
    t1 timestamptz := clock_timestamp();
    retry timestamptz;
begin
    if p_error is null or p_error = '' then
        raise exception 'error text must not be empty' using errcode = 'invalid_parameter_value';
    end if;
    retry := t1 + least(v.retry_max, v.retry_base * power(2, least(v.failures, 30)));
    update strata.views
       set last_started_at = t0, last_ended_at = t1, last_duration = t1 - t0,
           last_outcome = 'failed', last_error = p_error,
           failures = failures + 1, next_retry_at = retry
     where name = v.name;
    insert into strata.view_refreshes (view_name, started_at, ended_at, duration, outcome, error)
    values (v.name, t0, t1, t1 - t0, 'failed', p_error);
    return retry;
end $$;
comment on function strata.record_refresh_failure(text, text, timestamptz) is
    'records a failed refresh of a registered view and returns when to retry (exponential backoff)';

-- The refresh the worker calls. REFRESH ... CONCURRENTLY (readers are never blocked),
-- then deletes the view's dirty marks written by transactions that had committed before
-- the refresh started, i.e. visible in a snapshot taken before it: the refresh saw their
-- changes. Marks of transactions that commit later stay, and make the next lookup of
-- their entity answer from the base tables until the next refresh. The calling
-- transaction's own marks stay too (the capture trigger writes a mark once per
-- transaction, so clearing it would lose that transaction's later changes).
-- At most one refresh per view runs at a time: a transaction-level advisory lock
-- (key: oid of strata.views, oid of the view); a second caller gets outcome 'skipped'
-- at once instead of waiting. A failing refresh is rolled back, recorded, and returned
-- as outcome 'failed' (the error text in `error`), with backoff in strata.views.
create or replace function strata.refresh_view(p_view text)
returns table (view_name text, outcome text, rows bigint, marks_cleared bigint,
               started_at timestamptz, duration interval, error text)
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
    v strata.views := strata_private.registered_view(p_view);
    t0 timestamptz;
    t1 timestamptz;
    snap pg_snapshot;
    n bigint;
    cleared bigint;
    msg text;
begin
    if not pg_try_advisory_xact_lock('strata.views'::regclass::oid::integer, v.relation::oid::integer) then
        return query select v.name, 'skipped'::text, null::bigint, null::bigint, null::timestamptz,
                            null::interval, 'a refresh of this view is already running'::text;
        return;
    end if;
    t0 := clock_timestamp();
    snap := pg_current_snapshot();
    begin
        execute format('refresh materialized view concurrently %s', v.relation);
        execute format('select count(*) from %s', v.relation) into n;
        with d as (
            delete from strata.dirty_marks m
             where m.mark like v.mark_prefix || '%'
               and pg_visible_in_snapshot(m.xid, snap)
               -- pg_current_snapshot() counts the own transaction as visible; its marks stay
               and m.xid is distinct from pg_current_xact_id_if_assigned()
            returning 1)
        select count(*) into cleared from d;
    exception when others then
        get stacked diagnostics msg = message_text;
        perform strata.record_refresh_failure(v.name, msg, t0);
        t1 := clock_timestamp();
        return query select v.name, 'failed'::text, null::bigint, null::bigint, t0, t1 - t0, msg;
        return;
    end;
    t1 := clock_timestamp();
    update strata.views
       set last_started_at = t0, last_ended_at = t1, last_duration = t1 - t0,
           last_rows = n, last_marks_cleared = cleared, last_outcome = 'ok', last_error = null,
           failures = 0, next_retry_at = null
     where name = v.name;
    insert into strata.view_refreshes (view_name, started_at, ended_at, duration, rows, marks_cleared, outcome)
    values (v.name, t0, t1, t1 - t0, n, cleared, 'ok');
    return query select v.name, 'ok'::text, n, cleared, t0, t1 - t0, null::text;
end $$;
comment on function strata.refresh_view(text) is
    'REFRESH MATERIALIZED VIEW CONCURRENTLY a registered view, clear the dirty marks it covered, record it; outcome ok | failed | skipped (already running)';

-- What the scheduler polls: per view, the dirty set, the last refresh, the policy, whether
-- a refresh is running now, and whether one is due and why.
--   refreshing: another session holds the view's refresh lock right now.
--   due/reason: running (not due) > backoff (not due, failed recently) > max_staleness
--   (dirty longer than max_staleness: refresh next) > dirty (min_interval since the last
--   refresh has passed) > retry (last refresh failed, backoff over) > periodic (untouched
--   for periodic_interval) > waiting / clean (not due). priority: 1 is most urgent.
--   next_due_at: when the view becomes due if nothing else changes (NULL = now or unknown).
create or replace function strata.refresh_candidates()
returns table (view_name text, relation regclass, dirty_marks bigint, oldest_dirty_at timestamptz,
               last_started_at timestamptz, last_ended_at timestamptz, last_outcome text,
               failures integer, next_retry_at timestamptz,
               min_interval interval, max_staleness interval, periodic_interval interval,
               refreshing boolean, due boolean, reason text, priority integer, next_due_at timestamptz)
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
    now_ timestamptz := clock_timestamp();
begin
    return query
    with s as (
        select v.*, d.n, d.oldest,
               exists (select 1 from pg_locks l
                        where l.locktype = 'advisory' and l.granted and l.pid <> pg_backend_pid()
                          and l.database = (select oid from pg_database where datname = current_database())
                          and l.classid = 'strata.views'::regclass::oid
                          and l.objid = v.relation::oid and l.objsubid = 2) as busy
          from strata.views v
         cross join lateral (
                select count(*) as n, min(m.created_at) as oldest
                  from strata.dirty_marks m
                 where m.mark like v.mark_prefix || '%') d
    ), c as (
        select s.*,
               case
                   when s.busy then 'running'
                   when s.failures > 0 and s.next_retry_at > now_ then 'backoff'
                   when s.n > 0 and s.oldest <= now_ - s.max_staleness then 'max_staleness'
                   when s.n > 0 and (s.last_ended_at is null or s.last_ended_at + s.min_interval <= now_) then 'dirty'
                   when s.failures > 0 then 'retry'
                   when s.last_ended_at is null or s.last_ended_at + s.periodic_interval <= now_ then 'periodic'
                   when s.n > 0 then 'waiting'
                   else 'clean'
               end as why
          from s
    )
    select c.name, c.relation, c.n, c.oldest, c.last_started_at, c.last_ended_at, c.last_outcome,
           c.failures, c.next_retry_at, c.min_interval, c.max_staleness, c.periodic_interval,
           c.busy,
           c.why in ('max_staleness', 'dirty', 'retry', 'periodic'),
           c.why,
           case c.why when 'max_staleness' then 1 when 'dirty' then 2 when 'retry' then 3
                      when 'periodic' then 4 else null end,
           case c.why
               when 'backoff' then c.next_retry_at
               when 'waiting' then least(c.last_ended_at + c.min_interval, c.oldest + c.max_staleness)
               when 'clean' then c.last_ended_at + c.periodic_interval
               else null
           end
      from c
     order by 16 nulls last, c.oldest nulls last, c.name;
end $$;
comment on function strata.refresh_candidates() is
    'scheduler input: per registered view the dirty-mark count and age, last refresh, policy, running flag, due/reason/priority, next_due_at';

-- Bounded history.
create or replace function strata.prune_refresh_history(p_keep interval default '30 days')
returns bigint
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    n bigint;
begin
    if p_keep is null or p_keep < interval '0' then
        raise exception 'keep must be a non-negative interval, got %', coalesce(p_keep::text, 'NULL')
            using errcode = 'invalid_parameter_value';
    end if;
    with d as (delete from strata.view_refreshes where started_at < now() - p_keep returning 1)
    select count(*) into n from d;
    return n;
end $$;

-- ---------------------------------------------------------------------------------------
-- Ownership and privileges
-- ---------------------------------------------------------------------------------------
alter view strata_private.authorization_edges owner to strata_definer;
alter view strata_private.authorization_live owner to strata_definer;
alter view strata_private.team_collaboration_live owner to strata_definer;
alter view strata_private.generation_stats_live owner to strata_definer;
alter materialized view strata.mv_user_authorization_context owner to strata_definer;
alter materialized view strata.mv_team_collaboration_patterns owner to strata_definer;
alter materialized view strata.mv_generation_performance_stats owner to strata_definer;
alter table strata.views owner to strata_definer;
alter table strata.view_refreshes owner to strata_definer;
alter function authz.role_actions(authz.resource_type, authz.team_role) owner to strata_definer;
alter function strata_private.registered_view(text) owner to strata_definer;
alter function strata.record_refresh_failure(text, text, timestamptz) owner to strata_definer;
alter function strata.refresh_view(text) owner to strata_definer;
alter function strata.refresh_candidates() owner to strata_definer;
alter function strata.prune_refresh_history(interval) owner to strata_definer;

revoke all on strata.mv_user_authorization_context, strata.mv_team_collaboration_patterns,
              strata.mv_generation_performance_stats from public;
revoke all on strata.views, strata.view_refreshes from public;
revoke all on function authz.role_actions(authz.resource_type, authz.team_role) from public;
revoke all on function strata_private.registered_view(text) from public;
revoke all on function strata.record_refresh_failure(text, text, timestamptz) from public;
revoke all on function strata.refresh_view(text) from public;
revoke all on function strata.refresh_candidates() from public;
revoke all on function strata.prune_refresh_history(interval) from public;

grant select on strata.views, strata.view_refreshes to strata_worker;
grant execute on function strata.refresh_view(text) to strata_worker;
grant execute on function strata.record_refresh_failure(text, text, timestamptz) to strata_worker;
grant execute on function strata.refresh_candidates() to strata_worker;
grant execute on function strata.prune_refresh_history(interval) to strata_worker;
