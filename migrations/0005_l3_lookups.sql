-- L3 lookups: what applications call (role strata_app). docs/l3.md, "Lookups".
--
-- Never stale: a lookup first probes strata.dirty_marks for the marks of the entities its
-- answer depends on (exact marks and the prefixes a collapsed or truncating transaction
-- writes). Dirty: it answers from the base tables through the live rule view the
-- materialized view is built from. Clean: one index probe into the view. The marks
-- and the view are read in the lookup's one snapshot, and a refresh deletes marks and
-- replaces view rows in one transaction, so there is no moment where neither covers a
-- change.
--
-- All functions are STABLE, SECURITY DEFINER (owner strata_definer, which alone may read
-- the views and the base tables), with a pinned search_path; arguments are validated
-- (SQLSTATE 22023 invalid_parameter_value, with the allowed values in the hint).
-- plan_cache_mode = force_generic_plan: the live rule views are unions whose branches a
-- generic plan gates with one-time filters on the parameters; left to itself the plan
-- cache keeps choosing custom plans for them, i.e. plans the union again on every call.
-- The aggregate lookups also turn parallel query off: starting workers costs more than
-- any single entity's answer.

-- ---------------------------------------------------------------------------------------
-- Argument checks
-- ---------------------------------------------------------------------------------------
create or replace function strata_private.require_id(p_name text, p_value bigint)
returns bigint
language plpgsql immutable
as $$
begin
    if p_value is null then
        raise exception '% must not be NULL', p_name using errcode = 'invalid_parameter_value';
    end if;
    return p_value;
end $$;

create or replace function strata_private.parse_resource_type(p_value text)
returns authz.resource_type
language plpgsql stable
as $$
declare
    allowed text;
begin
    if p_value is not null and p_value = any (enum_range(null::authz.resource_type)::text[]) then
        return p_value::authz.resource_type;
    end if;
    allowed := array_to_string(enum_range(null::authz.resource_type)::text[], ', ');
    if p_value is null then
        raise exception 'resource_type must not be NULL'
            using errcode = 'invalid_parameter_value', hint = 'allowed resource types: ' || allowed;
    else
        raise exception 'unknown resource type "%"', p_value
            using errcode = 'invalid_parameter_value', hint = 'allowed resource types: ' || allowed;
    end if;
    return p_value::authz.resource_type;
end $$;

create or replace function strata_private.parse_action(p_value text)
returns authz.action
language plpgsql stable
as $$
declare
    allowed text;
begin
    if p_value is not null and p_value = any (enum_range(null::authz.action)::text[]) then
        return p_value::authz.action;
    end if;
    allowed := array_to_string(enum_range(null::authz.action)::text[], ', ');
    if p_value is null then
        raise exception 'action must not be NULL'
            using errcode = 'invalid_parameter_value', hint = 'allowed actions: ' || allowed;
    else
        raise exception 'unknown action "%"', p_value
            using errcode = 'invalid_parameter_value', hint = 'allowed actions: ' || allowed;
    end if;
    return p_value::authz.action;
end $$;

-- ---------------------------------------------------------------------------------------
-- Dirty checks: which marks an answer depends on (the marks are written by the capture
-- trigger, templates in 0007_watches.sql). PL/pgSQL, not SQL: their plans are cached.
-- ---------------------------------------------------------------------------------------

-- (user, team|project|generation) in mv_user_authorization_context
create or replace function strata_private.uac_dirty(p_user bigint, p_type authz.resource_type, p_id bigint)
returns boolean
language plpgsql stable
as $$
begin
    return exists (
        select 1 from strata.dirty_marks m
         where m.mark = any (array['*', 'uac:*', 'uac:user:*', 'uac:user:' || p_user,
                                   'uac:' || p_type::text || ':*', 'uac:' || p_type::text || ':' || p_id]));
end $$;

-- a team in mv_team_collaboration_patterns: the team, or any of its projects
create or replace function strata_private.tcp_dirty(p_team bigint)
returns boolean
language plpgsql stable
as $$
begin
    return exists (
               select 1 from strata.dirty_marks m
                where m.mark = any (array['*', 'tcp:*', 'tcp:team:*', 'tcp:project:*', 'tcp:team:' || p_team]))
        or exists (
               select 1 from authz.projects p
                join strata.dirty_marks m on m.mark = 'tcp:project:' || p.id
               where p.owner_team_id = p_team);
end $$;

-- (user, project) in mv_generation_performance_stats
create or replace function strata_private.gps_dirty(p_user bigint, p_project bigint)
returns boolean
language plpgsql stable
as $$
begin
    return exists (
        select 1 from strata.dirty_marks m
         where m.mark = any (array['*', 'gps:*', 'gps:user:*', 'gps:user:' || p_user || ':*',
                                   'gps:user:' || p_user || ':project:*',
                                   'gps:user:' || p_user || ':project:' || p_project]));
end $$;

-- ---------------------------------------------------------------------------------------
-- Access decisions (one code path for allowed_actions and generations)
-- ---------------------------------------------------------------------------------------

-- The rows for (user, resource) and (every user, resource), merged: from the view when
-- clean, from the live rules when dirty.
create or replace function strata_private.access_rows(
    p_user bigint, p_type authz.resource_type, p_id bigint,
    out actions authz.action[], out reasons authz.access_reason[], out answered_from text)
language plpgsql stable
as $$
begin
    if strata_private.uac_dirty(p_user, p_type, p_id) then
        select coalesce(array_agg(distinct a order by a), '{}'), coalesce(array_agg(distinct r order by r), '{}')
          into actions, reasons
          from strata_private.authorization_live l
         cross join lateral unnest(l.actions) a
         cross join lateral unnest(l.reasons) r
         where l.user_id in (p_user, 0) and l.resource_type = p_type and l.resource_id = p_id;
        answered_from := 'live';
    else
        select coalesce(array_agg(distinct a order by a), '{}'), coalesce(array_agg(distinct r order by r), '{}')
          into actions, reasons
          from strata.mv_user_authorization_context m
         cross join lateral unnest(m.actions) a
         cross join lateral unnest(m.reasons) r
         where m.user_id in (p_user, 0) and m.resource_type = p_type and m.resource_id = p_id;
        answered_from := 'view';
    end if;
end $$;

-- Full decision for any resource type. A generation: its creator may do everything;
-- everyone else gets what they may do on its project (reason 'project') plus explicit
-- grants on the generation. The generation's row (creator, project) is always read live.
create or replace function strata_private.access(
    p_user bigint, p_type authz.resource_type, p_id bigint,
    out actions authz.action[], out reasons authz.access_reason[], out answered_from text)
language plpgsql stable
as $$
declare
    g_owner bigint;
    g_project bigint;
    pa record;
    ga record;
begin
    if p_type <> 'generation' then
        select r.actions, r.reasons, r.answered_from into actions, reasons, answered_from
          from strata_private.access_rows(p_user, p_type, p_id) r;
        return;
    end if;
    select g.user_id, g.project_id into g_owner, g_project from authz.generations g where g.id = p_id;
    if not found then
        actions := '{}'; reasons := '{}'; answered_from := 'live';
        return;
    end if;
    if g_owner = p_user then
        actions := enum_range(null::authz.action); reasons := '{owner}'; answered_from := 'live';
        return;
    end if;
    select * into pa from strata_private.access_rows(p_user, 'project', g_project);
    select * into ga from strata_private.access_rows(p_user, 'generation', p_id);
    actions := array(select distinct x from unnest(pa.actions || ga.actions) x order by x);
    reasons := array(select distinct x
                       from unnest(case when cardinality(pa.actions) > 0
                                        then '{project}'::authz.access_reason[] else '{}' end || ga.reasons) x
                      order by x);
    answered_from := case when pa.answered_from = 'view' and ga.answered_from = 'view' then 'view' else 'live' end;
end $$;

-- ---------------------------------------------------------------------------------------
-- Public lookups
-- ---------------------------------------------------------------------------------------

-- May the user perform the action on the resource? user_id 0 = anonymous (public only).
create or replace function strata.check_access(p_user_id bigint, p_resource_type text, p_resource_id bigint, p_action text)
returns boolean
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
-- The hot path, spelled out per resource type: each statement names its type as a
-- constant, so its plan keeps only that type's branches of the rules. The dirty check
-- is strata_private.uac_dirty's, inlined; the live answer asks the rule edges directly
-- (is there an edge with this action?), which is what authorization_live aggregates.
declare
    t authz.resource_type := strata_private.parse_resource_type(p_resource_type);
    a authz.action := strata_private.parse_action(p_action);
begin
    if p_user_id is null or p_resource_id is null then
        perform strata_private.require_id('user_id', p_user_id), strata_private.require_id('resource_id', p_resource_id);
    end if;
    if t = 'project' then
        if exists (select 1 from strata.dirty_marks m
                    where m.mark = any (array['*', 'uac:*', 'uac:user:*', 'uac:user:' || p_user_id,
                                              'uac:project:*', 'uac:project:' || p_resource_id])) then
            return exists (select 1 from strata_private.authorization_edges e
                            where e.user_id in (p_user_id, 0) and e.resource_type = 'project'
                              and e.resource_id = p_resource_id and a = any (e.actions));
        end if;
        return exists (select 1 from strata.mv_user_authorization_context m
                        where m.user_id in (p_user_id, 0) and m.resource_type = 'project'
                          and m.resource_id = p_resource_id and a = any (m.actions));
    elsif t = 'team' then
        if exists (select 1 from strata.dirty_marks m
                    where m.mark = any (array['*', 'uac:*', 'uac:user:*', 'uac:user:' || p_user_id,
                                              'uac:team:*', 'uac:team:' || p_resource_id])) then
            return exists (select 1 from strata_private.authorization_edges e
                            where e.user_id = p_user_id and e.resource_type = 'team'
                              and e.resource_id = p_resource_id and a = any (e.actions));
        end if;
        return exists (select 1 from strata.mv_user_authorization_context m
                        where m.user_id = p_user_id and m.resource_type = 'team'
                          and m.resource_id = p_resource_id and a = any (m.actions));
    end if;
    return a = any ((strata_private.access(p_user_id, t, p_resource_id)).actions);
end $$;
comment on function strata.check_access(bigint, text, bigint, text) is
    'L3: may user_id perform action on (resource_type, resource_id)? Never staler than the outbox';

-- Everything the user may do on the resource and why (reasons: owner, team_role, public,
-- grant, project); answered_from is 'view' or 'live' (base tables, entity dirty).
create or replace function strata.allowed_actions(p_user_id bigint, p_resource_type text, p_resource_id bigint)
returns table (actions text[], reasons text[], answered_from text)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
declare
    u bigint := strata_private.require_id('user_id', p_user_id);
    t authz.resource_type := strata_private.parse_resource_type(p_resource_type);
    r bigint := strata_private.require_id('resource_id', p_resource_id);
begin
    return query select x.actions::text[], x.reasons::text[], x.answered_from
                   from strata_private.access(u, t, r) x;
end $$;
comment on function strata.allowed_actions(bigint, text, bigint) is
    'L3: the actions user_id may perform on the resource, the reasons, and whether the answer came from the view or the base tables';

-- All teams and projects the user reaches (and generations granted explicitly), one page
-- in (resource_type, resource_id) order: pass the last row's type and id as after_type /
-- after_id for the next page. include_public adds public projects reached by no other rule.
create or replace function strata.user_authorization_context(
    p_user_id bigint, p_after_type text default null, p_after_id bigint default null,
    p_page_size integer default 1000, p_include_public boolean default false)
returns table (resource_type text, resource_id bigint, actions text[], reasons text[], answered_from text)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
set max_parallel_workers_per_gather = 0
as $$
#variable_conflict use_column
declare
    u bigint := strata_private.require_id('user_id', p_user_id);
    after_t authz.resource_type;
    principals bigint[];
    all_live boolean;
    dirty_projects bigint[] := '{}';
    dirty_teams bigint[] := '{}';
    some_dirty boolean;
begin
    if (p_after_type is null) <> (p_after_id is null) then
        raise exception 'after_type and after_id go together: both NULL for the first page, or the last row''s resource_type and resource_id'
            using errcode = 'invalid_parameter_value';
    end if;
    if p_after_type is not null then
        after_t := strata_private.parse_resource_type(p_after_type);
    end if;
    if p_page_size is null or p_page_size < 1 or p_page_size > 10000 then
        raise exception 'page_size must be between 1 and 10000, got %', coalesce(p_page_size::text, 'NULL')
            using errcode = 'invalid_parameter_value';
    end if;
    if p_include_public is null then
        raise exception 'include_public must not be NULL' using errcode = 'invalid_parameter_value';
    end if;
    principals := case when p_include_public then array[u, 0] else array[u] end;

    all_live := exists (select 1 from strata.dirty_marks m
                         where m.mark = any (array['*', 'uac:*', 'uac:user:*', 'uac:user:' || u,
                                                   'uac:project:*', 'uac:team:*']));
    if not all_live then
        dirty_projects := array(select substr(m.mark, 13)::bigint from strata.dirty_marks m
                                 where m.mark like 'uac:project:%' and m.mark ~ '^uac:project:[0-9]{1,18}$');
        dirty_teams := array(select substr(m.mark, 10)::bigint from strata.dirty_marks m
                              where m.mark like 'uac:team:%' and m.mark ~ '^uac:team:[0-9]{1,18}$');
    end if;
    some_dirty := all_live or cardinality(dirty_projects) > 0 or cardinality(dirty_teams) > 0;

    return query
    with rows as (
        select m.resource_type, m.resource_id, m.actions, m.reasons, 'view'::text as src
          from strata.mv_user_authorization_context m
         where not all_live
           and m.user_id = any (principals)
           and (after_t is null or (m.resource_type, m.resource_id) > (after_t, p_after_id))
           and not (m.resource_type = 'project' and m.resource_id = any (dirty_projects))
           and not (m.resource_type = 'team' and m.resource_id = any (dirty_teams))
        union all
        select l.resource_type, l.resource_id, l.actions, l.reasons, 'live'::text
          from strata_private.authorization_live l
         where some_dirty
           and l.user_id = any (principals)
           and (after_t is null or (l.resource_type, l.resource_id) > (after_t, p_after_id))
           and (all_live
                or (l.resource_type = 'project' and l.resource_id = any (dirty_projects))
                or (l.resource_type = 'team' and l.resource_id = any (dirty_teams)))
    )
    select r.resource_type::text, r.resource_id,
           array_agg(distinct a order by a)::text[],
           array_agg(distinct x order by x)::text[],
           min(r.src)
      from rows r
     cross join lateral unnest(r.actions) a
     cross join lateral unnest(r.reasons) x
     group by r.resource_type, r.resource_id
     order by r.resource_type, r.resource_id
     limit p_page_size;
end $$;
comment on function strata.user_authorization_context(bigint, text, bigint, integer, boolean) is
    'L3: every team / project (and explicitly granted generation) the user reaches, with actions and reasons; keyset-paged';

-- A team's collaboration pattern (the input for cache warming). No row: no such team.
create or replace function strata.team_collaboration(p_team_id bigint)
returns table (team_id bigint, members bigint, active_members bigint, generations_7d bigint,
               generations_30d bigint, last_activity_at timestamptz, top_projects bigint[],
               computed_at timestamptz, answered_from text)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
set max_parallel_workers_per_gather = 0
as $$
#variable_conflict use_column
declare
    t bigint := strata_private.require_id('team_id', p_team_id);
begin
    if strata_private.tcp_dirty(t) then
        return query select l.team_id, l.members, l.active_members, l.generations_7d, l.generations_30d,
                            l.last_activity_at, l.top_projects, l.computed_at, 'live'::text
                       from strata_private.team_collaboration_live l where l.team_id = t;
    else
        return query select m.team_id, m.members, m.active_members, m.generations_7d, m.generations_30d,
                            m.last_activity_at, m.top_projects, m.computed_at, 'view'::text
                       from strata.mv_team_collaboration_patterns m where m.team_id = t;
    end if;
end $$;
comment on function strata.team_collaboration(bigint) is
    'L3: members, active members (30 days), generations (7 / 30 days), last activity, top 5 projects of a team';

-- Generation statistics of one user in one project over the last 7 days; always one row
-- (zero counts when there was no generation in the window).
create or replace function strata.generation_stats(p_user_id bigint, p_project_id bigint)
returns table (user_id bigint, project_id bigint, generations bigint, queued bigint, running bigint,
               succeeded bigint, failed bigint, canceled bigint,
               latency_p50_ms double precision, latency_p95_ms double precision, latency_p99_ms double precision,
               total_bytes bigint, last_generation_at timestamptz, computed_at timestamptz, answered_from text)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
set max_parallel_workers_per_gather = 0
as $$
#variable_conflict use_column
declare
    u bigint := strata_private.require_id('user_id', p_user_id);
    p bigint := strata_private.require_id('project_id', p_project_id);
    src text;
begin
    if strata_private.gps_dirty(u, p) then
        src := 'live';
        return query select l.user_id, l.project_id, l.generations, l.queued, l.running, l.succeeded, l.failed,
                            l.canceled, l.latency_p50_ms, l.latency_p95_ms, l.latency_p99_ms, l.total_bytes,
                            l.last_generation_at, l.computed_at, src
                       from strata_private.generation_stats_live l where l.user_id = u and l.project_id = p;
    else
        src := 'view';
        return query select m.user_id, m.project_id, m.generations, m.queued, m.running, m.succeeded, m.failed,
                            m.canceled, m.latency_p50_ms, m.latency_p95_ms, m.latency_p99_ms, m.total_bytes,
                            m.last_generation_at, m.computed_at, src
                       from strata.mv_generation_performance_stats m where m.user_id = u and m.project_id = p;
    end if;
    if not found then
        return query select u, p, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint,
                            null::float8, null::float8, null::float8, 0::bigint, null::timestamptz,
                            case when src = 'live' then now()
                                 else (select v.last_ended_at from strata.views v
                                        where v.name = 'mv_generation_performance_stats') end,
                            src;
    end if;
end $$;
comment on function strata.generation_stats(bigint, bigint) is
    'L3: a user''s generations in a project over the last 7 days: counts, status mix, latency p50/p95/p99, bytes';

-- ---------------------------------------------------------------------------------------
-- Ownership and privileges
-- ---------------------------------------------------------------------------------------
do $$
declare
    f regprocedure;
begin
    for f in select p.oid::regprocedure from pg_proc p where p.pronamespace = 'strata_private'::regnamespace loop
        execute format('alter function %s owner to strata_definer', f);
        execute format('revoke all on function %s from public', f);
    end loop;
end $$;
alter function strata.check_access(bigint, text, bigint, text) owner to strata_definer;
alter function strata.allowed_actions(bigint, text, bigint) owner to strata_definer;
alter function strata.user_authorization_context(bigint, text, bigint, integer, boolean) owner to strata_definer;
alter function strata.team_collaboration(bigint) owner to strata_definer;
alter function strata.generation_stats(bigint, bigint) owner to strata_definer;

revoke all on function strata.check_access(bigint, text, bigint, text) from public;
revoke all on function strata.allowed_actions(bigint, text, bigint) from public;
revoke all on function strata.user_authorization_context(bigint, text, bigint, integer, boolean) from public;
revoke all on function strata.team_collaboration(bigint) from public;
revoke all on function strata.generation_stats(bigint, bigint) from public;

grant execute on function strata.check_access(bigint, text, bigint, text) to strata_app;
grant execute on function strata.allowed_actions(bigint, text, bigint) to strata_app;
grant execute on function strata.user_authorization_context(bigint, text, bigint, integer, boolean) to strata_app;
grant execute on function strata.team_collaboration(bigint) to strata_app;
grant execute on function strata.generation_stats(bigint, bigint) to strata_app;
