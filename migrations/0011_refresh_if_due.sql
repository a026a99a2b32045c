-- strata.refresh_view_if_due(view): what the scheduler calls (docs/l3.md, "Refresh").
--
-- A scheduler decides from strata.refresh_candidates() and then calls the refresh; with
-- two schedulers (two worker instances) one may decide from a snapshot taken just before
-- the other's refresh committed, and refresh the view again at once, ignoring min_interval.
-- This function takes the view's refresh lock first and then asks refresh_candidates()
-- again: in READ COMMITTED each statement of a volatile function has a new snapshot, and
-- the lock is only granted after the other refresh's transaction ended, so its result is
-- seen. Not due any more -> outcome 'skipped' with the reason; due -> strata.refresh_view()
-- (the advisory lock is re-entrant within the session). strata.refresh_view() stays as it
-- was: an operator's call refreshes whether due or not.
create or replace function strata.refresh_view_if_due(p_view text)
returns table (view_name text, outcome text, rows bigint, marks_cleared bigint,
               started_at timestamptz, duration interval, error text)
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
    v strata.views := strata_private.registered_view(p_view);
    still_due boolean;
    why text;
begin
    if not pg_try_advisory_xact_lock('strata.views'::regclass::oid::integer, v.relation::oid::integer) then
        return query select v.name, 'skipped'::text, null::bigint, null::bigint, null::timestamptz,
                            null::interval, 'a refresh of this view is already running'::text;
        return;
    end if;
    select c.due, c.reason into still_due, why from strata.refresh_candidates() c where c.view_name = v.name;
    if not coalesce(still_due, false) then
        return query select v.name, 'skipped'::text, null::bigint, null::bigint, null::timestamptz,
                            null::interval, ('no longer due (' || coalesce(why, 'unknown') || '): refreshed meanwhile by another session')::text;
        return;
    end if;
    return query select * from strata.refresh_view(v.name);
end $$;
comment on function strata.refresh_view_if_due(text) is
    'the scheduler''s refresh: under the view''s refresh lock, re-checks strata.refresh_candidates() and refreshes only if still due; outcome ok | failed | skipped';

alter function strata.refresh_view_if_due(text) owner to strata_definer;
revoke all on function strata.refresh_view_if_due(text) from public;
grant execute on function strata.refresh_view_if_due(text) to strata_worker;
