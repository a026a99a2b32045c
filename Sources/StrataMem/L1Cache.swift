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
/// The cache is split into lock stripes by key hash (one for small caches); each stripe
/// has its own policy state. All methods are safe to call from any thread or task.
public final class L1Cache<Key: Hashable & Sendable, Value: Sendable>: @unchecked Sendable {
    // @unchecked: the stored pointer addresses `Mutex`es that are created in `init`,
    // never moved and destroyed in `deinit`; every access to their state takes the lock.
    @usableFromInline typealias _Stripe = Mutex<_SegmentState<Key, Value>>

    @usableFromInline let _stripes: UnsafeMutableRawPointer
    @usableFromInline let _stripeStride: Int
    @usableFromInline let _stripeMask: Int
    @usableFromInline let _stripeCount: Int
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
        let stride = (MemoryLayout<_Stripe>.stride + 127) & ~127
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
            (_stripes + s * stride).bindMemory(to: _Stripe.self, capacity: 1).initialize(to: _Stripe(state))
        }
        _metrics = configuration.metricsEnabled ? _L1Metrics(name: configuration.name, factory: configuration.metricsFactory ?? MetricsSystem.factory) : nil
    }

    deinit {
        for s in 0..<_stripeCount {
            (_stripes + s * _stripeStride).assumingMemoryBound(to: _Stripe.self).deinitialize(count: 1)
        }
        _stripes.deallocate()
    }

    // MARK: - Internals

    @inlinable
    static func _hash(_ key: Key) -> UInt64 { UInt64(UInt(bitPattern: key.hashValue)) }

    @inlinable
    func _stripe(_ hash: UInt64) -> UnsafeMutablePointer<_Stripe> {
        (_stripes + (Int(truncatingIfNeeded: hash >> 58) & _stripeMask) &* _stripeStride)
            .assumingMemoryBound(to: _Stripe.self)
    }

    @inlinable
    func _stripe(at index: Int) -> UnsafeMutablePointer<_Stripe> {
        (_stripes + index * _stripeStride).assumingMemoryBound(to: _Stripe.self)
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

    /// Bytes of the cache's own structures per entry: its node (less the key and value it
    /// holds) with the node array's average unused share (~11%, it grows by 1.25×) and its
    /// share of the hash index (8-byte slots at 37–75% load). Part of every default weight.
    public static var perEntryOverheadBytes: Int {
        MemoryLayout<_Node<Key, Value>>.stride * 9 / 8 - MemoryLayout<Key>.size - MemoryLayout<Value>.size + 14
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
        return _stripe(hash).pointee.withLock { state in
            state.get(key, UInt32(truncatingIfNeeded: hash))
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
        return _stripe(hash).pointee.withLock { state -> L1EntryInfo<Value>? in
            let i = state.find(key, UInt32(truncatingIfNeeded: hash))
            if i < 0 { return nil }
            let node = state.nodes[Int(i)]
            if node.expiresAt != .max, now >= node.expiresAt { return nil }
            return L1EntryInfo(
                value: node.value, writtenAt: L1Instant(nanoseconds: node.writtenAt),
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
        let flush = _stripe(hash).pointee.withLock { state -> Bool in
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
        return _stripe(hash).pointee.withLock { $0.invalidate(key, UInt32(truncatingIfNeeded: hash)) }
    }

    /// Removes every entry tagged `tag` (cost proportional to their number) and fences
    /// in-flight loads with that tag. Returns how many entries were removed.
    @discardableResult
    public func invalidate(tag: String) -> Int {
        var removed = 0
        for s in 0..<_stripeCount {
            removed += _stripe(at: s).pointee.withLock { $0.invalidate(tag: tag, writtenBefore: nil) }
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
            removed += _stripe(at: s).pointee.withLock {
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
            removed += _stripe(at: s).pointee.withLock { $0.invalidateAll() }
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
            _stripe(at: s).pointee.withLock { $0.advance(now) }
        }
    }

    /// Number of entries (including expired ones not yet cleaned up).
    public var count: Int {
        var total = 0
        for s in 0..<_stripeCount { total += _stripe(at: s).pointee.withLock { $0.count } }
        return total
    }

    /// Current total weight.
    public var weight: Int {
        var total = 0
        for s in 0..<_stripeCount { total += _stripe(at: s).pointee.withLock { $0.totalWeight } }
        return total
    }

    /// Number of lock stripes.
    public var shardCount: Int { _stripeCount }

    /// A snapshot of the counters, summed over the stripes.
    public var statistics: L1Statistics {
        var stats = L1Statistics()
        for s in 0..<_stripeCount {
            _stripe(at: s).pointee.withLock { state in
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
            removed += _stripe(at: s).pointee.withLock { $0.invalidate(prefix: prefix) }
        }
        return removed
    }
}
