-- pgbench script (scripts/bench-l3.sh): the floor of any lookup measured with pgbench here,
-- one prepared statement that does no work (client, loopback TCP, protocol, executor start).
select true;
