-- strata.worker_read(after, gap_lo, gap_hi, lim): the worker's acknowledgement and read in one call
-- (docs/capture.md, "Wake-ups"; strata-worker uses it when present).
--
-- The worker clears the wake-up flag and then reads the outbox: clearing first means a
-- writer that commits after the clear notifies again, so nothing it writes waits for the
-- poll. As two statements that cost two round trips per batch. In this function the read
-- is a separate statement of a volatile function, so in READ COMMITTED it takes its own
-- snapshot after the acknowledgement, exactly as the second of two statements did.
--
-- The read is planned once per session (a generic plan: index scans on seq for both parts,
-- whatever the arguments); with custom plans PostgreSQL planned it anew on every call, and
-- that planning was most of the server's cost of a worker round.
--
-- Like every strata.* function it is SECURITY DEFINER, owned by strata_definer (which may
-- read the outbox and acknowledge for this), and only strata_worker may execute it.
--
-- Returns one row per outbox row read (as OutboxStore.read: seq > after, limit lim, plus
-- the rows within the gap ranges gap_lo[i]..gap_hi[i] at or below after), or one row with a NULL seq when there is none;
-- every row carries the snapshot's xmin, the next transaction id after the snapshot was
-- taken (strata.next_xid(), reported as snapshot_xmax: every transaction that may still
-- commit a missing seq has a smaller id; the snapshot's own xmax is no such bound, since
-- transactions with ids at or above it may be running) and the in-flight writer count that
-- strata.ack_wakeup() returned (NULL when the extension is not preloaded).
-- The extension's 0.2 adds strata.next_xid(): the bound for missing seqs (docs/capture.md,
-- "Ordering and the worker's cursor").
alter extension strata update to '0.2';

create or replace function strata.worker_read(after bigint, gap_lo bigint[], gap_hi bigint[], lim integer)
returns table (in_flight bigint, snapshot_xmin text, snapshot_xmax text,
               seq bigint, keys text[], prefixes text[], marks text[])
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
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
        select c.seq, c.keys, c.prefixes, c.marks
          from unnest(gap_lo, gap_hi) as r(lo, hi)
          join strata.change_log c on c.seq between r.lo and r.hi
         where c.seq <= after
    ),
    found as (select * from fresh union all select * from late)
    select n, pg_snapshot_xmin(snap.s)::text, strata.next_xid()::text,
           f.seq, f.keys, f.prefixes, f.marks
      from snap left join found f on true
     order by f.seq;
end
$$;

grant select on table strata.change_log to strata_definer;
do $$
begin
    if to_regprocedure('strata.ack_wakeup()') is not null then
        grant execute on function strata.ack_wakeup() to strata_definer;
    end if;
end
$$;
alter function strata.worker_read(bigint, bigint[], bigint[], integer) owner to strata_definer;
revoke all on function strata.worker_read(bigint, bigint[], bigint[], integer) from public;
grant execute on function strata.worker_read(bigint, bigint[], bigint[], integer) to strata_worker;

-- A worker that starts with no consumer registered and an empty outbox starts at the
-- sequence's head (pg_sequence_last_value), not at 0 (README, strata-worker).
grant select on sequence strata.change_log_seq to strata_worker;
