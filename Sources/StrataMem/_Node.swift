import Synchronization

/// An entry's policy record, stored by value in its segment's node array and addressed by
/// index. The key, value and deadline a hit needs live in the hash table's slot (`_Slot`);
/// the node holds what only writes and eviction touch (48 bytes whatever the key and value).
/// `prev`/`next` link it into its policy queue, `tprev`/`tnext` into its timer-wheel bucket.
@usableFromInline
struct _Node {
    /// Nanoseconds; `Int64.max` for entries that do not expire (also in the slot).
    @usableFromInline var expiresAt: Int64
    @usableFromInline var writtenAt: Int64
    @usableFromInline var prev: Int32
    @usableFromInline var next: Int32
    @usableFromInline var tprev: Int32
    @usableFromInline var tnext: Int32
    @usableFromInline var hash: UInt32
    @usableFromInline var weight: UInt32
    /// The node of the prefix index that points at this entry, or -1.
    @usableFromInline var trie: Int32
    /// Timer-wheel bucket, or `_Wheel.none`.
    @usableFromInline var bucket: UInt16
    @usableFromInline var queue: UInt8

    @inlinable
    init(hash: UInt32, weight: UInt32, expiresAt: Int64, writtenAt: Int64) {
        self.expiresAt = expiresAt
        self.writtenAt = writtenAt
        self.prev = -1
        self.next = -1
        self.tprev = -1
        self.tnext = -1
        self.hash = hash
        self.weight = weight
        self.trie = -1
        self.bucket = _Wheel.none
        self.queue = _Queue.free
    }
}

/// One slot of a segment's open-addressed hash table: everything a hit reads, in one place,
/// so that a hit is one probe and no second dependent load. `meta` is
/// `hash32 << 32 | node index + 1`, and 0 in an empty slot, whose other fields are then
/// uninitialised (only `meta` is ever read there). 32 bytes for `Int` keys and values.
@usableFromInline
struct _Slot<Key, Value> {
    @usableFromInline var meta: UInt64
    /// The entry's deadline (nanoseconds, `Int64.max` for none), as in its node.
    @usableFromInline var expiresAt: Int64
    @usableFromInline var key: Key
    @usableFromInline var value: Value

    @inlinable
    init(meta: UInt64, expiresAt: Int64, key: Key, value: Value) {
        self.meta = meta
        self.expiresAt = expiresAt
        self.key = key
        self.value = value
    }
}

@usableFromInline
enum _Queue {
    @usableFromInline static let free: UInt8 = 0
    @usableFromInline static let window: UInt8 = 1
    @usableFromInline static let probation: UInt8 = 2
    @usableFromInline static let protected: UInt8 = 3
}

/// A segment's dense array of `_Flags` bytes, one per node, stored as atomics and accessed
/// with relaxed loads and stores (plain byte loads and stores on x86 and ARM): a reader may
/// look at the flags of the entries in its read buffer (`L1Cache._tryDrain`) while another
/// reader's replay changes other entries' flags. Everything else about them is ordered by
/// the segment's locks, as before.
@usableFromInline
struct _FlagBytes {
    @usableFromInline let base: UnsafeMutablePointer<Atomic<UInt8>>

    @usableFromInline
    init(capacity: Int) {
        base = .allocate(capacity: capacity)
        for i in 0..<capacity { (base + i).initialize(to: Atomic(0)) }
    }

    @inlinable
    subscript(i: Int) -> UInt8 {
        @inline(__always) get { (base + i).pointee.load(ordering: .relaxed) }
        @inline(__always) nonmutating set { (base + i).pointee.store(newValue, ordering: .relaxed) }
    }

    /// A copy with room for `newCapacity` nodes, keeping the first `used` flags; frees this one.
    @usableFromInline
    func grown(from capacity: Int, to newCapacity: Int, keeping used: Int) -> _FlagBytes {
        let fresh = _FlagBytes(capacity: newCapacity)
        for i in 0..<used { fresh[i] = self[i] }
        deallocate(capacity: capacity)
        return fresh
    }

    @usableFromInline
    func deallocate(capacity: Int) {
        base.deinitialize(count: capacity)
        base.deallocate()
    }
}

@usableFromInline
enum _Flags {
    @usableFromInline static let tagged: UInt8 = 1
    /// Read since it last reached the head of its queue (see `onAccess`).
    @usableFromInline static let accessed: UInt8 = 2
    /// Its sketch counters were saturated (15) when its pending hits were last folded in;
    /// cleared when the sketch ages.
    @usableFromInline static let sketchFull: UInt8 = 4
    /// The top four bits count hits not yet added to the frequency sketch (see `onAccess`).
    @usableFromInline static let pendingUnit: UInt8 = 16
    @usableFromInline static let pendingShift: UInt8 = 4

    /// Accessed, pending count full and sketch saturated: replaying another hit of the
    /// entry changes nothing (see `_SegmentState.recordAccess`).
    @inlinable @inline(__always)
    static func saturated(_ flags: UInt8) -> Bool { flags & 0xF6 == 0xF6 }
}

/// Why an entry left the cache.
@usableFromInline
enum _Cause {
    case size, expiry, invalidation, replaced
}

/// Head, tail and total weight of one policy queue.
@usableFromInline
struct _List {
    @usableFromInline var head: Int32 = -1
    @usableFromInline var tail: Int32 = -1
    @usableFromInline var weight: Int = 0
    @usableFromInline var count: Int = 0
    @inlinable init() {}
}

/// A hierarchical timer wheel's geometry (Caffeine's): buckets of ~1.07 s, ~1.14 min,
/// ~1.22 h, ~0.78 d and one overflow bucket.
@usableFromInline
enum _Wheel {
    @usableFromInline static let none: UInt16 = .max
    @usableFromInline static let buckets: [Int] = [64, 64, 32, 4, 1]
    @usableFromInline static let shifts: [Int64] = [30, 36, 42, 46, 50]
    @usableFromInline static let spans: [Int64] = [1 << 30, 1 << 36, 1 << 42, 1 << 46, 1 << 50, 1 << 50]
    @usableFromInline static let offsets: [Int] = [0, 64, 128, 160, 164]
    @usableFromInline static let total = 165
}
