-- pgbench script (scripts/bench-l3.sh). Variables (-D): users, teams, projects, mpt (members per team).
-- A random member u of a random team t, and a random project p owned by t (seed.sql layout).
\set t random(1, :teams)
\set k random(0, :mpt - 1)
\set u 1 + (:t * 104729 + :k * 7919) % :users
\set j random(0, :projects / (2 * :teams) - 1)
\set p 2 * (:t + :teams * :j)
-- The same question answered by a live query over the base tables: is there a rule edge
-- (owner, team role, public, grant) giving this action? The fastest live form of the rules
-- (it is also what check_access's dirty path runs).
select exists (select 1 from strata_private.authorization_edges e
                where e.user_id in (:u, 0) and e.resource_type = 'project' and e.resource_id = :p
                  and 'read' = any (e.actions));
