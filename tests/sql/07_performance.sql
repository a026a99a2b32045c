-- Realtime performance rows: merging samples into buckets, the last-hour summary, retention.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
begin;
select plan(18);
delete from strata.cache_performance_realtime;
delete from strata.cache_performance_rollup;

select strata.record_performance('app-1', 'l1', 100, 90, 10, 1, 5, 20, 3, 1000, 0, date_trunc('minute', now()) + interval '1 s');
select strata.record_performance('app-1', 'l1', 300, 270, 30, 3, 7, 15, 1, 1200, 2, date_trunc('minute', now()) + interval '2 s');
select is((select count(*) from strata.cache_performance_realtime), 1::bigint, 'two samples in one 10 s bucket: one row');
select is((select samples || '/' || requests || '/' || hits || '/' || misses || '/' || evictions || '/' || errors
             from strata.cache_performance_realtime), '2/400/360/40/4/2', 'counts add up');
select is((select hit_ratio from strata.cache_performance_realtime), 0.9::float8, 'hit ratio computed');
select is((select latency_p50_us from strata.cache_performance_realtime), 2.5::float8, 'p50 is request-weighted (1*100 + 3*300) / 400');
select is((select latency_p95_us from strata.cache_performance_realtime), 6.5::float8, 'p95 is request-weighted');
select is((select latency_p99_us from strata.cache_performance_realtime), 20::float8, 'p99 keeps the worst');
select is((select memory_bytes from strata.cache_performance_realtime), 1200::bigint, 'memory keeps the latest');
select is((select bucket_start from strata.cache_performance_realtime), date_trunc('minute', now()), 'bucket aligned to 10 s');

select strata.record_performance('app-2', 'l1', 100, 50, 50, 10, 10, 10, 0, 500, 0, date_trunc('minute', now()) + interval '3 s');
select strata.record_performance('worker-1', 'worker', 10, 10, 0, p_at => now() - interval '10 minutes');
select strata.record_performance('app-1', 'l2', 5, 4, 1, p_at => now() - interval '2 hours');
select is((select instances || '/' || requests || '/' || hits || '/' || memory_bytes
             from strata.cache_performance_last_hour where layer = 'l1'), '2/500/410/1700', 'last hour, l1: both instances, latest memory summed');
select is((select round(hit_ratio::numeric, 2) from strata.cache_performance_last_hour where layer = 'l1'), 0.82, 'last hour hit ratio');
select is((select array_agg(layer order by layer) from strata.cache_performance_last_hour), '{l1,worker}', 'older buckets are not in the last hour');

-- retention: 2 h old bucket rolled up into its hour, then dropped after the rollup retention
select is((select buckets_rolled_up || '/' || rollups_deleted from strata.prune_performance('1 hour', '1 day')), '1/0', 'prune rolls up old buckets');
select is((select count(*) from strata.cache_performance_realtime where bucket_start < now() - interval '1 hour'), 0::bigint, 'old buckets gone');
select is((select requests || '/' || bucket_width from strata.cache_performance_rollup where layer = 'l2'), '5/01:00:00', 'hourly rollup row');
select strata.record_performance('app-1', 'l2', 7, 7, 0, p_at => now() - interval '2 hours');
select is((select buckets_rolled_up from strata.prune_performance('1 hour', '1 day')), 1::bigint, 'a late sample for a rolled-up hour ...');
select is((select requests from strata.cache_performance_rollup where layer = 'l2'), 12::bigint, '... merges into the rollup');
update strata.cache_performance_rollup set bucket_start = bucket_start - interval '2 days';
select is((select rollups_deleted from strata.prune_performance('1 hour', '1 day')), 1::bigint, 'rollups older than their retention are dropped');
select is((select count(*) from strata.cache_performance_realtime), 3::bigint, 'recent buckets stay');

select * from finish();
rollback;
