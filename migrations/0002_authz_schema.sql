-- The reference authorization domain Strata ships with and benchmarks on (docs/l3.md).
-- Base tables live in schema authz; the access rules over them are in 0004 (one place).
create schema if not exists authz;
comment on schema authz is 'Strata reference authorization domain: users, teams, memberships, projects, generations, grants';

do $$
begin
    if not exists (select 1 from pg_type where typname = 'team_role' and typnamespace = 'authz'::regnamespace) then
        create type authz.team_role as enum ('owner', 'admin', 'editor', 'contributor', 'viewer');
    end if;
    if not exists (select 1 from pg_type where typname = 'visibility' and typnamespace = 'authz'::regnamespace) then
        create type authz.visibility as enum ('private', 'team', 'public');
    end if;
    if not exists (select 1 from pg_type where typname = 'generation_status' and typnamespace = 'authz'::regnamespace) then
        create type authz.generation_status as enum ('queued', 'running', 'succeeded', 'failed', 'canceled');
    end if;
    if not exists (select 1 from pg_type where typname = 'resource_type' and typnamespace = 'authz'::regnamespace) then
        create type authz.resource_type as enum ('team', 'project', 'generation');
    end if;
    -- Declared in increasing order of power; arrays of actions are kept in this order.
    if not exists (select 1 from pg_type where typname = 'action' and typnamespace = 'authz'::regnamespace) then
        create type authz.action as enum ('read', 'create', 'write', 'delete', 'share', 'admin');
    end if;
    if not exists (select 1 from pg_type where typname = 'access_reason' and typnamespace = 'authz'::regnamespace) then
        create type authz.access_reason as enum ('owner', 'team_role', 'public', 'grant', 'project');
    end if;
end $$;

-- User id 0 is reserved: in the authorization view it stands for "every user" (public rows).
create table if not exists authz.users (
    id         bigint primary key check (id > 0),
    name       text not null,
    email      text not null,
    created_at timestamptz not null default now()
);
create unique index if not exists users_email_key on authz.users (email);

create table if not exists authz.teams (
    id         bigint primary key check (id > 0),
    name       text not null,
    created_at timestamptz not null default now()
);

create table if not exists authz.team_members (
    team_id   bigint not null references authz.teams (id) on delete cascade,
    user_id   bigint not null references authz.users (id) on delete cascade,
    role      authz.team_role not null,
    joined_at timestamptz not null default now(),
    primary key (team_id, user_id)
);
-- "which teams is this user in" (the per-user authorization context, live path).
create index if not exists team_members_user_idx on authz.team_members (user_id) include (team_id, role);

-- A project is owned by exactly one user or one team. Only the columns the access rules
-- read live here, so that every update of this table is relevant to authorization.
create table if not exists authz.projects (
    id            bigint primary key check (id > 0),
    name          text not null,
    owner_user_id bigint references authz.users (id) on delete cascade,
    owner_team_id bigint references authz.teams (id) on delete cascade,
    visibility    authz.visibility not null default 'private',
    created_at    timestamptz not null default now(),
    constraint projects_one_owner check ((owner_user_id is null) <> (owner_team_id is null)),
    constraint projects_team_visibility_needs_team check (visibility <> 'team' or owner_team_id is not null)
);
create index if not exists projects_owner_user_idx on authz.projects (owner_user_id) where owner_user_id is not null;
create index if not exists projects_owner_team_idx on authz.projects (owner_team_id) include (visibility) where owner_team_id is not null;
create index if not exists projects_public_idx on authz.projects (id) where visibility = 'public';

-- Generations (media items). latency = completed_at - created_at, for finished ones.
create table if not exists authz.generations (
    id           bigint primary key check (id > 0),
    user_id      bigint not null references authz.users (id) on delete cascade,
    project_id   bigint not null references authz.projects (id) on delete cascade,
    status       authz.generation_status not null default 'queued',
    created_at   timestamptz not null default now(),
    started_at   timestamptz,
    completed_at timestamptz,
    size_bytes   bigint check (size_bytes >= 0),
    constraint generations_timings check (
        (started_at is null or started_at >= created_at) and
        (completed_at is null or completed_at >= coalesce(started_at, created_at)))
);
-- Per (user, project) stats over a recent window, and per project activity (team patterns).
create index if not exists generations_user_project_created_idx on authz.generations (user_id, project_id, created_at);
create index if not exists generations_project_created_idx on authz.generations (project_id, created_at) include (user_id);

-- Explicit per-resource grants of one action. Exactly one of team_id / project_id /
-- generation_id is set (real foreign keys, so a deleted resource takes its grants along);
-- resource_type / resource_id are derived from it.
create table if not exists authz.grants (
    id            bigint generated always as identity primary key,
    user_id       bigint not null references authz.users (id) on delete cascade,
    team_id       bigint references authz.teams (id) on delete cascade,
    project_id    bigint references authz.projects (id) on delete cascade,
    generation_id bigint references authz.generations (id) on delete cascade,
    action        authz.action not null,
    granted_by    bigint references authz.users (id) on delete set null,
    granted_at    timestamptz not null default now(),
    resource_type authz.resource_type not null generated always as (
        case when team_id is not null then 'team'::authz.resource_type
             when project_id is not null then 'project'::authz.resource_type
             else 'generation'::authz.resource_type end) stored,
    resource_id   bigint not null generated always as (coalesce(team_id, project_id, generation_id)) stored,
    constraint grants_one_resource check (num_nonnulls(team_id, project_id, generation_id) = 1)
);
create unique index if not exists grants_user_resource_action_key on authz.grants (user_id, resource_type, resource_id, action);
create index if not exists grants_team_idx on authz.grants (team_id) where team_id is not null;
create index if not exists grants_project_idx on authz.grants (project_id) where project_id is not null;
create index if not exists grants_generation_idx on authz.grants (generation_id) where generation_id is not null;
create index if not exists grants_granted_by_idx on authz.grants (granted_by) where granted_by is not null;

comment on table authz.team_members is 'team membership with a role; the role maps to actions (authz.role_actions)';
comment on table authz.projects is 'owned by exactly one user or one team; visibility private | team | public';
comment on table authz.grants is 'explicit grant of one action on one team, project or generation to one user';
