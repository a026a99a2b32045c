-- pgbench: a single-row UPDATE by random id (pgbench -D rows=N).
\set id random(1, :rows)
UPDATE bench_items SET val = val + 1 WHERE id = :id;
