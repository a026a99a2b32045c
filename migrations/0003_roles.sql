-- Roles, least privilege (docs/l3.md, "Roles"). All three are NOLOGIN group roles:
-- grant them to the login roles of applications, workers and the L3 functions' owner.
--   strata_app      may call the L3 lookup functions and strata.record_performance(); nothing else
--   strata_worker   drains the outbox (read/delete strata.change_log), keeps its cursor
--                   (strata.consumer_offsets), refreshes views through strata.refresh_view()
--   strata_definer  owns the materialized views and the SECURITY DEFINER functions of L3, so
--                   those functions run with "read the authz tables and the views" and not as
--                   the superuser that applied the migrations. Never granted to a login role.
-- Roles are cluster-wide: created only when missing, so every database can apply this file.
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'strata_app') then
        create role strata_app nologin;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'strata_worker') then
        create role strata_worker nologin;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'strata_definer') then
        create role strata_definer nologin;
    end if;
end $$;

comment on role strata_app is 'Strata: may call the L3 lookup functions and strata.record_performance()';
comment on role strata_worker is 'Strata: drains the outbox, keeps its cursor, refreshes L3 views';
comment on role strata_definer is 'Strata: owner of the L3 materialized views and SECURITY DEFINER functions; not for logins';

-- Name resolution only; every object is granted one by one below and in later files.
grant usage on schema strata to strata_app, strata_worker, strata_definer;
grant usage on schema authz to strata_definer;

-- The worker: the outbox (the extension revokes it from PUBLIC) and its cursor.
grant select, delete on table strata.change_log to strata_worker;
grant select, insert, update on table strata.consumer_offsets to strata_worker;
do $$
begin
    if to_regprocedure('strata.ack_wakeup()') is not null then
        grant execute on function strata.ack_wakeup() to strata_worker;
    end if;
end $$;

-- The owner of L3: reads the base tables (view definitions and the live path) and the
-- dirty set; deletes dirty marks covered by a refresh.
grant select on all tables in schema authz to strata_definer;
grant select, delete on table strata.dirty_marks to strata_definer;

-- Nobody else reads the reference domain by default.
revoke all on schema authz from public;
revoke all on all tables in schema authz from public;
