-- strata.worker_read(): gap lookups by index, never a scan of the outbox.
--
-- In 0012 the rows within gap ranges were found with a join of the ranges to
-- strata.change_log on "seq between lo and hi". Its generic plan (planned once per
-- session) scanned the whole outbox below the cursor and materialized it for the join: with
-- writers in flight there are gaps in almost every batch, and the outbox keeps up to a prune
-- interval of applied rows, so every batch of a busy worker read tens of thousands of rows.
-- Each range is now looked up on its own (LATERAL, OFFSET 0 keeps it a separate subquery)
-- with an index range scan on seq, and sequential scans are priced out for the function's
-- statement: the plan is cached for the session, and a plan made while the outbox was nearly
-- empty must not scan it once it has grown.
create or replace function strata.worker_read(after bigint, gap_lo bigint[], gap_hi bigint[], lim integer)
returns table (in_flight bigint, snapshot_xmin text, snapshot_xmax text,
               seq bigint, keys text[], prefixes text[], marks text[])
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
#variable_conflict use_column
declare
    n bigint := strata.ack_wakeup();
begin
    return query
    with snap as (select pg_current_snapshot() as s),
    fresh as (
        select c.seq, c.keys, c.prefixes, c.marks from strata.change_log c
         where c.seq > after order by c.seq limit lim
    ),
    late as (
        select g.seq, g.keys, g.prefixes, g.marks
          from unnest(gap_lo, gap_hi) as r(lo, hi)
          cross join lateral (
              select c.seq, c.keys, c.prefixes, c.marks from strata.change_log c
               where c.seq >= r.lo and c.seq <= least(r.hi, after)
              offset 0) g
    ),
    found as (select * from fresh union all select * from late)
    select n, pg_snapshot_xmin(snap.s)::text, strata.next_xid()::text,
           f.seq, f.keys, f.prefixes, f.marks
      from snap left join found f on true
     order by f.seq;
end
$$;
