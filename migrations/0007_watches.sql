-- Capture rules for the reference domain: on every row change the strata trigger writes
-- these keys (L1/L2 invalidation) and dirty marks (L3 views) to the outbox, in the same
-- transaction. docs/l3.md, "Keys and marks", explains each choice.
--
-- Marks: <view prefix>:<entity>:<id>; uac = mv_user_authorization_context,
-- tcp = mv_team_collaboration_patterns, gps = mv_generation_performance_stats.
-- Every rule input of a view row is covered by a mark its lookup checks:
--   uac (user U, resource R): uac:user:U (memberships, grants, the user) and
--        uac:<type>:<id> (the project's owner / team / visibility; the team row).
--   tcp (team T): tcp:team:T (memberships, the team, projects moving in or out) and
--        tcp:project:P for each project P of T (generations).
--   gps (user U, project P): gps:user:U:project:P (generations).
-- Deleting a user, team or project cascades to the dependent rows, whose own triggers
-- write their marks.

-- L1/L2 key layout of the reference domain (docs/l3.md, "Keys and marks"):
--   authz:access:{user}:{type}:{id}   a cached decision (allowed actions of a user on a team or
--                                     project); generations are decided from their fact below
--                                     and their project's decision, never cached per user
--   authz:user:{id}, authz:team:{id}, authz:project:{id}, authz:generation:{id}   entity facts
--   authz:team:{id}:...               team-scoped values (members, collaboration pattern)
--   authz:stats:{user}:{project}      a cached generation_stats() answer
select strata.watch('authz.users',
    keys  => array['authz:user:{id}', 'authz:user:{id}:*', 'authz:access:{id}:*'],
    marks => array['uac:user:{id}']);

select strata.watch('authz.teams',
    keys  => array['authz:team:{id}', 'authz:team:{id}:*'],
    marks => array['uac:team:{id}', 'tcp:team:{id}']);

select strata.watch('authz.team_members',
    keys  => array['authz:access:{user_id}:*', 'authz:team:{team_id}:*'],
    marks => array['uac:user:{user_id}', 'tcp:team:{team_id}']);

-- A project's owner, team or visibility decides every user's access to it, so the cached
-- decisions of all users are invalidated with one prefix (authz:access:*, a single
-- generation bump in L2; L3 answers the reloads and is never stale).
select strata.watch('authz.projects',
    keys  => array['authz:project:{id}', 'authz:project:{id}:*', 'authz:team:{owner_team_id}:*',
                   'authz:access:*'],
    marks => array['uac:project:{id}', 'tcp:team:{owner_team_id}']);

select strata.watch('authz.grants',
    keys  => array['authz:access:{user_id}:*'],
    marks => array['uac:user:{user_id}']);

select strata.watch('authz.generations',
    keys  => array['authz:generation:{id}', 'authz:stats:{user_id}:{project_id}'],
    marks => array['gps:user:{user_id}:project:{project_id}', 'tcp:project:{project_id}']);
