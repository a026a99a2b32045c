#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// One read lock of a segment and what hits under it leave for the policy.
///
/// A segment has `readers` (a power of two) of these, each in its own 256-byte block: a
/// `Mutex<Void>` at offset 0, `_ReadCounters` at offset 8 and a buffer of
/// `_ReadStripe.capacity` node indices at offset 64 (48 × 4 bytes: the block is full). A hit takes one read lock (its
/// thread's), probes the table, appends the entry's node to that buffer and counts itself
/// there; it writes nothing shared. Writers take all the read locks in order, which makes
/// them exclusive, and first replay every buffer into the policy (`drain`); a reader whose
/// buffer fills replays it under its own read lock and a try-only replay lock
/// (`L1Cache._tryDrain`). Readers hold one read lock at a time and writers take them in
/// index order, so there is no deadlock.
@usableFromInline
enum _ReadStripe {
    /// Bytes per read stripe.
    @usableFromInline static let stride = 256
    /// Node indices buffered per read stripe before the reader drains them.
    @usableFromInline static let capacity = 48
    @usableFromInline static let countersOffset = 8
    @usableFromInline static let bufferOffset = 64

    /// Read stripes per segment: enough for every core to have its own (twice the cores,
    /// a power of two, at most 16, so that two threads rarely share one), divided among
    /// the segments. Large caches have more segments than that and get one read lock each:
    /// their segments already spread the threads.
    @usableFromInline
    static func readers(segments: Int) -> Int {
        let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        var total = 1
        while total < min(16, 2 * cores) { total *= 2 }
        return max(1, total / segments)
    }

    // MARK: The calling thread's read stripe

    /// Each thread's index into the read stripes (any positive number; the low bits pick
    /// the stripe), kept in a pthread key so that a thread keeps its stripe: threads get
    /// consecutive indices the first time they read, and a thread that finds its read lock
    /// taken moves to another one (Caffeine's probe rehash), so threads that keep meeting
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

    /// Moves the calling thread to another read stripe after contention; returns the new index.
    @usableFromInline
    static func rehashThread(_ key: pthread_key_t, _ index: Int) -> Int {
        var x = UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15
        x ^= x >> 29
        let next = max(1, (index &+ 1 &+ Int(truncatingIfNeeded: x & 0xFFFF)) & 0xFFFF)
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: next))
        return next
    }
}

/// Per-read-stripe counters (guarded by that stripe's lock).
@usableFromInline
struct _ReadCounters {
    /// Node indices in the buffer.
    @usableFromInline var count: Int
    @usableFromInline var hits: Int
    @usableFromInline var misses: Int
    /// Hits that found the buffer full (another thread sharing the stripe had not drained it
    /// yet): counted for the statistics and the hill climber, not replayed into the policy.
    @usableFromInline var dropped: Int
}
