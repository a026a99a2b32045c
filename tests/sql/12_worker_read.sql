-- 0012_worker_read.sql, 0013_worker_read_index.sql: strata.worker_read() acknowledges and reads the outbox as the
-- worker's two statements did: rows above the cursor in seq order up to the limit, the
-- rows within gap ranges at or below it, one row with a NULL seq when there is nothing, the
-- snapshot bounds on every row; runnable by strata_worker only.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\ir _fixture.psql
begin;
select plan(15);

select coalesce(max(seq), 0) as before from strata.change_log \gset
select strata.invalidate(array['wr:1']) as s1 \gset
select strata.invalidate(array['wr:2', 'wr:grp:*']) as s2 \gset
select strata.invalidate(array['wr:3']) as s3 \gset

create temp table r on commit drop as select * from strata.worker_read(:before, '{}', '{}', 10);
select is((select array_agg(seq order by seq) from r), array[:s1, :s2, :s3]::bigint[], 'the rows above the cursor, in order');
select is((select keys from r where seq = :s2), array['wr:2'], 'with their keys');
select is((select prefixes from r where seq = :s2), array['wr:grp:*'], 'and prefixes');
select ok((select bool_and(snapshot_xmin is not null and snapshot_xmax is not null
                           and snapshot_xmin::xid8 <= snapshot_xmax::xid8) from r), 'every row carries the snapshot bounds');
select ok((select bool_and(in_flight is null or in_flight >= 1) from r),
          'the in-flight count includes this transaction (NULL without the preloaded library)');

select is((select array_agg(seq order by seq) from strata.worker_read(:before, '{}', '{}', 2)), array[:s1, :s2]::bigint[], 'the limit holds');
select is((select array_agg(seq order by seq) from strata.worker_read(:s3, array[:s2]::bigint[], array[:s2]::bigint[], 10)), array[:s2]::bigint[],
          'a gap at or below the cursor is read again');
select is((select array_agg(seq order by seq) from strata.worker_read(:s1, array[:s1]::bigint[], array[:s1]::bigint[], 10)), array[:s1, :s2, :s3]::bigint[],
          'gaps and the rows above the cursor together');
select is((select array_agg(seq order by seq) from strata.worker_read(:s3, array[:before + 1]::bigint[], array[:s3]::bigint[], 10)),
          array[:s1, :s2, :s3]::bigint[], 'a gap range returns every row within it');
select is((select count(*) from strata.worker_read(:s3, '{}', '{}', 10) where seq is null and snapshot_xmin is not null), 1::bigint,
          'nothing to read: one row with the snapshot bounds and a NULL seq');

-- gap ranges are index lookups, never a scan of the outbox below the cursor (0013). The
-- plan is made for the session and remade when the table's statistics change: with many
-- rows below the cursor on few live pages (an outbox between prunes), the join of 0012
-- read every row below the cursor for every read that had gaps.
select count(strata.invalidate(array['wr:bulk:' || i])) as bulk from generate_series(1, 20000) i \gset
delete from strata.change_log where keys[1] like 'wr:bulk:%' and seq % 50 <> 0;
analyze strata.change_log;
select max(seq) as top from strata.change_log \gset
select seq_tup_read + idx_tup_fetch as fetched from pg_stat_xact_user_tables where relid = 'strata.change_log'::regclass \gset
select is((select array_agg(seq order by seq) from strata.worker_read(:top, array[:s1, :s3]::bigint[], array[:s1, :s3]::bigint[], 10) where seq is not null),
          array[:s1, :s3]::bigint[], 'gaps far below the cursor are found');
select cmp_ok((select seq_tup_read + idx_tup_fetch from pg_stat_xact_user_tables where relid = 'strata.change_log'::regclass) - :fetched, '<=', 10::bigint,
          'by reading the rows in the gaps, not the outbox below the cursor');

-- as the worker's role: the definer's privileges read the outbox the worker cannot reach otherwise
set local role strata_worker;
select is((select count(*) from strata.worker_read(:before, '{}', '{}', 10) where seq in (:s1, :s2, :s3)), 3::bigint, 'strata_worker may call it');
reset role;
set local role strata_app;
select throws_ok(format('select * from strata.worker_read(%s, ''{}'', ''{}'', 10)', :before), '42501', null, 'strata_app may not');
reset role;
select is((select prosecdef from pg_proc where oid = 'strata.worker_read(bigint, bigint[], bigint[], integer)'::regprocedure), true,
          'SECURITY DEFINER');

select * from finish();
rollback;
