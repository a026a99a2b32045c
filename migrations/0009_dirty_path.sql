-- check_access's dirty path without the generic rule view (docs/l3.md, "Performance").
--
-- When the user or the resource is marked dirty, 0008 asked strata_private.authorization_edges,
-- a UNION ALL of every rule whose branches the planner prunes per call. For projects and
-- teams the same rules are now written out for the one (user, resource) asked about: the
-- project by primary key, then owner / public read / membership of the owning team with the
-- role's actions / an explicit grant; for a team, the membership's role actions or a grant.
-- Same answers (tests/sql/09_dirty_path.sql compares them with the rule view on every case
-- of the fixture and on random data), same errors, same privileges (CREATE OR REPLACE keeps
-- the owner strata_definer and the grants). Generations still go through
-- strata_private.access(). Every name is schema-qualified or resolved under the function's
-- pinned search_path.

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
            -- dirty: the project rules of authorization_edges, by primary key and unique index
            r := exists (select 1 from authz.projects p
                          where p.id = p_resource_id
                            and (p.owner_user_id = p_user_id
                                 or (p.visibility = 'public' and a = 'read')
                                 or exists (select 1 from authz.team_members m
                                             where m.team_id = p.owner_team_id and m.user_id = p_user_id
                                               and (p.visibility <> 'private' or m.role in ('owner', 'admin'))
                                               and a = any (authz.role_actions('project', m.role)))
                                 or exists (select 1 from authz.grants g
                                             where g.user_id = p_user_id and g.resource_type = 'project'
                                               and g.resource_id = p.id and g.action = a)));
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
            -- dirty: the team rules of authorization_edges (the role in the team, or a grant)
            r := exists (select 1 from authz.team_members m
                          where m.team_id = p_resource_id and m.user_id = p_user_id
                            and a = any (authz.role_actions('team', m.role)))
              or exists (select 1 from authz.grants g
                          where g.user_id = p_user_id and g.resource_type = 'team'
                            and g.resource_id = p_resource_id and g.action = a);
        end if;
        return r;
    end if;
    return a = any ((strata_private.access(p_user_id, 'generation', p_resource_id)).actions);
end $$;
