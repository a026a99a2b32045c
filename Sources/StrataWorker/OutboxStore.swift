import Logging
import StrataPostgres

/// The worker's SQL: reading the outbox, its cursor, wake-up acknowledgements and pruning.
///
/// The statements that run for every batch are prepared statements of the connection,
/// planned once per connection rather than for every batch.
///
/// ``read(after:gaps:limit:)`` is public so that other outbox readers (the Redis-less L1
/// subscriber) read exactly as the worker does, with ``OutboxCursor``; the cursor,
/// wake-up and pruning statements stay the worker's own.
public struct OutboxStore: Sendable {
    let connection: PostgresConnection
    let consumer: String

    /// `consumer` names the row of `strata.consumer_offsets` that the worker's cursor
    /// statements use; a reader that only calls ``read(after:gaps:limit:)`` never touches it.
    public init(connection: PostgresConnection, consumer: String) {
        self.connection = connection
        self.consumer = consumer
    }

    /// Outbox rows and the bounds of the snapshot they were read in.
    public struct Read: Sendable {
        public var rows: [Row]
        /// `pg_snapshot_xmin` of the read's snapshot (a full transaction id).
        public var xmin: UInt64
        /// The next transaction id after the read's snapshot was taken (`strata.next_xid()`):
        /// every transaction that may still commit a seq missing from the read has a smaller
        /// id. (The snapshot's own `xmax` is no such bound: transactions with ids at or above
        /// it may be running, and its `xmin` ignores them.)
        public var xmax: UInt64
    }

    /// One row of `strata.change_log`.
    public struct Row: Sendable {
        public var seq: Int64
        public var keys: [String]
        public var prefixes: [String]
        public var marks: [String]
    }

    /// The channel the capture trigger NOTIFYs (docs/capture.md, "Wake-ups").
    public static let wakeupChannel = "strata_wakeup"

    /// The saved cursor. A new consumer starts where the slowest existing consumer is
    /// (rows below that may already be pruned), or just below the oldest outbox row.
    ///
    /// With no consumer and an empty outbox it starts at the sequence's head rather than
    /// at 0: below the head, every seq that will still appear belongs to a transaction in
    /// progress now, and starting at 0 would make every other seq below the head a gap to
    /// track (millions on a long-lived database). So it waits until every transaction in
    /// progress at this point has ended (as `CREATE INDEX CONCURRENTLY` does; `waiting` is
    /// called every 10 s with the oldest of them), then starts just below the lowest row
    /// they committed, or at the head.
    func loadCursor(waiting: (UInt64) -> Void = { _ in }) async throws -> Int64 {
        let rows = try await connection.query(
            """
            select coalesce(
                       (select last_seq from strata.consumer_offsets where consumer = $1),
                       (select min(last_seq) from strata.consumer_offsets),
                       (select min(seq) - 1 from strata.change_log)),
                   strata.next_xid()::text,
                   coalesce(pg_sequence_last_value('strata.change_log_seq'), 0)
            """, consumer)
        guard let row = rows.first else { return 0 }
        if let cursor = try row.decode(Int64?.self, at: 0) { return cursor }
        let head = try row.decode(Int64.self, at: 2)
        guard head > 0, let xmax = UInt64(try row.decode(String.self, at: 1)) else { return 0 }
        let clock = ContinuousClock()
        var lastReport = clock.now
        while true {
            let now = try await connection.query("select pg_snapshot_xmin(pg_current_snapshot())::text")
            let xmin = UInt64(try now.first?.decode(String.self, at: 0) ?? "") ?? 0
            if xmin >= xmax { break }
            if clock.now - lastReport >= .seconds(10) {
                waiting(xmin)
                lastReport = clock.now
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        let late = try await connection.query("select min(seq) from strata.change_log where seq <= $1", head)
        if let lowest = try late.first?.decode(Int64?.self, at: 0) { return lowest - 1 }
        return head
    }

    static let saveCursorSQL = """
        insert into strata.consumer_offsets as o (consumer, last_seq) values ($1, $2)
        on conflict (consumer) do update
           set last_seq = greatest(o.last_seq, excluded.last_seq), updated_at = now()
        """

    func saveCursor(_ seq: Int64) async throws {
        _ = try await connection.preparedQuery(Self.saveCursorSQL, consumer, seq)
    }

    /// ``saveCursor(_:)`` in a blocking session of the store's connection.
    func saveCursor(_ seq: Int64, in session: PostgresBlockingSession) throws {
        _ = try session.preparedQuery(Self.saveCursorSQL, consumer, seq)
    }

    /// Clears the wake-up flag; returns the number of outbox writers in flight, or nil
    /// when the extension is not preloaded (then every writer notifies and nothing can
    /// be missed).
    func ackWakeup(in session: PostgresBlockingSession) throws -> Int64? {
        let rows = try session.preparedQuery("select strata.ack_wakeup()")
        return try rows.first?.decode(Int64?.self, at: 0)
    }

    /// Reads up to `limit` rows above `after`, plus the rows within `gaps` (at or below
    /// `after`) that have appeared, in ONE statement so that they and the snapshot bounds
    /// come from the same snapshot. Each gap range is its own index range scan on `seq`
    /// (a join of the ranges to the outbox let the planner scan the whole outbox).
    public func read(after: Int64, gaps: [ClosedRange<Int64>], limit: Int) async throws -> Read {
        let rows = try await connection.preparedQuery(
            Self.readSQL, after, limit, Self.lowerBounds(gaps), Self.upperBounds(gaps))
        return try Self.decodeRead(rows, from: 0)
    }

    /// ``read(after:gaps:limit:)`` in a blocking session of the store's connection.
    func read(after: Int64, gaps: [ClosedRange<Int64>], limit: Int, in session: PostgresBlockingSession) throws -> Read {
        let rows = try session.preparedQuery(
            Self.readSQL, after, limit, Self.lowerBounds(gaps), Self.upperBounds(gaps))
        return try Self.decodeRead(rows, from: 0)
    }

    static let readSQL = """
        with snap as (select pg_current_snapshot() as s),
        fresh as (
            select seq, keys, prefixes, marks from strata.change_log
             where seq > $1 order by seq limit $2
        ),
        late as (
            select g.seq, g.keys, g.prefixes, g.marks
              from unnest($3::bigint[], $4::bigint[]) as r(lo, hi)
              cross join lateral (
                  select c.seq, c.keys, c.prefixes, c.marks from strata.change_log c
                   where c.seq >= r.lo and c.seq <= least(r.hi, $1)
                  offset 0) g
        ),
        found as (select * from fresh union all select * from late)
        select pg_snapshot_xmin(snap.s)::text, strata.next_xid()::text,
               f.seq, f.keys, f.prefixes, f.marks
          from snap left join found f on true
         order by f.seq
        """

    /// The gap ranges as the two `bigint[]` parameters of a read: first seqs, last seqs.
    private static func lowerBounds(_ gaps: [ClosedRange<Int64>]) -> [String] { gaps.map { String($0.lowerBound) } }
    private static func upperBounds(_ gaps: [ClosedRange<Int64>]) -> [String] { gaps.map { String($0.upperBound) } }

    /// Decodes the read's columns (xmin, xmax, seq, keys, prefixes, marks) starting at
    /// column `first`; a row with a NULL seq only carries the snapshot bounds.
    private static func decodeRead(_ rows: PostgresRows, from first: Int) throws -> Read {
        var read = Read(rows: [], xmin: 0, xmax: 0)
        // every row carries the same snapshot bounds
        if let row = rows.first {
            read.xmin = UInt64(try row.decode(String.self, at: first)) ?? 0
            read.xmax = UInt64(try row.decode(String.self, at: first + 1)) ?? 0
        }
        read.rows.reserveCapacity(rows.count)
        for row in rows {
            guard let seq = try row.decode(Int64?.self, at: first + 2) else { continue }
            read.rows.append(Row(
                seq: seq,
                keys: try row.decode([String].self, at: first + 3),
                prefixes: try row.decode([String].self, at: first + 4),
                marks: try row.decode([String].self, at: first + 5)))
        }
        return read
    }

    /// Whether the database has `strata.worker_read()` (migration 0012).
    func hasWorkerRead() async throws -> Bool {
        let rows = try await connection.query("select to_regprocedure('strata.worker_read(bigint, bigint[], bigint[], integer)') is not null")
        return try rows.first?.decode(Bool.self, at: 0) ?? false
    }

    /// ``ackWakeup()`` then ``read(after:gaps:limit:)`` in one round trip, through
    /// `strata.worker_read()`: the read still takes its snapshot after the acknowledgement.
    func ackAndRead(after: Int64, gaps: [ClosedRange<Int64>], limit: Int, in session: PostgresBlockingSession) throws -> (inFlight: Int64?, read: Read) {
        let rows = try session.preparedQuery(
            "select * from strata.worker_read($1, $2::bigint[], $3::bigint[], $4::integer)", after,
            Self.lowerBounds(gaps), Self.upperBounds(gaps), limit)
        // every row (there is at least one) carries the same in-flight count
        let inFlight = try rows.first?.decode(Int64?.self, at: 0) ?? nil
        return (inFlight, try Self.decodeRead(rows, from: 1))
    }

    /// Deletes applied rows (at or below every consumer's cursor), at most `limit` at a time.
    func prune(limit: Int) async throws -> Int {
        let rows = try await connection.query(
            """
            delete from strata.change_log where seq in (
                select seq from strata.change_log
                 where seq <= (select coalesce(min(last_seq), 0) from strata.consumer_offsets)
                 order by seq limit $1)
            """, limit)
        return rows.affectedRows
    }
}
