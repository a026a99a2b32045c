/* strata--0.1--0.2.sql: strata.next_xid() */

\echo Use "ALTER EXTENSION strata UPDATE TO '0.2'" to load this file. \quit

-- The next transaction id to be assigned (every transaction with an id now has a smaller
-- one): the bound an outbox reader waits for a missing seq's possible holders against.
CREATE FUNCTION strata.next_xid() RETURNS pg_catalog.xid8
    LANGUAGE c VOLATILE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'strata_next_xid';
