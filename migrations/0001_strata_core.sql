-- Strata core: the capture extension (outbox, watches, dirty marks) and the worker's cursor.
create extension if not exists strata;

-- One row per consumer of the outbox: the highest seq below which every change has been
-- applied to Redis and published (see docs/capture.md, "Ordering and the worker's cursor").
create table if not exists strata.consumer_offsets (
    consumer   text primary key,
    last_seq   bigint not null default 0,
    updated_at timestamptz not null default now()
);
comment on table strata.consumer_offsets is
    'strata-worker cursor: every outbox row with seq <= last_seq has been applied to Redis and published';
