-- L3 lookups, cheaper (docs/l3.md, "Performance"). Same rules, same answers, same errors;
-- only how much work a call does changes.
--
--  1. Dirty checks probe two kinds of marks separately. The exact marks of the entities
--     (`uac:user:U`, `uac:project:P`: two index probes instead of six) in the existing
--     mark index, and the prefix marks a collapsed or truncating transaction writes
--     (`uac:*`, `uac:user:*`, `*`, ...) in a new partial index holding only marks that
--     end in `*` -- normally empty, so probing it costs one metapage read.
--  2. check_access: the clean path is one statement (dirty check + one index probe into
--     the view); the live rules are only planned and run when the entity is dirty.
--     Arguments are checked with CASE / IN on constant sets in PL/pgSQL simple
--     expressions, no helper calls on the happy path; the helpers (same messages,
--     SQLSTATE 22023, hints) are called only to raise. tests/sql/08_fast_path.sql checks
--     that the constant sets equal the enums.
--  3. parse_resource_type / parse_action: CASE instead of enum_range() arrays.
--  4. authz.role_actions becomes inlinable: same body and answers, but no `SET search_path`
--     and not STRICT (a CASE on NULL is NULL anyway), so the planner folds it into the rule
--     queries instead of calling a SQL function -- re-planned on every statement in
--     PostgreSQL 15, with a GUC save/restore -- for every membership row. Operators and
--     types are schema-qualified, so the body means the same under any search_path.
--     This speeds up every live rule query: the dirty path, the refresh, and the
--     benchmark's live references alike.

-- ---------------------------------------------------------------------------------------
-- Prefix marks: a partial index of the (rare) marks ending in '*'
-- ---------------------------------------------------------------------------------------
create index if not exists dirty_marks_prefix_idx on strata.dirty_marks (mark) where mark like '%*';

-- ---------------------------------------------------------------------------------------
-- The team role rules (0004), inlinable
-- ---------------------------------------------------------------------------------------
create or replace function authz.role_actions(scope authz.resource_type, role authz.team_role)
returns authz.action[]
language sql immutable parallel safe
as $$
    select case
        when scope operator(pg_catalog.=) 'project'::authz.resource_type then case
            when role operator(pg_catalog.=) 'owner'::authz.team_role       then '{read,create,write,delete,share,admin}'::authz.action[]
            when role operator(pg_catalog.=) 'admin'::authz.team_role       then '{read,create,write,delete,share}'::authz.action[]
            when role operator(pg_catalog.=) 'editor'::authz.team_role      then '{read,create,write}'::authz.action[]
            when role operator(pg_catalog.=) 'contributor'::authz.team_role then '{read,create}'::authz.action[]
            when role operator(pg_catalog.=) 'viewer'::authz.team_role      then '{read}'::authz.action[]
        end
        when scope operator(pg_catalog.=) 'team'::authz.resource_type then case
            when role operator(pg_catalog.=) 'owner'::authz.team_role then '{read,write,delete,admin}'::authz.action[]
            when role operator(pg_catalog.=) 'admin'::authz.team_role then '{read,write,admin}'::authz.action[]
            when role is not null                                      then '{read}'::authz.action[]
        end
    end
$$;

-- ---------------------------------------------------------------------------------------
-- Argument checks
-- ---------------------------------------------------------------------------------------
create or replace function strata_private.parse_resource_type(p_value text)
returns authz.resource_type
language plpgsql stable
as $$
declare
    allowed text;
begin
    case p_value
        when 'team' then return 'team';
        when 'project' then return 'project';
        when 'generation' then return 'generation';
        else null;
    end case;
    allowed := array_to_string(enum_range(null::authz.resource_type)::text[], ', ');
    if p_value is null then
        raise exception 'resource_type must not be NULL'
            using errcode = 'invalid_parameter_value', hint = 'allowed resource types: ' || allowed;
    end if;
    raise exception 'unknown resource type "%"', p_value
        using errcode = 'invalid_parameter_value', hint = 'allowed resource types: ' || allowed;
end $$;

create or replace function strata_private.parse_action(p_value text)
returns authz.action
language plpgsql stable
as $$
declare
    allowed text;
begin
    case p_value
        when 'read' then return 'read';
        when 'create' then return 'create';
        when 'write' then return 'write';
        when 'delete' then return 'delete';
        when 'share' then return 'share';
        when 'admin' then return 'admin';
        else null;
    end case;
    allowed := array_to_string(enum_range(null::authz.action)::text[], ', ');
    if p_value is null then
        raise exception 'action must not be NULL'
            using errcode = 'invalid_parameter_value', hint = 'allowed actions: ' || allowed;
    end if;
    raise exception 'unknown action "%"', p_value
        using errcode = 'invalid_parameter_value', hint = 'allowed actions: ' || allowed;
end $$;

-- ---------------------------------------------------------------------------------------
-- Dirty checks: exact marks in the mark index, prefix marks in the partial index
-- ---------------------------------------------------------------------------------------
create or replace function strata_private.uac_dirty(p_user bigint, p_type authz.resource_type, p_id bigint)
returns boolean
language plpgsql stable
as $$
begin
    return exists (select 1 from strata.dirty_marks m
                    where m.mark = any (array['uac:user:' || p_user, 'uac:' || p_type::text || ':' || p_id]))
        or exists (select 1 from strata.dirty_marks m
                    where m.mark like '%*'
                      and m.mark = any (array['*', 'uac:*', 'uac:user:*', 'uac:' || p_type::text || ':*']));
end $$;

create or replace function strata_private.tcp_dirty(p_team bigint)
returns boolean
language plpgsql stable
as $$
begin
    return exists (select 1 from strata.dirty_marks m where m.mark = 'tcp:team:' || p_team)
        or exists (select 1 from strata.dirty_marks m
                    where m.mark like '%*' and m.mark = any ('{*,tcp:*,tcp:team:*,tcp:project:*}'::text[]))
        or exists (select 1 from authz.projects p
                     join strata.dirty_marks m on m.mark = 'tcp:project:' || p.id
                    where p.owner_team_id = p_team);
end $$;

create or replace function strata_private.gps_dirty(p_user bigint, p_project bigint)
returns boolean
language plpgsql stable
as $$
begin
    return exists (select 1 from strata.dirty_marks m
                    where m.mark = 'gps:user:' || p_user || ':project:' || p_project)
        or exists (select 1 from strata.dirty_marks m
                    where m.mark like '%*'
                      and m.mark = any (array['*', 'gps:*', 'gps:user:*', 'gps:user:' || p_user || ':*',
                                              'gps:user:' || p_user || ':project:*']));
end $$;

-- ---------------------------------------------------------------------------------------
-- check_access
-- ---------------------------------------------------------------------------------------
create or replace function strata.check_access(p_user_id bigint, p_resource_type text, p_resource_id bigint, p_action text)
returns boolean
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
-- Checks in the order of 0005 (type, action, ids): the first wrong argument is reported.
-- Per resource type one statement answers the clean case (NULL = dirty: ask the rules).
declare
    a authz.action := case p_action when 'read' then 'read'::authz.action when 'create' then 'create'::authz.action
                                    when 'write' then 'write'::authz.action when 'delete' then 'delete'::authz.action
                                    when 'share' then 'share'::authz.action when 'admin' then 'admin'::authz.action end;
    r boolean;
begin
    if p_resource_type is null or p_resource_type not in ('project', 'team', 'generation') then
        perform strata_private.parse_resource_type(p_resource_type);
    end if;
    if a is null then
        perform strata_private.parse_action(p_action);
    end if;
    if p_user_id is null or p_resource_id is null then
        perform strata_private.require_id('user_id', p_user_id), strata_private.require_id('resource_id', p_resource_id);
    end if;
    if p_resource_type = 'project' then
        select case when exists (select 1 from strata.dirty_marks m
                                  where m.mark = any (array['uac:user:' || p_user_id, 'uac:project:' || p_resource_id]))
                      or exists (select 1 from strata.dirty_marks m
                                  where m.mark like '%*' and m.mark = any ('{*,uac:*,uac:user:*,uac:project:*}'::text[]))
                    then null
                    else exists (select 1 from strata.mv_user_authorization_context m
                                  where m.user_id in (p_user_id, 0) and m.resource_type = 'project'
                                    and m.resource_id = p_resource_id and a = any (m.actions)) end
          into r;
        if r is null then
            r := exists (select 1 from strata_private.authorization_edges e
                          where e.user_id in (p_user_id, 0) and e.resource_type = 'project'
                            and e.resource_id = p_resource_id and a = any (e.actions));
        end if;
        return r;
    elsif p_resource_type = 'team' then
        select case when exists (select 1 from strata.dirty_marks m
                                  where m.mark = any (array['uac:user:' || p_user_id, 'uac:team:' || p_resource_id]))
                      or exists (select 1 from strata.dirty_marks m
                                  where m.mark like '%*' and m.mark = any ('{*,uac:*,uac:user:*,uac:team:*}'::text[]))
                    then null
                    else exists (select 1 from strata.mv_user_authorization_context m
                                  where m.user_id = p_user_id and m.resource_type = 'team'
                                    and m.resource_id = p_resource_id and a = any (m.actions)) end
          into r;
        if r is null then
            r := exists (select 1 from strata_private.authorization_edges e
                          where e.user_id = p_user_id and e.resource_type = 'team'
                            and e.resource_id = p_resource_id and a = any (e.actions));
        end if;
        return r;
    end if;
    return a = any ((strata_private.access(p_user_id, 'generation', p_resource_id)).actions);
end $$;
comment on function strata.check_access(bigint, text, bigint, text) is
    'L3: may user_id perform action on (resource_type, resource_id)? Never staler than the outbox';
