import StrataMem
import StrataWorker

/// The Redis-less subscriber's logic over the outbox, as pure functions from reads to
/// actions (no I/O, no clock). The cursor is the worker's ``OutboxCursor``: it never
/// passes a seq that an in-flight transaction may still commit. See docs/invalidation.md.
struct _OutboxFollower: Sendable {
    /// What must happen before the follower may report healthy after (re)connecting.
    struct Recovery: Sendable, Equatable {
        /// Entries written before this instant are dropped on recovery.
        var point: L1Instant
        /// Without a consumer's cursor to start from, seqs at or below the starting point
        /// may still be held by transactions that were in flight at the bootstrap: wait for
        /// a read whose snapshot `xmin` reaches this bound (the next transaction id at the
        /// bootstrap, `strata.next_xid()`: then they have all ended).
        var settleXmax: UInt64?
    }

    /// Where the last bootstrap started and how.
    struct Start: Sendable, Equatable {
        var floor: Int64
        var fromConsumer: Bool
    }

    private(set) var cursor: OutboxCursor?
    private(set) var recovery: Recovery?
    private(set) var start: Start?
    /// The last proven-fresh point: the start of the last read that reached the outbox's head.
    private(set) var lastFresh: L1Instant
    private(set) var healthy = false

    init(start: L1Instant) { lastFresh = start }

    /// Connected and read the bootstrap snapshot at `instant` (taken after the statement
    /// returned): its bounds, the slowest consumer's cursor (the pruning horizon, nil when
    /// no consumer is registered) and the highest visible seq.
    ///
    /// With a consumer, every seq at or below its cursor is settled (applied by it, or
    /// never committed), so reading starts there. Without one, reading starts at the
    /// highest visible seq, and lower seqs held by transactions in flight at the snapshot
    /// are covered by waiting for them to end before recovering (``Recovery/settleXmax``).
    mutating func bootstrapped(xmax: UInt64, slowestConsumer: Int64?, highestVisible: Int64?, at instant: L1Instant) {
        let floor = slowestConsumer ?? highestVisible ?? 0
        cursor = OutboxCursor(cursor: floor)
        start = Start(floor: floor, fromConsumer: slowestConsumer != nil)
        recovery = Recovery(point: instant, settleXmax: slowestConsumer == nil ? xmax : nil)
    }

    /// The outcome of one read.
    struct ReadOutcome: Sendable, Equatable {
        var actions: [_TargetAction]
        /// Rows this follower had not read were pruned: it must bootstrap again.
        var lost: Bool
        /// The read returned a full batch: read again at once.
        var full: Bool
        /// Outbox rows applied.
        var rows: Int
    }

    /// Takes one read of the outbox (``OutboxStore/read(after:gaps:limit:)`` from
    /// `cursor.highestApplied` with `cursor.openGapRanges`), and the pruning horizon read right
    /// after it: the slowest consumer's cursor and the lowest seq present.
    ///
    /// - Parameters:
    ///   - startedAt: the instant before the read was sent (everything committed before it
    ///     is in the read's snapshot).
    ///   - finishedAt: the instant after it returned.
    mutating func read(_ read: OutboxStore.Read, limit: Int, slowestConsumer: Int64?, lowestPresent: Int64?,
                       startedAt: L1Instant, finishedAt: L1Instant) -> ReadOutcome {
        guard var cursor else { return ReadOutcome(actions: [], lost: false, full: false, rows: 0) }
        let before = cursor
        let fresh = cursor.observe(seqs: read.rows.map(\.seq), xmin: read.xmin, xmax: read.xmax)
        let freshSet = Set(fresh)
        // Rows to keys and prefixes exactly as the worker does.
        var batch = OutboxBatch()
        for row in read.rows where freshSet.contains(row.seq) {
            batch.add(seq: row.seq, keys: row.keys, prefixes: row.prefixes, marks: row.marks)
        }
        batch.normalize()
        var actions: [_TargetAction] = []
        if !batch.keys.isEmpty || !batch.prefixes.isEmpty {
            actions.append(.apply(keys: batch.keys, prefixes: batch.prefixes))
        }
        cursor.applied(batch.seqs, xmin: read.xmin)
        let full = read.rows.count >= limit

        if Self.prunedUnread(before: before, fresh: freshSet, slowestConsumer: slowestConsumer, lowestPresent: lowestPresent) {
            // Rows this follower never read are gone: whatever they invalidated may be
            // cached. Start over (bootstrap, drop, recover).
            healthy = false
            self.cursor = nil
            recovery = nil
            return ReadOutcome(actions: [.markUnhealthy(since: lastFresh)] + actions, lost: true, full: full, rows: batch.seqs.count)
        }
        self.cursor = cursor

        if var pending = recovery {
            if let settle = pending.settleXmax, read.xmin >= settle {
                // Every transaction in flight at the bootstrap has ended before this read's
                // snapshot: loads that start after this read see their commits.
                pending.settleXmax = nil
                pending.point = max(pending.point, finishedAt)
            }
            if pending.settleXmax == nil && !full {
                actions.append(.dropAll(writtenBefore: pending.point))
                actions.append(.markHealthy)
                recovery = nil
                healthy = true
                lastFresh = startedAt
            } else {
                recovery = pending
            }
        } else if !full {
            lastFresh = startedAt
        }
        return ReadOutcome(actions: actions, lost: false, full: full, rows: batch.seqs.count)
    }

    /// The connection was lost or closed, or reads stalled: unhealthy until a new
    /// connection bootstraps and recovers.
    mutating func disconnected() -> [_TargetAction] {
        healthy = false
        cursor = nil
        recovery = nil
        return [.markUnhealthy(since: lastFresh)]
    }

    /// Whether rows that `before` had not applied were deleted before they could be read.
    ///
    /// Pruning deletes every row at or below a horizon that never passes the slowest
    /// registered consumer's cursor (`strata.consumer_offsets`), and consumers' cursors
    /// only pass settled seqs. So after pruning at `X`, no row at or below `X` is present.
    /// A seq above this follower's cursor that it has not applied (an open gap, or a seq
    /// above the highest it applied) and that lies at or below both the horizon and the
    /// lowest present row minus one may have been pruned: it cannot be told apart from a
    /// rolled-back one, so it counts as lost. Without a registered consumer the horizon
    /// is the follower's own highest applied seq (only its open gaps are checked).
    static func prunedUnread(before: OutboxCursor, fresh: Set<Int64>, slowestConsumer: Int64?, lowestPresent: Int64?) -> Bool {
        var bound = slowestConsumer ?? before.highestApplied
        if let lowest = lowestPresent { bound = min(bound, lowest - 1) }
        guard bound > before.cursor else { return false }
        for range in before.openGapRanges where range.lowerBound <= bound {
            let upper = min(range.upperBound, bound)
            let found = fresh.lazy.filter { $0 >= range.lowerBound && $0 <= upper }.count
            if Int64(found) < upper - range.lowerBound + 1 { return true }
        }
        if bound > before.highestApplied {
            let found = fresh.lazy.filter { $0 > before.highestApplied && $0 <= bound }.count
            if Int64(found) < bound - before.highestApplied { return true }
        }
        return false
    }
}
