#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// One read stripe of a segment: a reader's flag and what hits under it leave for the policy.
///
/// A segment has `readers` (a power of two) of these, each in its own 256-byte block: a
/// `busy` flag (`Atomic<UInt32>`) at offset 0, `_ReadCounters` at offset 8 and a buffer of
/// `_ReadStripe.capacity` node indices at offset 64 (48 × 4 bytes: the block is full),
/// followed by the segment's writer line (a `writing` flag and the writer `Mutex`), its
/// replay-lock line, and its state. Together they form a reader-writer lock whose readers
/// write only their own stripe:
///
/// - a **reader** sets its stripe's `busy` flag (compare-and-exchange 0 → 1), then checks
///   the segment's `writing` flag; if it is clear the reader probes the table, appends the
///   entry's node to its buffer, counts the hit, and clears `busy` (a release store). If a
///   writer is there, it clears `busy`, waits for the writer's mutex and starts again. If
///   its stripe is busy (another reader shares it), it moves to another stripe; after a few
///   tries it takes the exclusive path instead.
/// - a **writer** takes the segment's mutex, sets `writing`, waits until no stripe is
///   busy, replays every buffer into the policy (`drain`), and then changes the segment;
///   it clears `writing` and unlocks when done.
///
/// `busy` and `writing` are set with sequentially consistent operations and read with
/// sequentially consistent loads, so a reader and a writer that start together cannot
/// both miss each other (Dekker's argument: in the single order of those operations one
/// of the two sets its flag first, and the other's later load sees it). A reader's clearing
/// store releases its reads and buffer writes to the writer that sees it; the writer's
/// clearing store releases its changes to the readers that come after.
///
/// So a hit writes one cache line that only its thread writes (busy flag and counters) plus
/// its buffer, reads the writer line (which changes only when a segment is written), and
/// takes no lock shared with other readers, whatever the number of segments. A writer
/// pays one mutex, two stores and one load per stripe on top of its work.
///
/// A reader whose buffer fills replays it under its own busy flag (which keeps writers
/// out) and a try-only per-segment replay lock (`L1Cache._tryDrain`).
@usableFromInline
enum _ReadStripe {
    /// Bytes per read stripe.
    @usableFromInline static let stride = 256
    /// Node indices buffered per read stripe before the reader drains them.
    @usableFromInline static let capacity = 48
    @usableFromInline static let countersOffset = 8
    @usableFromInline static let bufferOffset = 64
    /// Offset of the writer `Mutex` in the segment's writer line (the `writing` flag is at 0).
    @usableFromInline static let writerMutexOffset = 8
    /// Times a reader tries a stripe (moving on when another reader holds it, waiting when
    /// a writer does) before it takes the exclusive path.
    @usableFromInline static let attempts = 8

    /// Read stripes per segment: twice the cores rounded up to a power of two, at least 2
    /// and at most 16, so that two running threads rarely pick the same one. Every segment
    /// has them, whatever the number of segments: sharing a stripe between threads means
    /// sharing the cache line its flag is in, which costs a transfer between cores on every
    /// hit.
    @usableFromInline
    static func readers() -> Int {
        let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        var total = 2
        while total < min(16, 2 * cores) { total *= 2 }
        return total
    }

    // MARK: The calling thread's read stripe

    /// Each thread's index into the read stripes (any positive number; the low bits pick
    /// the stripe), kept in a pthread key so that a thread keeps its stripe: threads get
    /// consecutive indices the first time they read, and a thread that finds its stripe
    /// busy moves to another one (Caffeine's probe rehash), so threads that keep meeting
    /// spread out. Each cache copies the key into a stored property, so the hit path reads
    /// it without a lazy-global check.
    @usableFromInline static let threadKey: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()
    static let nextThread = Atomic<Int>(1)

    /// The calling thread's index: `pthread_getspecific(key)`, assigned on first use.
    @inlinable @inline(__always)
    static func threadIndex(_ key: pthread_key_t) -> Int {
        if let stored = pthread_getspecific(key) { return Int(bitPattern: stored) }
        return assignThread(key)
    }

    @usableFromInline
    static func assignThread(_ key: pthread_key_t) -> Int {
        let index = max(1, nextThread.wrappingAdd(1, ordering: .relaxed).oldValue & 0xFFFF)
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: index))
        return index
    }

    /// Moves the calling thread to another read stripe after contention; returns the new
    /// index. The step is odd, so the new index names a different stripe whatever the
    /// (power-of-two) number of stripes; bit 15 keeps it positive.
    @usableFromInline
    static func rehashThread(_ key: pthread_key_t, _ index: Int) -> Int {
        var x = UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15
        x ^= x >> 29
        let next = ((index &+ (Int(truncatingIfNeeded: x & 0x7FFF) | 1)) & 0x7FFF) | 0x8000
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: next))
        return next
    }
}

/// Per-read-stripe counters (accessed only by the reader holding the stripe's busy flag, or
/// by a writer of the segment).
@usableFromInline
struct _ReadCounters {
    /// Node indices in the buffer.
    @usableFromInline var count: Int
    @usableFromInline var hits: Int
    @usableFromInline var misses: Int
    /// Hits that found the buffer full (another reader was replaying this segment's policy
    /// when it filled): counted in `hits` like the others (for the statistics and the hill
    /// climber) but not replayed into the policy. Paces the retries of the replay.
    @usableFromInline var dropped: Int
}
