-- A small demo schema with a watched table, for `make up`. Idempotent.
set client_min_messages = warning;
create schema if not exists demo;

create table if not exists demo.team_members (
    team_id bigint not null,
    user_id bigint not null,
    role    text   not null default 'viewer',
    primary key (team_id, user_id)
);

-- Invalidate the member's permissions and everything cached under the team.
do $$ begin
    perform strata.watch('demo.team_members',
                         array['authz:user:{user_id}', 'authz:team:{team_id}:*']);
end $$;

insert into demo.team_members (team_id, user_id, role)
select t, u, case when u = 1 then 'owner' else 'editor' end
  from generate_series(1, 3) t, generate_series(1, 5) u
on conflict do nothing;
