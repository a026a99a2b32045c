import Testing
import StrataCore
@testable import StrataWorker

@Suite struct OutboxCursorTests {
    @Test func contiguousRowsAdvanceTheCursor() {
        var cursor = OutboxCursor(cursor: 0)
        let fresh = cursor.observe(seqs: [1, 2, 3], xmin: 100, xmax: 101)
        #expect(fresh == [1, 2, 3])
        let moved = cursor.applied(fresh, xmin: 100)
        #expect(moved)
        #expect(cursor.cursor == 3)
        #expect(cursor.openGaps.isEmpty)
    }

    @Test func aLateCommitHoldsTheCursorUntilItAppears() {
        var cursor = OutboxCursor(cursor: 0)
        // seq 2 belongs to a transaction still in progress (xid 105 < xmax 110).
        var fresh = cursor.observe(seqs: [1, 3, 4], xmin: 105, xmax: 110)
        #expect(fresh == [1, 3, 4])
        cursor.applied(fresh, xmin: 105)
        #expect(cursor.cursor == 1)
        #expect(cursor.openGaps == [2])
        #expect(cursor.highestApplied == 4)

        // Next read: nothing new, the transaction still runs.
        fresh = cursor.observe(seqs: [], xmin: 105, xmax: 112)
        #expect(fresh.isEmpty)
        cursor.applied(fresh, xmin: 105)
        #expect(cursor.cursor == 1)

        // It commits: the gap row shows up and is applied, then the cursor passes it.
        fresh = cursor.observe(seqs: [2, 5], xmin: 112, xmax: 113)
        #expect(fresh == [2, 5])
        cursor.applied(fresh, xmin: 112)
        #expect(cursor.cursor == 5)
        #expect(cursor.openGaps.isEmpty)
    }

    @Test func aRolledBackSeqIsPassedOnceXminMovesBeyondTheSnapshot() {
        var cursor = OutboxCursor(cursor: 10)
        var fresh = cursor.observe(seqs: [11, 13], xmin: 50, xmax: 60)
        cursor.applied(fresh, xmin: 50)
        #expect(cursor.cursor == 11)
        #expect(cursor.openGaps == [12])

        // xmin moved but not past the xmax at which the gap was seen: still open.
        fresh = cursor.observe(seqs: [], xmin: 59, xmax: 61)
        cursor.applied(fresh, xmin: 59)
        #expect(cursor.cursor == 11)

        // Every transaction that could hold seq 12 has ended and it is not there.
        fresh = cursor.observe(seqs: [], xmin: 60, xmax: 61)
        cursor.applied(fresh, xmin: 60)
        #expect(cursor.cursor == 13)
        #expect(cursor.openGaps.isEmpty)
    }

    @Test func appliedRowsAreNotReturnedTwice() {
        var cursor = OutboxCursor(cursor: 0)
        cursor.applied(cursor.observe(seqs: [2, 3], xmin: 10, xmax: 20), xmin: 10)
        // A read that returns an already applied row (e.g. overlapping) does not re-apply it.
        let fresh = cursor.observe(seqs: [3, 4], xmin: 10, xmax: 20)
        #expect(fresh == [4])
    }

    @Test func gapsFirstSeenLaterUseTheirOwnSnapshot() {
        var cursor = OutboxCursor(cursor: 0)
        cursor.applied(cursor.observe(seqs: [1], xmin: 5, xmax: 6), xmin: 5)
        // seq 2 missing while 3 is visible: gap noted with xmax 9.
        cursor.applied(cursor.observe(seqs: [3], xmin: 7, xmax: 9), xmin: 7)
        #expect(cursor.gapBound(of: 2) == 9)
        // seq 4 missing while 5 is visible: gap noted with xmax 12; seq 2 resolves at xmin 9.
        cursor.applied(cursor.observe(seqs: [5], xmin: 9, xmax: 12), xmin: 9)
        #expect(cursor.openGaps == [4])
        #expect(cursor.cursor == 3)
        cursor.applied(cursor.observe(seqs: [], xmin: 12, xmax: 12), xmin: 12)
        #expect(cursor.cursor == 5)
    }

    @Test func aHolderWithAnIdAtTheSnapshotsXmaxKeepsItsGapOpen() {
        // T (xid 101) draws seq 1; U (xid 100, assigned earlier) draws seq 2 and commits.
        // PostgreSQL's snapshot now has xmax 101 (latest completed + 1) and leaves T out, so
        // its xmin is 101 while T runs. The read's bound is the next id, 102.
        var cursor = OutboxCursor(cursor: 0)
        cursor.applied(cursor.observe(seqs: [2], xmin: 101, xmax: 102), xmin: 101)
        #expect(cursor.openGaps == [1])
        // T still runs: later snapshots still have xmin 101 (or list T: xmin 101).
        cursor.applied(cursor.observe(seqs: [], xmin: 101, xmax: 103), xmin: 101)
        #expect(cursor.cursor == 0, "seq 1 may still commit")
        // T commits.
        let fresh = cursor.observe(seqs: [1], xmin: 103, xmax: 103)
        #expect(fresh == [1])
        cursor.applied(fresh, xmin: 103)
        #expect(cursor.cursor == 2)
    }

    @Test func aFarAheadFirstRowIsOneGapRange() {
        // A consumer whose cursor is far below the outbox's rows: one range, not millions.
        var cursor = OutboxCursor(cursor: 0)
        let fresh = cursor.observe(seqs: [3_000_001, 3_000_003], xmin: 50, xmax: 60)
        #expect(fresh == [3_000_001, 3_000_003])
        cursor.applied(fresh, xmin: 50)
        #expect(cursor.openGapRanges == [1...3_000_000, 3_000_002...3_000_002])
        #expect(cursor.gapBound(of: 1_234_567) == 60)
        // one of the missing seqs shows up: it is cut out of its range and applied
        let late = cursor.observe(seqs: [17], xmin: 55, xmax: 61)
        #expect(late == [17])
        cursor.applied(late, xmin: 55)
        #expect(cursor.openGapRanges == [1...16, 18...3_000_000, 3_000_002...3_000_002])
        #expect(cursor.cursor == 0)
        // every possible holder has ended: the cursor passes them in one step
        cursor.applied(cursor.observe(seqs: [], xmin: 60, xmax: 62), xmin: 60)
        #expect(!cursor.hasOpenGaps)
        #expect(cursor.cursor == 3_000_003)
    }

    @Test func nothingIsSkippedUnderRandomCommitOrders() {
        // Model of PostgreSQL: a transaction gets its id when it first writes and draws its
        // seq when its trigger runs, possibly later (so id order and seq order differ); it
        // commits or aborts at a random later step. A snapshot's xmax is the latest
        // completed id + 1, its xmin the oldest running id below that xmax (running ids at
        // or above xmax are left out), and each read reports the next id to be assigned as
        // its bound. The cursor must never pass a seq that later commits before it is applied.
        var generator = SplitMix64(seed: 42)
        for _ in 0..<300 {
            var nextXid: UInt64 = 100
            var nextSeq: Int64 = 1
            var latestCompleted: UInt64 = 99
            struct Tx { var xid: UInt64; var seq: Int64?; var drawsAt: Int; var endsAt: Int; var aborts: Bool }
            var running: [Tx] = []
            var committed: [Int64: UInt64] = [:]
            var cursor = OutboxCursor(cursor: 0)
            var applied = Set<Int64>()
            for step in 0..<80 {
                // new transactions get their ids now
                for _ in 0..<Int(generator.next() % 3) {
                    let drawsAt = step + Int(generator.next() % 3)
                    running.append(Tx(xid: nextXid, seq: nil, drawsAt: drawsAt, endsAt: drawsAt + Int(generator.next() % 6),
                                      aborts: generator.next() % 5 == 0))
                    nextXid += 1
                }
                // triggers run: seqs are drawn in a random order among those due
                var due = running.indices.filter { running[$0].seq == nil && running[$0].drawsAt <= step }
                due.shuffle(using: &generator)
                for index in due {
                    running[index].seq = nextSeq
                    nextSeq += 1
                }
                // finish those due (after their draw)
                running.removeAll { tx in
                    guard tx.seq != nil, tx.endsAt <= step else { return false }
                    if !tx.aborts { committed[tx.seq!] = tx.xid }
                    latestCompleted = max(latestCompleted, tx.xid)
                    return true
                }
                // read in a snapshot, as PostgreSQL takes it
                let xmax = latestCompleted + 1
                let xmin = running.map(\.xid).filter { $0 < xmax }.min() ?? xmax
                let visible = committed.keys.filter { $0 > cursor.highestApplied || cursor.gapBound(of: $0) != nil }
                let fresh = cursor.observe(seqs: Array(visible), xmin: xmin, xmax: nextXid)
                applied.formUnion(fresh)
                cursor.applied(fresh, xmin: xmin)
                // invariant: every committed seq at or below the cursor was applied
                for (seq, _) in committed where seq <= cursor.cursor {
                    #expect(applied.contains(seq), "seq \(seq) passed without being applied")
                }
            }
        }
    }
}

@Suite struct OutboxBatchTests {
    @Test func normalizeDropsDuplicatesAndCoveredKeys() {
        var batch = OutboxBatch()
        batch.add(seq: 1, keys: ["authz:user:1", "authz:team:7:project:1"], prefixes: [], marks: ["uac:user:1"])
        batch.add(seq: 2, keys: ["authz:user:1", "authz:user:2"], prefixes: ["authz:team:7:*"], marks: ["uac:user:1"])
        batch.normalize()
        #expect(batch.keys == ["authz:user:1", "authz:user:2"])
        #expect(batch.prefixes == ["authz:team:7:*"])
        #expect(batch.marks == ["uac:user:1"])
        #expect(batch.through == 2)
    }

    @Test func normalizeAgreesWithTheCoveringPrefixesOfEveryKey() {
        var generator = SystemRandomNumberGenerator()
        let segments = ["a", "b", "ab", "c1"]
        func key(_ depth: Int) -> String { (0..<depth).map { _ in segments.randomElement(using: &generator)! }.joined(separator: ":") }
        for _ in 0..<300 {
            let keys = (0..<Int.random(in: 0...12, using: &generator)).map { _ in key(Int.random(in: 1...4, using: &generator)) }
            let prefixes = (0..<Int.random(in: 0...3, using: &generator)).map { _ in key(Int.random(in: 1...3, using: &generator)) + ":*" }
            var batch = OutboxBatch()
            batch.add(seq: 1, keys: keys, prefixes: prefixes, marks: [])
            batch.normalize()
            var seen = Set<String>()
            let expected = keys.filter { key in
                seen.insert(key).inserted && !LogicalKey.coveringPrefixes(of: key).dropFirst().contains(where: prefixes.contains)
            }
            #expect(batch.keys == expected, "keys \(keys), prefixes \(prefixes)")
        }
    }

    @Test func everythingPrefixWins() {
        var batch = OutboxBatch()
        batch.add(seq: 1, keys: ["a:1"], prefixes: ["*", "b:*"], marks: [])
        batch.normalize()
        #expect(batch.keys.isEmpty)
        #expect(batch.prefixes == ["*"])
    }

    @Test func messagesAreSplitAndNumberedConsecutively() {
        var batch = OutboxBatch()
        batch.add(seq: 5, keys: (0..<2500).map { "k:\($0)" }, prefixes: ["p:*"], marks: [])
        var seq: UInt64 = 10
        let messages = batch.messages(epoch: "e", maximumEntries: 1000) { seq += 1; return seq }
        #expect(messages.map(\.seq) == [11, 12, 13])
        #expect(messages.map { $0.keys.count + $0.prefixes.count } == [1000, 1000, 501])
        #expect(messages[0].prefixes == ["p:*"])
        #expect(Set(messages.flatMap(\.keys)).count == 2500)
    }

    @Test func backoffGrowsAndIsCapped() {
        var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1))
        var generator = SplitMix64(seed: 1)
        let delays = (0..<8).map { _ in backoff.next(using: &generator) }
        #expect(delays[0] >= .milliseconds(50) && delays[0] <= .milliseconds(100))
        #expect(delays.allSatisfy { $0 <= .seconds(1) })
        #expect(delays[7] >= .milliseconds(500))
        backoff.reset()
        #expect(backoff.next(using: &generator) <= .milliseconds(100))
    }
}

struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
