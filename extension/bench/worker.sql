-- A stand-in for strata-worker during the benchmark: listens on the wake-up
-- channel and acknowledges every 10 ms (psql \watch), so that NOTIFY queues
-- drain and the coalescing sees acknowledgements as in production.
LISTEN strata_wakeup;
SELECT strata.ack_wakeup() \watch 0.01
