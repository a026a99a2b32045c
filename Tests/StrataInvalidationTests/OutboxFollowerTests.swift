import StrataMem
@testable import StrataWorker
import Testing
@testable import StrataInvalidation


private func at(_ n: Int64) -> L1Instant { L1Instant(nanoseconds: n) }

/// The Redis-less subscriber's logic over the outbox, without a server.
@Suite struct OutboxFollowerTests {
    static func read(_ seqs: [Int64], xmin: UInt64 = 100, xmax: UInt64 = 100) -> OutboxStore.Read {
        OutboxStore.Read(
            rows: seqs.map { OutboxStore.Row(seq: $0, keys: ["t:item:\($0)"], prefixes: [], marks: []) },
            xmin: xmin, xmax: xmax)
    }

    @Test func startsAtTheSlowestConsumerAndRecoversWhenCaughtUp() {
        var follower = _OutboxFollower(start: at(0))
        follower.bootstrapped(xmax: 50, slowestConsumer: 10, highestVisible: 12, at: at(5))
        #expect(follower.cursor?.cursor == 10)
        #expect(follower.recovery == _OutboxFollower.Recovery(point: at(5), settleXmax: nil))
        // A full batch: not caught up yet.
        var outcome = follower.read(Self.read([11, 12]), limit: 2, slowestConsumer: 10, lowestPresent: 1,
                                    startedAt: at(6), finishedAt: at(7))
        #expect(outcome.full && !outcome.lost)
        #expect(outcome.actions == [.apply(keys: ["t:item:11", "t:item:12"], prefixes: [])])
        #expect(!follower.healthy)
        outcome = follower.read(Self.read([]), limit: 2, slowestConsumer: 12, lowestPresent: 1, startedAt: at(8), finishedAt: at(9))
        #expect(outcome.actions == [.dropAll(writtenBefore: at(5)), .markHealthy])
        #expect(follower.healthy)
        #expect(follower.lastFresh == at(8))
    }

    @Test func withoutAConsumerItWaitsForTransactionsInFlightAtTheBootstrap() {
        var follower = _OutboxFollower(start: at(0))
        follower.bootstrapped(xmax: 50, slowestConsumer: nil, highestVisible: 30, at: at(5))
        #expect(follower.cursor?.cursor == 30)
        // xmin 40: a transaction that may hold a seq below 30 is still running.
        var outcome = follower.read(Self.read([], xmin: 40, xmax: 60), limit: 10, slowestConsumer: nil, lowestPresent: 1,
                                    startedAt: at(6), finishedAt: at(7))
        #expect(outcome.actions.isEmpty)
        #expect(!follower.healthy)
        // xmin 50: all of them have ended before this snapshot; drop what was written before it returned.
        outcome = follower.read(Self.read([31], xmin: 50, xmax: 60), limit: 10, slowestConsumer: nil, lowestPresent: 1,
                                startedAt: at(8), finishedAt: at(9))
        #expect(outcome.actions == [.apply(keys: ["t:item:31"], prefixes: []), .dropAll(writtenBefore: at(9)), .markHealthy])
    }

    @Test func rowsMapToKeysAndPrefixesAsTheWorkerMapsThem() {
        var follower = _OutboxFollower(start: at(0))
        follower.bootstrapped(xmax: 1, slowestConsumer: 0, highestVisible: nil, at: at(1))
        let read = OutboxStore.Read(rows: [
            .init(seq: 1, keys: ["t:item:1", "u:item:2"], prefixes: [], marks: ["m"]),
            .init(seq: 2, keys: ["t:item:1"], prefixes: ["t:*"], marks: []),
        ], xmin: 5, xmax: 5)
        let outcome = follower.read(read, limit: 10, slowestConsumer: 0, lowestPresent: 1, startedAt: at(2), finishedAt: at(3))
        // Duplicates dropped, keys under a prefix of the batch dropped, prefixes sorted: OutboxBatch.normalize().
        #expect(outcome.actions.first == .apply(keys: ["u:item:2"], prefixes: ["t:*"]))
    }

    @Test func aRowPrunedBeforeItWasReadIsAGap() {
        var follower = _OutboxFollower(start: at(0))
        follower.bootstrapped(xmax: 1, slowestConsumer: 10, highestVisible: 10, at: at(1))
        _ = follower.read(Self.read([]), limit: 10, slowestConsumer: 10, lowestPresent: 10, startedAt: at(2), finishedAt: at(3))
        #expect(follower.healthy)
        // Rows 11...13 were committed, applied by the worker and pruned before this read.
        let outcome = follower.read(Self.read([14]), limit: 10, slowestConsumer: 13, lowestPresent: 14,
                                    startedAt: at(4), finishedAt: at(5))
        #expect(outcome.lost)
        #expect(outcome.actions.first == .markUnhealthy(since: at(2)))
        #expect(follower.cursor == nil)
        #expect(!follower.healthy)
    }

    @Test func pruningBelowTheCursorIsNoGap() {
        var cursor = OutboxCursor(cursor: 10)
        _ = cursor.observe(seqs: [11, 12], xmin: 5, xmax: 5)
        cursor.applied([11, 12], xmin: 5)
        // The worker is ahead at 20 but pruned only up to 12: rows 13... are present.
        #expect(!_OutboxFollower.prunedUnread(before: cursor, fresh: [13, 14], slowestConsumer: 20, lowestPresent: 13))
        // Everything pruned, the worker at our cursor: nothing we had not read is gone.
        #expect(!_OutboxFollower.prunedUnread(before: cursor, fresh: [], slowestConsumer: 12, lowestPresent: nil))
        // No consumer and nothing we read is missing.
        #expect(!_OutboxFollower.prunedUnread(before: cursor, fresh: [], slowestConsumer: nil, lowestPresent: nil))
    }

    @Test func anOpenGapBelowThePruningHorizonCountsAsLost() {
        var cursor = OutboxCursor(cursor: 10)
        // 11 missing (in flight at that snapshot), 12 applied.
        _ = cursor.observe(seqs: [12], xmin: 5, xmax: 8)
        cursor.applied([12], xmin: 5)
        #expect(cursor.openGaps == [11])
        // 11 committed, was applied by the worker and pruned with 12: it is gone unread.
        #expect(_OutboxFollower.prunedUnread(before: cursor, fresh: [], slowestConsumer: 12, lowestPresent: nil))
        // Found in this read: not lost.
        #expect(!_OutboxFollower.prunedUnread(before: cursor, fresh: [11], slowestConsumer: 12, lowestPresent: nil))
        // The worker has not passed it: it may still commit.
        #expect(!_OutboxFollower.prunedUnread(before: cursor, fresh: [], slowestConsumer: 10, lowestPresent: nil))
    }

    @Test func disconnectingForgetsTheCursor() {
        var follower = _OutboxFollower(start: at(0))
        follower.bootstrapped(xmax: 1, slowestConsumer: 0, highestVisible: nil, at: at(1))
        _ = follower.read(Self.read([]), limit: 10, slowestConsumer: 0, lowestPresent: nil, startedAt: at(2), finishedAt: at(3))
        #expect(follower.disconnected() == [.markUnhealthy(since: at(2))])
        #expect(follower.cursor == nil)
    }
}
