-- pgbench script (scripts/bench-l3.sh): one membership change per transaction (a non-owner,
-- non-admin member of a random team flips between editor and viewer). Each writes the
-- outbox and the marks uac:user:U, tcp:team:T through the capture trigger.
\set t random(1, :teams)
\set k random(3, :mpt - 1)
\set u 1 + (:t * 104729 + :k * 7919) % :users
update authz.team_members
   set role = (case when role = 'editor' then 'viewer' else 'editor' end)::authz.team_role
 where team_id = :t and user_id = :u;
