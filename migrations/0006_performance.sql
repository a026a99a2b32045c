-- Realtime cache performance: time-bucketed samples per instance and layer, written by the
-- worker and the application library through strata.record_performance(); bounded by
-- strata.prune_performance() (old buckets rolled up hourly, old rollups dropped).
-- docs/l3.md, "Performance tables".

create table if not exists strata.cache_performance_realtime (
    bucket_start   timestamptz not null,
    bucket_width   interval not null,
    instance       text not null check (instance ~ '^[[:graph:]]{1,128}$'),
    layer          text not null check (layer in ('l1', 'l2', 'l3', 'worker')),
    samples        integer not null default 0,           -- record_performance() calls merged in
    requests       bigint not null default 0,
    hits           bigint not null default 0,
    misses         bigint not null default 0,
    hit_ratio      double precision generated always as
                   (case when hits + misses > 0 then hits::float8 / (hits + misses) end) stored,
    latency_p50_us double precision,                     -- request-weighted mean of samples' p50
    latency_p95_us double precision,                     -- request-weighted mean of samples' p95
    latency_p99_us double precision,                     -- worst sample's p99
    evictions      bigint not null default 0,
    memory_bytes   bigint,                               -- latest sample
    errors         bigint not null default 0,
    updated_at     timestamptz not null default now(),
    primary key (bucket_start, instance, layer)
);
create index if not exists cache_performance_realtime_layer_idx
    on strata.cache_performance_realtime (layer, bucket_start);
comment on table strata.cache_performance_realtime is
    'cache performance samples per (bucket, instance, layer); written via strata.record_performance(), pruned by strata.prune_performance()';

-- Hourly rollups of pruned buckets (same columns).
create table if not exists strata.cache_performance_rollup (
    like strata.cache_performance_realtime including defaults including generated including constraints,
    primary key (bucket_start, instance, layer)
);
comment on table strata.cache_performance_rollup is 'hourly rollups of strata.cache_performance_realtime buckets older than the retention';

-- Merges one sample (counts since the previous sample, latency percentiles over them)
-- into its bucket: counts add up, p50/p95 are request-weighted, p99 keeps the worst,
-- memory keeps the latest value.
create or replace function strata.record_performance(
    p_instance text, p_layer text,
    p_requests bigint, p_hits bigint, p_misses bigint,
    p_latency_p50_us double precision default null,
    p_latency_p95_us double precision default null,
    p_latency_p99_us double precision default null,
    p_evictions bigint default 0, p_memory_bytes bigint default null, p_errors bigint default 0,
    p_at timestamptz default now(), p_bucket interval default '10 seconds')
returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    if p_instance is null or p_instance !~ '^[[:graph:]]{1,128}$' then
        raise exception 'instance must be 1 to 128 printable characters without spaces, got %', coalesce(quote_literal(p_instance), 'NULL')
            using errcode = 'invalid_parameter_value';
    end if;
    if p_layer is null or p_layer not in ('l1', 'l2', 'l3', 'worker') then
        raise exception 'unknown layer %', coalesce(quote_literal(p_layer), 'NULL')
            using errcode = 'invalid_parameter_value', hint = 'allowed layers: l1, l2, l3, worker';
    end if;
    if p_requests is null or p_hits is null or p_misses is null
       or p_requests < 0 or p_hits < 0 or p_misses < 0
       or coalesce(p_evictions, 0) < 0 or coalesce(p_errors, 0) < 0 or coalesce(p_memory_bytes, 0) < 0 then
        raise exception 'requests, hits and misses must be non-negative numbers, evictions, errors and memory_bytes non-negative or NULL'
            using errcode = 'invalid_parameter_value';
    end if;
    if p_latency_p50_us < 0 or p_latency_p95_us < 0 or p_latency_p99_us < 0 then
        raise exception 'latencies must be non-negative' using errcode = 'invalid_parameter_value';
    end if;
    if p_at is null or p_bucket is null or p_bucket < interval '1 second' or p_bucket > interval '1 hour' then
        raise exception 'at must not be NULL and bucket must be between 1 second and 1 hour'
            using errcode = 'invalid_parameter_value';
    end if;
    insert into strata.cache_performance_realtime as c
           (bucket_start, bucket_width, instance, layer, samples, requests, hits, misses,
            latency_p50_us, latency_p95_us, latency_p99_us, evictions, memory_bytes, errors, updated_at)
    values (date_bin(p_bucket, p_at, timestamptz '2000-01-01 00:00:00+00'), p_bucket, p_instance, p_layer, 1,
            p_requests, p_hits, p_misses, p_latency_p50_us, p_latency_p95_us, p_latency_p99_us,
            coalesce(p_evictions, 0), p_memory_bytes, coalesce(p_errors, 0), now())
    on conflict (bucket_start, instance, layer) do update set
        samples        = c.samples + 1,
        requests       = c.requests + excluded.requests,
        hits           = c.hits + excluded.hits,
        misses         = c.misses + excluded.misses,
        latency_p50_us = strata_private.weighted(c.latency_p50_us, c.requests, excluded.latency_p50_us, excluded.requests),
        latency_p95_us = strata_private.weighted(c.latency_p95_us, c.requests, excluded.latency_p95_us, excluded.requests),
        latency_p99_us = greatest(c.latency_p99_us, excluded.latency_p99_us),
        evictions      = c.evictions + excluded.evictions,
        memory_bytes   = coalesce(excluded.memory_bytes, c.memory_bytes),
        errors         = c.errors + excluded.errors,
        updated_at     = now();
end $$;

-- Request-weighted mean of two values (either may be NULL).
create or replace function strata_private.weighted(a double precision, wa bigint, b double precision, wb bigint)
returns double precision
language sql immutable parallel safe
as $$
    select case
        when a is null then b
        when b is null then a
        when coalesce(wa, 0) + coalesce(wb, 0) = 0 then (a + b) / 2
        else (a * coalesce(wa, 0) + b * coalesce(wb, 0)) / (coalesce(wa, 0) + coalesce(wb, 0))
    end
$$;

-- Retention: buckets older than p_keep move (atomically: delete ... returning) into hourly
-- rollups; rollups older than p_keep_rollups are dropped. Returns the row counts.
create or replace function strata.prune_performance(p_keep interval default '24 hours',
                                                    p_keep_rollups interval default '30 days')
returns table (buckets_rolled_up bigint, rollups_deleted bigint)
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
    moved bigint;
    dropped bigint;
begin
    if p_keep is null or p_keep < interval '0' or p_keep_rollups is null or p_keep_rollups < p_keep then
        raise exception 'keep must be a non-negative interval and keep_rollups at least keep'
            using errcode = 'invalid_parameter_value';
    end if;
    with d as (
        delete from strata.cache_performance_realtime
         where bucket_start < now() - p_keep
        returning *
    ), agg as (
        select date_bin(interval '1 hour', d.bucket_start, timestamptz '2000-01-01 00:00:00+00') as hour,
               d.instance, d.layer, count(*) as n,
               sum(d.samples)::integer as samples, sum(d.requests)::bigint as requests,
               sum(d.hits)::bigint as hits, sum(d.misses)::bigint as misses,
               sum(d.latency_p50_us * d.requests) / nullif(sum(d.requests) filter (where d.latency_p50_us is not null), 0) as p50,
               sum(d.latency_p95_us * d.requests) / nullif(sum(d.requests) filter (where d.latency_p95_us is not null), 0) as p95,
               max(d.latency_p99_us) as p99,
               sum(d.evictions)::bigint as evictions,
               (array_agg(d.memory_bytes order by d.bucket_start desc) filter (where d.memory_bytes is not null))[1] as memory_bytes,
               sum(d.errors)::bigint as errors
          from d
         group by 1, 2, 3
    ), ins as (
        insert into strata.cache_performance_rollup as c
               (bucket_start, bucket_width, instance, layer, samples, requests, hits, misses,
                latency_p50_us, latency_p95_us, latency_p99_us, evictions, memory_bytes, errors, updated_at)
        select hour, interval '1 hour', instance, layer, samples, requests, hits, misses,
               p50, p95, p99, evictions, memory_bytes, errors, now()
          from agg
        on conflict (bucket_start, instance, layer) do update set
            samples        = c.samples + excluded.samples,
            requests       = c.requests + excluded.requests,
            hits           = c.hits + excluded.hits,
            misses         = c.misses + excluded.misses,
            latency_p50_us = strata_private.weighted(c.latency_p50_us, c.requests, excluded.latency_p50_us, excluded.requests),
            latency_p95_us = strata_private.weighted(c.latency_p95_us, c.requests, excluded.latency_p95_us, excluded.requests),
            latency_p99_us = greatest(c.latency_p99_us, excluded.latency_p99_us),
            evictions      = c.evictions + excluded.evictions,
            memory_bytes   = coalesce(excluded.memory_bytes, c.memory_bytes),
            errors         = c.errors + excluded.errors,
            updated_at     = now()
        returning 1
    )
    select coalesce((select sum(n) from agg), 0)::bigint into moved;
    with d as (delete from strata.cache_performance_rollup where bucket_start < now() - p_keep_rollups returning 1)
    select count(*) into dropped from d;
    return query select moved, dropped;
end $$;

-- What an operator looks at first: the last hour per layer, all instances together.
create or replace view strata.cache_performance_last_hour as
    with recent as (
        select * from strata.cache_performance_realtime where bucket_start >= now() - interval '1 hour'
    ), latest_memory as (
        select distinct on (instance, layer) layer, memory_bytes
          from recent where memory_bytes is not null
         order by instance, layer, bucket_start desc
    )
    select r.layer,
           count(distinct r.instance) as instances,
           sum(r.requests)::bigint as requests,
           round(sum(r.requests) / 3600.0, 1) as requests_per_second,
           sum(r.hits)::bigint as hits,
           sum(r.misses)::bigint as misses,
           sum(r.hits)::float8 / nullif(sum(r.hits) + sum(r.misses), 0) as hit_ratio,
           sum(r.latency_p50_us * r.requests) / nullif(sum(r.requests) filter (where r.latency_p50_us is not null), 0) as latency_p50_us,
           sum(r.latency_p95_us * r.requests) / nullif(sum(r.requests) filter (where r.latency_p95_us is not null), 0) as latency_p95_us,
           max(r.latency_p99_us) as latency_p99_max_us,
           sum(r.evictions)::bigint as evictions,
           sum(r.errors)::bigint as errors,
           (select sum(m.memory_bytes) from latest_memory m where m.layer = r.layer)::bigint as memory_bytes,
           max(r.updated_at) as last_sample_at
      from recent r
     group by r.layer
     order by r.layer;
comment on view strata.cache_performance_last_hour is
    'the last hour per cache layer, all instances: requests, hit ratio, latency, evictions, errors, current memory';

-- Ownership and privileges: the functions write as strata_definer, which owns the tables.
alter table strata.cache_performance_realtime owner to strata_definer;
alter table strata.cache_performance_rollup owner to strata_definer;
alter view strata.cache_performance_last_hour owner to strata_definer;
alter function strata.record_performance(text, text, bigint, bigint, bigint, double precision, double precision,
    double precision, bigint, bigint, bigint, timestamptz, interval) owner to strata_definer;
alter function strata.prune_performance(interval, interval) owner to strata_definer;
alter function strata_private.weighted(double precision, bigint, double precision, bigint) owner to strata_definer;

revoke all on strata.cache_performance_realtime, strata.cache_performance_rollup, strata.cache_performance_last_hour from public;
revoke all on function strata.record_performance(text, text, bigint, bigint, bigint, double precision, double precision,
    double precision, bigint, bigint, bigint, timestamptz, interval) from public;
revoke all on function strata.prune_performance(interval, interval) from public;
revoke all on function strata_private.weighted(double precision, bigint, double precision, bigint) from public;

grant execute on function strata.record_performance(text, text, bigint, bigint, bigint, double precision, double precision,
    double precision, bigint, bigint, bigint, timestamptz, interval) to strata_app, strata_worker;
grant execute on function strata.prune_performance(interval, interval) to strata_worker;
grant select on strata.cache_performance_realtime, strata.cache_performance_rollup, strata.cache_performance_last_hour
    to strata_worker;
