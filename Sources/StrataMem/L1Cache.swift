#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Metrics
import Synchronization

/// Strata's L1: an in-process, bounded, concurrent cache with W-TinyLFU admission,
/// per-entry TTL, invalidation by key, prefix, tag and all, single-flight loading that
/// never stores a value an invalidation has overtaken, and statistics.
///
/// ```swift
/// var config = L1Configuration<String, Bool>(maximumCount: 100_000, defaultTTL: .seconds(300))
/// config.name = "authz"
/// let cache = L1Cache(config)
///
/// cache.set("authz:team:7:project:19", true, tags: ["team:7"])
/// let allowed = try await cache.get("authz:team:7:project:20", tags: ["team:7"]) { key in
///     try await database.checkAccess(key)   // runs once however many callers wait
/// }
/// cache.invalidate(prefix: "authz:team:7:")  // or invalidate(tag: "team:7")
/// ```
///
/// The cache is split into segments by key hash (one for small caches); each segment has
/// its own policy state, guarded by a striped read lock. All methods are safe to call from
/// any thread or task.
public final class L1Cache<Key: Hashable & Sendable, Value: Sendable>: @unchecked Sendable {
    // @unchecked: `_stripes` addresses the segments, created in `init`, never moved and
    // destroyed in `deinit`. Each segment is `_readers` read stripes (a busy flag, its
    // counters and its read buffer, see `_ReadStripe`), a writer line (`writing` flag and
    // writer `Mutex`), a replay-lock line, then its `_SegmentState`.
    // Invariant: a read stripe's counters and buffer are accessed only by the reader that
    // holds its busy flag or by the segment's writer; the segment state is read by readers
    // holding a busy flag while `writing` is clear, and mutated only by the writer, which
    // holds the mutex, has set `writing` and has seen every busy flag clear (`_exclusive`)
    // — with one exception: a reader replaying its own full read buffer (`_tryDrain`)
    // mutates the policy-only state (flag bytes, sketch, queue links, counters) under its
    // busy flag and the segment's try-only replay lock; readers never read that state, and
    // writers, which do, wait for the busy flag.
    @usableFromInline typealias _State = _SegmentState<Key, Value>

    @usableFromInline let _stripes: UnsafeMutableRawPointer
    @usableFromInline let _stripeStride: Int
    @usableFromInline let _stripeMask: Int
    @usableFromInline let _stripeCount: Int
    /// Read stripes per segment (a power of two) and that minus one.
    @usableFromInline let _readers: Int
    @usableFromInline let _readerMask: Int
    /// Offset of the segment state in a segment (after its read stripes).
    @usableFromInline let _stateOffset: Int
    /// `_ReadStripe.threadKey`, copied.
    @usableFromInline let _threadKey: pthread_key_t
    @usableFromInline let _clock: any L1Clock
    @usableFromInline let _systemClock: Bool
    @usableFromInline let _unitWeights: Bool
    @usableFromInline let _weigher: (@Sendable (Key, Value) -> Int)?
    @usableFromInline let _prefixKey: (@Sendable (Key) -> String)?
    @usableFromInline let _defaultTTL: Int64?
    @usableFromInline let _jitter: Double
    @usableFromInline let _jitterState = Atomic<UInt64>(0x9E37_79B9_7F4A_7C15)
    @usableFromInline let _negativeTTL: Int64?
    @usableFromInline let _refreshAhead: Int64?
    let _metrics: _L1Metrics?

    /// The configuration the cache was created with.
    public let configuration: L1Configuration<Key, Value>

    /// Creates a cache. At least one of `maximumCount` and `maximumWeight` must be set.
    public init(_ configuration: L1Configuration<Key, Value>) {
        precondition(
            configuration.maximumCount != nil || configuration.maximumWeight != nil,
            "L1Configuration needs maximumCount or maximumWeight")
        self.configuration = configuration
        let maxCount = configuration.maximumCount.map { max(1, $0) }
        let maxWeight = configuration.maximumWeight.map { max(1, $0) }
        _unitWeights = maxWeight == nil
        _weigher = configuration.weigher
        _clock = configuration.clock
        _systemClock = configuration.clock is L1SystemClock
        _defaultTTL = configuration.defaultTTL?._l1Nanoseconds
        _jitter = min(1, max(0, configuration.ttlJitter))
        _negativeTTL = configuration.negativeTTL?._l1Nanoseconds
        _refreshAhead = configuration.refreshAhead?._l1Nanoseconds
        if configuration.indexPrefixes, let type = Key.self as? any PrefixInvalidatable.Type {
            _prefixKey = _makePrefixExtractor(type, Key.self)
        } else {
            _prefixKey = nil
        }

        // Stripes: one per 4,096 entries of capacity (weighted: per 4 MiB), a power of two, at most 64.
        let basis = maxCount ?? ((maxWeight ?? 0) / 1024)
        var stripes = 1
        if let requested = configuration.shardCount {
            while stripes * 2 <= min(64, max(1, requested)) { stripes *= 2 }
        } else {
            while stripes < 64, stripes * 2 * 4096 <= basis { stripes *= 2 }
        }
        _stripeCount = stripes
        _stripeMask = stripes - 1
        let readers = _ReadStripe.readers()
        precondition(
            MemoryLayout<Atomic<UInt32>>.size <= _ReadStripe.countersOffset
                && MemoryLayout<_ReadCounters>.size <= _ReadStripe.bufferOffset - _ReadStripe.countersOffset
                && MemoryLayout<Mutex<Void>>.size <= 64 - _ReadStripe.writerMutexOffset,
            "read stripe layout")
        _readers = readers
        _readerMask = readers - 1
        _threadKey = _ReadStripe.threadKey
        // The read stripes, the writer line, the replay-lock line, then the state.
        _stateOffset = readers * _ReadStripe.stride + 128
        let stride = _stateOffset + ((MemoryLayout<_State>.stride + 127) & ~127)
        _stripeStride = stride
        _stripes = UnsafeMutableRawPointer.allocate(byteCount: stride * stripes, alignment: 128)
        for s in 0..<stripes {
            func share(_ total: Int?) -> Int {
                guard let total else { return .max }
                return max(1, total / stripes + (s < total % stripes ? 1 : 0))
            }
            let stripeCount = share(maxCount)
            let stripeWeight = maxWeight == nil ? stripeCount : share(maxWeight)
            let state = _SegmentState<Key, Value>(
                maxWeight: stripeWeight, maxCount: stripeCount, weighted: maxWeight != nil,
                policy: configuration.policy, prefixIndexed: _prefixKey != nil,
                seed: UInt64(s + 1) &* 0x9E37_79B9_7F4A_7C15, clock: configuration.clock)
            let segment = _stripes + s * stride
            for r in 0..<readers {
                let stripe = segment + r * _ReadStripe.stride
                stripe.bindMemory(to: Atomic<UInt32>.self, capacity: 1).initialize(to: Atomic(0))
                (stripe + _ReadStripe.countersOffset).bindMemory(to: _ReadCounters.self, capacity: 1)
                    .initialize(to: _ReadCounters(count: 0, hits: 0, misses: 0, dropped: 0))
                (stripe + _ReadStripe.bufferOffset).bindMemory(to: Int32.self, capacity: _ReadStripe.capacity)
                    .initialize(repeating: -1, count: _ReadStripe.capacity)
            }
            (segment + _stateOffset - 128).bindMemory(to: Atomic<UInt32>.self, capacity: 1)
                .initialize(to: Atomic(0))
            (segment + _stateOffset - 128 + _ReadStripe.writerMutexOffset).bindMemory(to: Mutex<Void>.self, capacity: 1)
                .initialize(to: Mutex(()))
            (segment + _stateOffset - 64).bindMemory(to: Atomic<UInt32>.self, capacity: 1)
                .initialize(to: Atomic(0))
            (segment + _stateOffset).bindMemory(to: _State.self, capacity: 1).initialize(to: state)
        }
        _metrics = configuration.metricsEnabled ? _L1Metrics(name: configuration.name, factory: configuration.metricsFactory ?? MetricsSystem.factory) : nil
    }

    deinit {
        for s in 0..<_stripeCount {
            let segment = _stripes + s * _stripeStride
            (segment + _stateOffset).assumingMemoryBound(to: _State.self).deinitialize(count: 1)
            (segment + _stateOffset - 128).assumingMemoryBound(to: Atomic<UInt32>.self).deinitialize(count: 1)
            (segment + _stateOffset - 128 + _ReadStripe.writerMutexOffset).assumingMemoryBound(to: Mutex<Void>.self)
                .deinitialize(count: 1)
            (segment + _stateOffset - 64).assumingMemoryBound(to: Atomic<UInt32>.self).deinitialize(count: 1)
            for r in 0..<_readers {
                (segment + r * _ReadStripe.stride).assumingMemoryBound(to: Atomic<UInt32>.self).deinitialize(count: 1)
            }
        }
        _stripes.deallocate()
    }

    // MARK: - Internals

    @inlinable
    static func _hash(_ key: Key) -> UInt64 { UInt64(UInt(bitPattern: key.hashValue)) }

    @inlinable
    func _segment(_ hash: UInt64) -> UnsafeMutableRawPointer {
        _stripes + (Int(truncatingIfNeeded: hash >> 58) & _stripeMask) &* _stripeStride
    }

    @inlinable
    func _segment(at index: Int) -> UnsafeMutableRawPointer {
        _stripes + index &* _stripeStride
    }

    /// A read stripe's busy flag.
    @inlinable @inline(__always)
    func _busy(_ stripe: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Atomic<UInt32>> {
        stripe.assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    @inlinable @inline(__always)
    func _state(_ segment: UnsafeMutableRawPointer) -> UnsafeMutablePointer<_State> {
        (segment + _stateOffset).assumingMemoryBound(to: _State.self)
    }

    /// Set (sequentially consistent) by the segment's writer before it waits for the
    /// readers, cleared (release) when it is done. See `_ReadStripe`.
    @inlinable @inline(__always)
    func _writing(_ segment: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Atomic<UInt32>> {
        (segment + _stateOffset - 128).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    /// Excludes writers from each other; readers that meet a writer wait on it.
    @inlinable @inline(__always)
    func _writerMutex(_ segment: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Mutex<Void>> {
        (segment + _stateOffset - 128 + _ReadStripe.writerMutexOffset).assumingMemoryBound(to: Mutex<Void>.self)
    }

    /// The replay lock: a try-only spin lock (never waited for) that a reader holding its own
    /// read stripe takes to replay its full buffer. See `_tryDrain`. On its own cache line,
    /// apart from the writer line that every hit reads.
    @inlinable @inline(__always)
    func _replayLock(_ segment: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Atomic<UInt32>> {
        (segment + _stateOffset - 64).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    /// Runs `body` with the segment exclusively: takes the writer mutex, sets `writing`,
    /// waits for every read stripe to be free and replays its buffer into the policy, then
    /// calls `body`.
    @inlinable
    func _exclusive<T>(_ segment: UnsafeMutableRawPointer, _ body: (inout _State) -> T) -> T {
        let mutex = _writerMutex(segment)
        mutex.pointee._unsafeLock()
        let writing = _writing(segment)
        writing.pointee.store(1, ordering: .sequentiallyConsistent)
        let state = _state(segment)
        for r in 0..<_readers {
            let stripe = segment + r &* _ReadStripe.stride
            if _busy(stripe).pointee.load(ordering: .sequentiallyConsistent) != 0 { Self._waitForReader(_busy(stripe)) }
            _drain(stripe, state)
        }
        defer {
            writing.pointee.store(0, ordering: .releasing)
            mutex.pointee._unsafeUnlock()
        }
        return body(&state.pointee)
    }

    /// Waits until a reader clears its busy flag (it holds it for one probe, or one replay of
    /// its buffer): spins briefly, then yields the processor in case the reader's thread
    /// was preempted.
    @usableFromInline
    static func _waitForReader(_ busy: UnsafeMutablePointer<Atomic<UInt32>>) {
        var spins = 0
        while busy.pointee.load(ordering: .sequentiallyConsistent) != 0 {
            spins += 1
            if spins > 64 { sched_yield() }
        }
    }

    @inlinable
    func _exclusive<T>(hash: UInt64, _ body: (inout _State) -> T) -> T {
        _exclusive(_segment(hash), body)
    }

    /// Replays one read stripe's buffered hits into the policy, in order, and moves its
    /// counters into the segment's. Called by writers with the segment exclusive, before
    /// anything else changes the segment: no write has happened since the hits were
    /// buffered, so every buffered node is still the entry that was read.
    @inlinable
    func _drain(_ stripe: UnsafeMutableRawPointer, _ state: UnsafeMutablePointer<_State>) {
        _replay(stripe, state)
        let counters = (stripe + _ReadStripe.countersOffset).assumingMemoryBound(to: _ReadCounters.self)
        if counters.pointee.hits | counters.pointee.misses != 0 {
            state.pointee.hits &+= counters.pointee.hits
            state.pointee.misses &+= counters.pointee.misses
            // Every hit counted here was replayed (by `_replay`, which does not count it for
            // the hill climber) or dropped: all of them belong to the climber's sample.
            state.pointee.hitsInSample &+= counters.pointee.hits
            counters.pointee.hits = 0
            counters.pointee.misses = 0
            counters.pointee.dropped = 0
        }
    }

    /// Replays one read stripe's buffered hits into the policy, in order
    /// (`_SegmentState.recordAccess`), and empties the buffer. Called by `_drain`, or by
    /// `_tryDrain` with the stripe's own busy flag and the replay lock: either way no
    /// write has happened since the hits were buffered, so every buffered node is still
    /// the entry that was read. Writes only policy state (flag bytes, sketch, LRU links),
    /// never the segment's counters, so that readers replaying in turn share fewer lines.
    @inlinable
    func _replay(_ stripe: UnsafeMutableRawPointer, _ state: UnsafeMutablePointer<_State>) {
        let counters = (stripe + _ReadStripe.countersOffset).assumingMemoryBound(to: _ReadCounters.self)
        let n = counters.pointee.count
        if n > 0 {
            let buffer = (stripe + _ReadStripe.bufferOffset).assumingMemoryBound(to: Int32.self)
            for k in 0..<n { state.pointee.recordAccess(buffer[k]) }
            counters.pointee.count = 0
        }
    }

    /// What a read under a read stripe found.
    @usableFromInline
    enum _Read {
        case hit(Value)
        /// Absent (counted as a miss if asked to).
        case miss
        /// Needs the exclusive path: the entry has expired (it must be removed) or, for
        /// refresh-ahead, is close to expiring. Nothing was counted.
        case exclusive
    }

    /// Takes a read stripe of `segment` for the calling thread: its own stripe's busy flag,
    /// with no writer in the segment. Returns nil if that did not work out in
    /// `_ReadStripe.attempts` tries (the caller then takes the exclusive path).
    @inlinable @inline(__always)
    func _enter(_ segment: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? {
        let index = _ReadStripe.threadIndex(_threadKey)
        let stripe = segment + (index & _readerMask) &* _ReadStripe.stride
        if _busy(stripe).pointee.compareExchange(expected: 0, desired: 1, ordering: .sequentiallyConsistent).exchanged {
            if _writing(segment).pointee.load(ordering: .sequentiallyConsistent) == 0 { return stripe }
            _busy(stripe).pointee.store(0, ordering: .releasing)
        }
        return _enterContended(segment, index)
    }

    /// `_enter` after its first try failed: waits for a writer (on its mutex) or moves the
    /// thread to another stripe if a reader holds this one, and tries again.
    @usableFromInline
    func _enterContended(_ segment: UnsafeMutableRawPointer, _ firstIndex: Int) -> UnsafeMutableRawPointer? {
        var index = firstIndex
        for _ in 1..<_ReadStripe.attempts {
            if _writing(segment).pointee.load(ordering: .relaxed) != 0 {
                // A writer has the segment: wait for it to finish.
                _writerMutex(segment).pointee._unsafeLock()
                _writerMutex(segment).pointee._unsafeUnlock()
            }
            var stripe = segment + (index & _readerMask) &* _ReadStripe.stride
            if _busy(stripe).pointee.load(ordering: .relaxed) != 0 {
                // Another reader has this stripe: move this thread to another one.
                index = _ReadStripe.rehashThread(_threadKey, index)
                stripe = segment + (index & _readerMask) &* _ReadStripe.stride
            }
            if _busy(stripe).pointee.compareExchange(expected: 0, desired: 1, ordering: .sequentiallyConsistent).exchanged {
                if _writing(segment).pointee.load(ordering: .sequentiallyConsistent) == 0 { return stripe }
                _busy(stripe).pointee.store(0, ordering: .releasing)
            }
        }
        return nil
    }

    /// The hit path: one read stripe, one probe, and the entry's node appended to the read
    /// buffer (replayed by the next write, or by this reader when it fills). Writes nothing
    /// another reader reads or writes (but for the replay, once per buffer).
    @inlinable @inline(__always)
    func _read(_ key: Key, _ hash: UInt64, countMiss: Bool, refreshAhead: Int64?) -> _Read {
        let segment = _segment(hash)
        guard let stripe = _enter(segment) else { return .exclusive }
        let busy = _busy(stripe)
        let counters = (stripe + _ReadStripe.countersOffset).assumingMemoryBound(to: _ReadCounters.self)
        let state = _state(segment)
        let s = state.pointee.findSlot(key, UInt32(truncatingIfNeeded: hash))
        if s < 0 {
            if countMiss { counters.pointee.misses &+= 1 }
            busy.pointee.store(0, ordering: .releasing)
            return .miss
        }
        let slot = state.pointee.slots + s
        let expiresAt = slot.pointee.expiresAt
        if expiresAt != Int64.max {
            let now = _nowNanos()
            if now >= expiresAt || (refreshAhead.map { expiresAt &- now <= $0 } ?? false) {
                busy.pointee.store(0, ordering: .releasing)
                return .exclusive
            }
        }
        let value = slot.pointee.value
        let node = Int32(truncatingIfNeeded: slot.pointee.meta) &- 1
        counters.pointee.hits &+= 1
        let n = counters.pointee.count
        if n < _ReadStripe.capacity {
            (stripe + _ReadStripe.bufferOffset).assumingMemoryBound(to: Int32.self)[n] = node
            counters.pointee.count = n &+ 1
            if n &+ 1 == _ReadStripe.capacity { _tryDrain(segment, holding: stripe) }
        } else {
            // Full: another reader was replaying this segment when it filled up. Count the
            // hit and retry the replay every 16 hits (lossy, like Caffeine's read buffer).
            counters.pointee.dropped &+= 1
            if counters.pointee.dropped & 15 == 0 { _tryDrain(segment, holding: stripe) }
        }
        busy.pointee.store(0, ordering: .releasing)
        return .hit(value)
    }

    /// Called with read stripe `holding` taken and its buffer full: replays that buffer
    /// into the policy if no other reader is replaying (otherwise leaves it for a later try
    /// or the next write). Never waits.
    ///
    /// Holding a read stripe excludes writers (they wait for every busy flag), and the
    /// replay lock excludes other replays; readers may run concurrently because a replay
    /// writes only policy state no reader reads: flag bytes, sketch, queue links, and the
    /// sketch's size (`recordAccess`, `resetSketch`), never the slots or the table's
    /// fields. Only this stripe's buffer is replayed (the others belong to their readers).
    ///
    /// First, without the replay lock, it looks at the flags of the buffered entries: if
    /// every one is saturated (`_Flags.saturated`: a hot entry whose hits no longer change
    /// anything), replaying is a no-op and the buffer is just emptied. So readers of a hot
    /// set do not pass the replay lock's cache line between their cores. The flags are
    /// atomics for this look (`_FlagBytes`); if another reader's replay ages the sketch
    /// meanwhile, up to one buffer of hits is lost to the policy, as when a buffer is full.
    /// Exact LRU (`.lru`) reorders on every hit and always replays.
    @inlinable
    func _tryDrain(_ segment: UnsafeMutableRawPointer, holding stripe: UnsafeMutableRawPointer) {
        let state = _state(segment)
        let counters = (stripe + _ReadStripe.countersOffset).assumingMemoryBound(to: _ReadCounters.self)
        if state.pointee.mode != 2 {
            let buffer = (stripe + _ReadStripe.bufferOffset).assumingMemoryBound(to: Int32.self)
            let flags = state.pointee.flagBytes
            var k = 0
            let n = counters.pointee.count
            while k < n, _Flags.saturated(flags[Int(buffer[k])]) { k &+= 1 }
            if k == n {
                counters.pointee.count = 0
                return
            }
        }
        let replay = _replayLock(segment)
        guard replay.pointee.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged else { return }
        _replay(stripe, state)
        replay.pointee.store(0, ordering: .releasing)
    }

    @inlinable
    func _nowNanos() -> Int64 {
        _systemClock ? L1SystemClock().now().nanoseconds : _clock.now().nanoseconds
    }

    @inlinable
    func _expiry(_ ttl: Duration?, now: Int64) -> Int64 {
        guard var nanos = ttl?._l1Nanoseconds ?? _defaultTTL else { return .max }
        if _jitter > 0, nanos > 0 {
            var x = _jitterState.wrappingAdd(0x9E37_79B9_7F4A_7C15, ordering: .relaxed).newValue
            x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
            x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
            x ^= x >> 31
            let unit = Double(x >> 11) / Double(1 << 53)
            nanos -= Int64(Double(nanos) * _jitter * unit)
        }
        let (sum, overflow) = now.addingReportingOverflow(max(0, nanos))
        return overflow ? Int64.max - 1 : min(sum, Int64.max - 1)
    }

    /// Bytes of the cache's own structures per entry: its node with the node array's
    /// average unused share (~11%, it grows by 1.25×), its flags byte, and its share of the
    /// hash table, whose slots hold key, value, deadline and 8 bytes of hash and index at
    /// 37.5–75% load (counted at 50%), less the key and value themselves. Part of every
    /// default weight.
    public static var perEntryOverheadBytes: Int {
        MemoryLayout<_Node>.stride * 9 / 8 + 1 + MemoryLayout<_Slot<Key, Value>>.stride * 2
            - MemoryLayout<Key>.size - MemoryLayout<Value>.size
    }

    @inlinable
    func _weight(_ key: Key, _ value: Value, prefixKey: String?) -> Int {
        if _unitWeights { return 1 }
        if let weigher = _weigher { return weigher(key, value) }
        var bytes = Self.perEntryOverheadBytes + MemoryLayout<Key>.size + MemoryLayout<Value>.size
        bytes += L1DefaultWeigher.heapBytes(of: key) + L1DefaultWeigher.heapBytes(of: value)
        if let prefixKey {
            // Its radix-tree leaf: a node record, a label buffer and a children buffer.
            bytes += 40 + _mallocSize(32 + prefixKey.utf8.count) + 48
        }
        return bytes
    }

    @inlinable
    static func _uniqueTags(_ tags: [String]) -> [String] {
        tags.count < 2 ? tags : Array(Set(tags))
    }

    // MARK: - Reading

    /// The value cached for `key`, or `nil` if there is none or it has expired.
    /// Counts as a hit or a miss and as an access for the eviction policy.
    @inlinable
    public func get(_ key: Key) -> Value? {
        let hash = Self._hash(key)
        switch _read(key, hash, countMiss: true, refreshAhead: nil) {
        case .hit(let value): return value
        case .miss: return nil
        case .exclusive:
            return _exclusive(hash: hash) { state in state.get(key, UInt32(truncatingIfNeeded: hash)) }
        }
    }

    /// The value cached for `key` (as ``get(_:)``).
    @inlinable
    public subscript(key: Key) -> Value? { self.get(key) }

    /// Everything the cache knows about `key`'s live entry, without counting a hit or
    /// touching the eviction policy.
    public func entry(_ key: Key) -> L1EntryInfo<Value>? {
        let hash = Self._hash(key)
        let now = _nowNanos()
        return _exclusive(hash: hash) { state -> L1EntryInfo<Value>? in
            let s = state.findSlot(key, UInt32(truncatingIfNeeded: hash))
            if s < 0 { return nil }
            let slot = state.slots + s
            let i = Int32(truncatingIfNeeded: slot.pointee.meta) &- 1
            let node = state.nodes[Int(i)]
            if node.expiresAt != .max, now >= node.expiresAt { return nil }
            return L1EntryInfo(
                value: slot.pointee.value, writtenAt: L1Instant(nanoseconds: node.writtenAt),
                expiresAt: node.expiresAt == .max ? nil : L1Instant(nanoseconds: node.expiresAt),
                tags: state.tagsOf[i] ?? [], weight: Int(node.weight))
        }
    }

    /// When `key`'s live entry was written, on the cache's clock.
    public func writeTime(of key: Key) -> L1Instant? { entry(key)?.writtenAt }

    /// Whether `key` has a live entry (no statistics, no policy update).
    public func contains(_ key: Key) -> Bool { entry(key) != nil }

    // MARK: - Writing

    /// Stores `value` for `key`, replacing any previous entry.
    ///
    /// - Parameters:
    ///   - ttl: time to live; `nil` uses the configuration's `defaultTTL` (which may be none).
    ///   - tags: tags for ``invalidate(tag:)``.
    ///
    /// A `set` while a load of `key` is in flight wins: the load's result will not be stored.
    @inlinable
    public func set(_ key: Key, _ value: Value, ttl: Duration? = nil, tags: [String] = []) {
        let hash = Self._hash(key)
        let now = _nowNanos()
        let expiresAt = _expiry(ttl, now: now)
        let prefixKey = _prefixKey?(key)
        let weight = _weight(key, value, prefixKey: prefixKey)
        let tags = Self._uniqueTags(tags)
        let flush = _exclusive(hash: hash) { state -> Bool in
            state.set(
                key, value, UInt32(truncatingIfNeeded: hash), weight: weight, expiresAt: expiresAt, now: now,
                tags: tags, prefixKey: prefixKey)
            state.writes &+= 1
            return state.writes & 4095 == 0
        }
        if flush { recordMetrics() }
    }

    // MARK: - Invalidation

    /// Removes `key`'s entry and prevents an in-flight load of `key` from storing its result.
    /// Returns whether an entry was removed.
    @discardableResult
    public func invalidate(key: Key) -> Bool {
        let hash = Self._hash(key)
        return _exclusive(hash: hash) { $0.invalidate(key, UInt32(truncatingIfNeeded: hash)) }
    }

    /// Removes every entry tagged `tag` (cost proportional to their number) and fences
    /// in-flight loads with that tag. Returns how many entries were removed.
    @discardableResult
    public func invalidate(tag: String) -> Int {
        var removed = 0
        for s in 0..<_stripeCount {
            removed += _exclusive(_segment(at: s)) { $0.invalidate(tag: tag, writtenBefore: nil) }
        }
        return removed
    }

    /// Removes entries tagged `tag` that were written before `instant`, and fences
    /// in-flight loads with that tag that started before it ("fail closed after an outage":
    /// pass the instant the invalidation channel became unhealthy).
    @discardableResult
    public func invalidate(tag: String, writtenBefore instant: L1Instant) -> Int {
        var removed = 0
        for s in 0..<_stripeCount {
            removed += _exclusive(_segment(at: s)) {
                $0.invalidate(tag: tag, writtenBefore: instant.nanoseconds)
            }
        }
        return removed
    }

    /// Removes every entry and fences every in-flight load. Returns how many entries were removed.
    @discardableResult
    public func invalidateAll() -> Int {
        var removed = 0
        for s in 0..<_stripeCount {
            removed += _exclusive(_segment(at: s)) { $0.invalidateAll() }
        }
        return removed
    }

    // MARK: - Maintenance and statistics

    /// The cache clock's current instant.
    public func now() -> L1Instant { L1Instant(nanoseconds: _nowNanos()) }

    /// Removes expired entries now (otherwise done as writes happen). Only the timer-wheel
    /// buckets whose time has come are visited.
    public func cleanUp() {
        let now = _nowNanos()
        for s in 0..<_stripeCount {
            _exclusive(_segment(at: s)) { $0.advance(now) }
        }
    }

    /// Number of entries (including expired ones not yet cleaned up).
    public var count: Int {
        var total = 0
        for s in 0..<_stripeCount { total += _exclusive(_segment(at: s)) { $0.count } }
        return total
    }

    /// Current total weight.
    public var weight: Int {
        var total = 0
        for s in 0..<_stripeCount { total += _exclusive(_segment(at: s)) { $0.totalWeight } }
        return total
    }

    /// Number of lock stripes.
    public var shardCount: Int { _stripeCount }

    /// A snapshot of the counters, summed over the stripes.
    public var statistics: L1Statistics {
        var stats = L1Statistics()
        for s in 0..<_stripeCount {
            _exclusive(_segment(at: s)) { state in
                stats.hits += state.hits
                stats.misses += state.misses
                stats.loadSuccesses += state.loadSuccesses
                stats.loadFailures += state.loadFailures
                stats.evictionsBySize += state.evictedBySize
                stats.evictionsByExpiry += state.evictedByExpiry
                stats.evictionsByInvalidation += state.evictedByInvalidation
                stats.loadsDiscarded += state.loadsDiscarded
                stats.entries += state.count
                stats.weight += state.totalWeight
            }
        }
        return stats
    }

    /// Pushes the statistics to swift-metrics (`strata_l1_hits`, `strata_l1_misses`,
    /// `strata_l1_loads`, `strata_l1_load_failures`, `strata_l1_loads_discarded`,
    /// `strata_l1_evictions{cause}`, gauges `strata_l1_entries`, `strata_l1_weight`,
    /// `strata_l1_hit_ratio`; all with dimension `cache` = the configured name).
    ///
    /// Writes call this every 4,096 writes per stripe; call it from a periodic task too if
    /// the cache is read-mostly.
    public func recordMetrics() {
        _metrics?.record { statistics }
    }
}

extension L1Cache where Key: PrefixInvalidatable {
    /// Removes every entry whose ``PrefixInvalidatable/invalidationKey`` starts with
    /// `prefix` (give the text without a trailing `*`; the empty prefix removes all) and
    /// fences in-flight loads of such keys. Cost is proportional to what is removed.
    @discardableResult
    public func invalidate(prefix: String) -> Int {
        if prefix.isEmpty { return invalidateAll() }
        precondition(_prefixKey != nil, "prefix invalidation needs configuration.indexPrefixes")
        var removed = 0
        for s in 0..<_stripeCount {
            removed += _exclusive(_segment(at: s)) { $0.invalidate(prefix: prefix) }
        }
        return removed
    }
}
