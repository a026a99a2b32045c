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
    /// Every seq at or below this has been applied or is a permanent gap.
    public private(set) var cursor: Int64
    /// The highest seq applied so far (`>= cursor`).
    public private(set) var highestApplied: Int64
    /// Seqs above `cursor` that were applied.
    private var appliedAbove: Set<Int64> = []
    /// Missing seqs, each with the bound (next transaction id) of the read in which it was
    /// first seen missing.
    public private(set) var gaps: [Int64: UInt64] = [:]

    public init(cursor: Int64) {
        self.cursor = cursor
        self.highestApplied = cursor
    }

    /// The gaps that a read must look for again, sorted.
    public var openGaps: [Int64] { gaps.keys.sorted() }

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
        if top > cursor {
            let present = Set(fresh)
            var seq = cursor + 1
            while seq < top {
                if !present.contains(seq) && !appliedAbove.contains(seq) && gaps[seq] == nil {
                    gaps[seq] = xmax
                }
                seq += 1
            }
        }
        for seq in fresh { gaps.removeValue(forKey: seq) }
        resolveGaps(xmin: xmin)
        return fresh
    }

    /// Records that `seqs` were applied (to Redis and published), and advances the cursor
    /// as far as it safely can. Returns true when the cursor moved.
    @discardableResult
    public mutating func applied(_ seqs: [Int64], xmin: UInt64) -> Bool {
        for seq in seqs where seq > cursor {
            appliedAbove.insert(seq)
            gaps.removeValue(forKey: seq)
            if seq > highestApplied { highestApplied = seq }
        }
        resolveGaps(xmin: xmin)
        return advance()
    }

    /// Drops gaps that every snapshot-relevant transaction has left behind.
    private mutating func resolveGaps(xmin: UInt64) {
        gaps = gaps.filter { $0.value > xmin }
    }

    private mutating func advance() -> Bool {
        let start = cursor
        while true {
            let next = cursor + 1
            if appliedAbove.remove(next) != nil {
                cursor = next
            } else if next <= highestApplied && gaps[next] == nil {
                // Not applied and not an open gap: a permanent gap.
                cursor = next
            } else {
                break
            }
        }
        return cursor != start
    }
}
