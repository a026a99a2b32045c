-- pgbench script (scripts/bench-l3.sh). Variables (-D): users, teams, projects, mpt (members per team).
-- A random member u of a random team t, and a random project p owned by t (seed.sql layout).
\set t random(1, :teams)
\set k random(0, :mpt - 1)
\set u 1 + (:t * 104729 + :k * 7919) % :users
\set j random(0, :projects / (2 * :teams) - 1)
\set p 2 * (:t + :teams * :j)
select * from strata.team_collaboration(:t);
