-- A role for Redis-less L1 invalidation subscribers (docs/invalidation.md): application
-- instances that follow the outbox themselves instead of the worker's Redis channel.
--   strata_subscriber  reads strata.change_log (never deletes: it does not own the outbox's
--                      retention) and strata.consumer_offsets (to tell pruning past its
--                      cursor from a quiet outbox). No lookups, no views, no wake-up acks.
-- Roles are cluster-wide: created only when missing, so every database can apply this file.
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'strata_subscriber') then
        create role strata_subscriber nologin;
    end if;
end $$;

comment on role strata_subscriber is 'Strata: reads the outbox for Redis-less L1 invalidation';

grant usage on schema strata to strata_subscriber;
grant select on table strata.change_log, strata.consumer_offsets to strata_subscriber;
