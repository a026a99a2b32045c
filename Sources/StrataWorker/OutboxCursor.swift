/// Decides which outbox rows to apply and how far the persisted cursor may move.
///
/// Transactions commit out of `seq` order: a long transaction holding seq 10 may commit
/// after seq 11 was applied. The capture trigger assigns the transaction id before it
/// draws `seq`, so a seq that is missing from a read is either held by a transaction
/// that was in progress in that read's snapshot, or will never appear (rolled back,
/// or skipped by the sequence). Each read also reports the next transaction id after its
/// snapshot was taken (`strata.next_xid()`, passed as `xmax`): every transaction that could
/// hold a missing seq has a smaller id. Once a later snapshot's `xmin` has reached that
/// bound, they have all ended, and the gap is permanent. (The snapshot's own `xmax`, the
/// latest completed id + 1, is no such bound: a transaction with an id at or above it may
/// be running, and snapshots leave it out of `xmin`.)
///
/// The cursor (persisted in `strata.consumer_offsets`) only moves over seqs that were
/// applied or are known to be permanent gaps. Rows above the cursor that were applied
/// already are remembered in memory so they are not applied twice while a gap holds the
/// cursor back; after a restart they are applied again, which is harmless because every
/// invalidation is idempotent.
///
/// This type does no I/O: the worker feeds it reads and tells it what it applied.
public struct OutboxCursor: Sendable, Equatable {
    /// Missing seqs `lo...hi`, all first seen missing in one read, with that read's bound
    /// (next transaction id). Ranges are disjoint and sorted; a seq found later is cut out.
    struct Gap: Sendable, Equatable {
        var lo: Int64
        var hi: Int64
        var bound: UInt64
    }

    /// Every seq at or below this has been applied or is a permanent gap.
    public private(set) var cursor: Int64
    /// The highest seq applied so far (`>= cursor`).
    public private(set) var highestApplied: Int64
    /// Seqs above `cursor` that were applied.
    private var appliedAbove: Set<Int64> = []
    /// Open gaps as ranges: a read that first misses a million seqs (a consumer far behind
    /// the outbox's first row) records one range, not a million entries.
    private(set) var gapRanges: [Gap] = []

    public init(cursor: Int64) {
        self.cursor = cursor
        self.highestApplied = cursor
    }

    /// The open gaps as ranges, sorted: what a read must look for again.
    public var openGapRanges: [ClosedRange<Int64>] { gapRanges.map { $0.lo...$0.hi } }

    /// Whether any gap is open.
    public var hasOpenGaps: Bool { !gapRanges.isEmpty }

    /// The open gaps seq by seq, sorted (for small gaps; tests).
    public var openGaps: [Int64] { gapRanges.flatMap { Array($0.lo...$0.hi) } }

    /// The bound recorded for an open gap's seq, nil if `seq` is not an open gap.
    public func gapBound(of seq: Int64) -> UInt64? {
        gapIndex(containing: seq).map { gapRanges[$0].bound }
    }

    /// Takes a read of the outbox: `seqs` are the visible rows returned (new rows above
    /// `highestApplied`, and any rows found for open gaps), read in one snapshot whose
    /// `xmin` is given, with `xmax`, the next transaction id after that snapshot was taken.
    /// Returns the seqs that are new and must be applied.
    public mutating func observe(seqs: [Int64], xmin: UInt64, xmax: UInt64) -> [Int64] {
        var fresh: [Int64] = []
        for seq in seqs.sorted() where seq > cursor && !appliedAbove.contains(seq) {
            if fresh.last != seq { fresh.append(seq) }
        }
        // Everything between the cursor and the highest seq seen that is neither applied,
        // nor returned now, nor already a gap, is a new gap first seen in this snapshot.
        let top = max(highestApplied, fresh.last ?? cursor)
        if top > cursor + 1 {
            var covered: [ClosedRange<Int64>] = gapRanges.map { $0.lo...$0.hi }
            for seq in fresh where seq < top { covered.append(seq...seq) }
            for seq in appliedAbove where seq < top { covered.append(seq...seq) }
            covered.sort { $0.lowerBound < $1.lowerBound }
            var next = cursor + 1
            var added: [Gap] = []
            for range in covered {
                if range.lowerBound > next { added.append(Gap(lo: next, hi: range.lowerBound - 1, bound: xmax)) }
                next = max(next, range.upperBound + 1)
                if next >= top { break }
            }
            if next < top { added.append(Gap(lo: next, hi: top - 1, bound: xmax)) }
            if !added.isEmpty {
                gapRanges += added
                gapRanges.sort { $0.lo < $1.lo }
            }
        }
        for seq in fresh { cutGap(seq) }
        resolveGaps(xmin: xmin)
        return fresh
    }

    /// Records that `seqs` were applied (to Redis and published), and advances the cursor
    /// as far as it safely can. Returns true when the cursor moved.
    @discardableResult
    public mutating func applied(_ seqs: [Int64], xmin: UInt64) -> Bool {
        for seq in seqs where seq > cursor {
            appliedAbove.insert(seq)
            cutGap(seq)
            if seq > highestApplied { highestApplied = seq }
        }
        resolveGaps(xmin: xmin)
        return advance()
    }

    /// The index of the open gap range that holds `seq`.
    private func gapIndex(containing seq: Int64) -> Int? {
        gapRanges.firstIndex { $0.lo <= seq && seq <= $0.hi }
    }

    /// Removes `seq` from the open gaps (it showed up).
    private mutating func cutGap(_ seq: Int64) {
        guard let index = gapIndex(containing: seq) else { return }
        let gap = gapRanges[index]
        var pieces: [Gap] = []
        if gap.lo < seq { pieces.append(Gap(lo: gap.lo, hi: seq - 1, bound: gap.bound)) }
        if seq < gap.hi { pieces.append(Gap(lo: seq + 1, hi: gap.hi, bound: gap.bound)) }
        gapRanges.replaceSubrange(index...index, with: pieces)
    }

    /// Drops gaps that every transaction that could hold them has left behind.
    private mutating func resolveGaps(xmin: UInt64) {
        gapRanges.removeAll { $0.bound <= xmin }
    }

    private mutating func advance() -> Bool {
        let start = cursor
        while true {
            let next = cursor + 1
            if appliedAbove.remove(next) != nil {
                cursor = next
                continue
            }
            guard next <= highestApplied, gapBound(of: next) == nil else { break }
            // Not applied and not an open gap: a permanent gap, up to the next seq that is
            // applied or still an open gap.
            var stop = highestApplied
            if let gap = gapRanges.first(where: { $0.lo > next }) { stop = min(stop, gap.lo - 1) }
            if let lowest = appliedAbove.min() { stop = min(stop, lowest - 1) }
            cursor = max(next, stop)
        }
        return cursor != start
    }
}
