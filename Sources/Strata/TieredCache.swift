import Logging
import Metrics
import StrataInvalidation
import StrataL2
import StrataMem
import Synchronization

/// The three layers behind one call: L1 in process, L2 in Redis, and a loader (an L3 SQL
/// function or the application's own query).
///
/// ```swift
/// let cache = try TieredCache<Profile>(
///     configuration: TieredCacheConfiguration(name: "profiles"),
///     l2: try L2Cache(configuration: try L2Configuration(url: "redis://127.0.0.1:6379")),
///     invalidationSource: subscriber)                    // a RedisInvalidationSubscriber
/// let policy = try cache.policy(.userSessions)
/// let profile = try await cache.get(CacheKey("profile", userID), policy: policy) {
///     try await database.profile(userID)                 // runs once per key, whoever asks
/// }
/// try await cache.invalidate(CacheKey("profile", userID))
/// ```
///
/// - **Reads**: L1 → L2 → loader. What a lower layer returns is promoted to the faster
///   layers with the policy's TTL for each. An L2 hit is one round trip (`GET` and the
///   generations, pipelined); a miss takes the key's lease in a second one. One load per key at a time, across the tiers
///   (single flight): concurrent callers of a missing key wait for the first one's result.
/// - **Stale sets**: every load is fenced. An invalidation (from the invalidation source or
///   this cache's own `invalidate`/`set`) that touches a key while it loads keeps the
///   loaded value out of L1; L2 write-backs go through the key's lease, so the worker's
///   `UNLINK`/`INCR` in between refuses them. The caller still gets the value it loaded.
/// - **Fail closed**: values of fail-closed kinds (authorization decisions, sessions) are
///   not read from L1 or L2 while the invalidation source is unhealthy (they go to the
///   loader), are never served stale, and without any invalidation source skip L1 (see
///   ``TieredCacheConfiguration/failClosedL1TTLWithoutInvalidation``).
/// - **Fail-safe**: kinds with a ``CachePolicy/FailSafe`` keep their last good value up to
///   its hard limit and serve it when the loader fails, times out, or (soft timeout) is slow.
/// - **Redis down**: lookups skip L2 (circuit breaker) and go on to the loader.
///
/// The cache is an ``L1InvalidationTarget``: pass the invalidation source to `init` and it
/// registers itself.
public final class TieredCache<Value: Codable & Sendable>: Sendable {
    public let configuration: TieredCacheConfiguration
    /// The Redis layer, if any.
    public let l2: L2Cache?
    /// Where invalidations and the channel's health come from, if anywhere.
    public let invalidationSource: (any InvalidationSource)?

    @usableFromInline let _l1: L1Cache<String, Value?>
    /// Last good values of fail-safe kinds, each kept for its policy's maximum staleness.
    let _stale: L1Cache<String, Value?>
    let _flights = _FlightTable<Value>()
    /// Whether fail-closed kinds may be read from L1 now.
    @usableFromInline let _failClosedL1: Atomic<Bool>
    /// Whether one L1 hit in ``_L1Sampling/period`` (per thread) is timed.
    @usableFromInline let _sampling: Bool
    /// `nil` without an invalidation source.
    let _health: Mutex<InvalidationHealth?>
    let _counters: _TieredCounters
    let hooks: TieredCacheHooks
    let logger: Logger

    /// Creates the cache; with an invalidation source, registers itself as its target.
    ///
    /// - Throws: ``TieredCacheError`` `.invalidConfiguration` saying which setting is wrong.
    public init(
        configuration: TieredCacheConfiguration, l2: L2Cache? = nil,
        invalidationSource: (any InvalidationSource)? = nil, hooks: TieredCacheHooks = TieredCacheHooks()
    ) throws(TieredCacheError) {
        try configuration.validate()
        self.configuration = configuration
        self.l2 = l2
        self.invalidationSource = invalidationSource
        self.hooks = hooks
        self.logger = configuration.logger
        var l1 = L1Configuration<String, Value?>(maximumCount: configuration.l1MaximumCount, defaultTTL: nil)
        // Always a weight bound, so that weights are the default weigher's byte estimates
        // (the memory figure of the performance samples), not unit weights.
        l1.maximumWeight = configuration.l1MaximumWeight ?? (Int.max >> 8)
        l1.name = configuration.name
        l1.clock = configuration.clock
        l1.ttlJitter = configuration.l1TTLJitter
        l1.metricsFactory = configuration.metricsFactory
        _l1 = L1Cache(l1)
        var stale = L1Configuration<String, Value?>(maximumCount: configuration.staleMaximumCount, defaultTTL: nil)
        stale.name = configuration.name + ".stale"
        stale.clock = configuration.clock
        stale.metricsEnabled = false
        _stale = L1Cache(stale)
        _sampling = configuration.sampleL1Latency
        let health = invalidationSource?.health
        _health = Mutex(health)
        _failClosedL1 = Atomic(health.map(\.isHealthy) ?? (configuration.failClosedL1TTLWithoutInvalidation != nil))
        _counters = _TieredCounters(name: configuration.name, factory: configuration.metricsFactory ?? MetricsSystem.factory)
        invalidationSource?.addTarget(self)
    }

    /// The configured policy of `kind`.
    public func policy(_ kind: CacheKind) throws(TieredCacheError) -> CachePolicy {
        try configuration.policies.policy(for: kind)
    }

    // MARK: Reads

    /// The value of `key`: from L1, else L2, else `loader` (once per key, however many
    /// callers wait), promoted to the faster layers with the policy's TTLs.
    ///
    /// - Parameters:
    ///   - tags: L1 tags for ``invalidate(tag:)`` (L1 only; Redis has no tags).
    ///   - loader: runs when no layer has the value; its errors are rethrown (after a
    ///     fail-safe policy had its chance to serve a stale value).
    /// - Throws: the loader's error, ``TieredCacheError`` `.loaderTimedOut`, or L2's
    ///   `L2Error` for a value it cannot store (`.encodingFailed`).
    @inlinable
    public func get(
        _ key: CacheKey, policy: CachePolicy, tags: [String] = [],
        loader: @escaping @Sendable () async throws -> Value
    ) async throws -> Value {
        if policy.l1TTL != nil, !policy.failClosed || _failClosedL1.load(ordering: .relaxed),
           case .some(.some(let value)) = _l1Lookup(key.text) {
            return value
        }
        if let value = try await _find(key, policy: policy, tags: tags, loader: { try await loader() }) {
            return value
        }
        // Only a `find` of the same key caches "absent"; `get` answers from its loader.
        return try await loader()
    }

    /// As ``get(_:policy:tags:loader:)`` with the policy of `kind`.
    public func get(
        _ key: CacheKey, kind: CacheKind, tags: [String] = [],
        loader: @escaping @Sendable () async throws -> Value
    ) async throws -> Value {
        try await get(key, policy: try policy(kind), tags: tags, loader: loader)
    }

    /// The value of `key`, or `nil` when the loader finds none; "absent" is cached for the
    /// policy's ``CachePolicy/negativeTTL`` (not at all without one).
    @inlinable
    public func find(
        _ key: CacheKey, policy: CachePolicy, tags: [String] = [],
        loader: @escaping @Sendable () async throws -> Value?
    ) async throws -> Value? {
        if policy.l1TTL != nil, !policy.failClosed || _failClosedL1.load(ordering: .relaxed),
           case .some(let stored) = _l1Lookup(key.text) {
            return stored
        }
        return try await _find(key, policy: policy, tags: tags, loader: loader)
    }

    /// The L1 lookup of the hit path; times it when a sample is due.
    @inlinable
    func _l1Lookup(_ key: String) -> Value?? {
        if _sampling, _L1Sampling.due() { return _sampledL1Lookup(key) }
        return _l1.get(key)
    }

    @usableFromInline
    func _sampledL1Lookup(_ key: String) -> Value?? {
        let clock = L1SystemClock()
        let start = clock.now()
        let stored = _l1.get(key)
        if stored != nil { _counters.recordL1(nanoseconds: clock.now().nanoseconds - start.nanoseconds) }
        return stored
    }

    // MARK: Writes

    /// Stores `value` in L2 (fenced write that also removes the key's lease, so a loader
    /// that read older data cannot overwrite it) and in L1, and keeps in-flight loads of
    /// the key from storing their results.
    ///
    /// Other instances' L1 copies are not touched: change the truth in PostgreSQL (the
    /// capture trigger and the worker invalidate everywhere) or call
    /// `strata.invalidate(keys)` in the writing transaction.
    ///
    /// - Throws: `L2Error` (`.encodingFailed`, `.valueTooLarge`); Redis failures are not thrown.
    public func set(_ key: CacheKey, _ value: Value, policy: CachePolicy, tags: [String] = []) async throws {
        let layers = _layers(policy)
        if layers.l2, let l2, let ttl = policy.l2TTL {
            _ = try await l2.set(key.text, value: Optional(value), ttl: ttl)
        }
        _flights.fence(keys: CollectionOfOne(key.text))
        if let ttl = layers.l1TTL {
            _l1.set(key.text, value, ttl: ttl, tags: tags)
        } else {
            _l1.invalidate(key: key.text)
        }
        if let failSafe = policy.failSafe { _stale.set(key.text, value, ttl: failSafe.maximumStaleness, tags: tags) }
    }

    // MARK: State

    /// The invalidation source's health as this cache last heard it; `nil` without a source.
    public var invalidationHealth: InvalidationHealth? { _health.withLock { $0 } }

    /// Counters per layer.
    public var statistics: TieredCacheStatistics { _counters.statistics(l1: _l1.statistics) }

    /// Number of L1 entries.
    public var l1Count: Int { _l1.count }

    /// Whether L1 holds a live entry for `key` (no statistics touched).
    public func l1Contains(_ key: CacheKey) -> Bool { _l1.contains(key.text) }

    /// Pushes L1 statistics, the tiered counters and the L2 breaker state to
    /// swift-metrics; call it periodically (``PerformanceReporter`` does).
    public func recordMetrics() {
        _l1.recordMetrics()
        _counters.recordMetrics(l1: _l1.statistics, breaker: l2?.breakerState)
    }

    // MARK: Layers of one request

    struct _Layers {
        /// L1 time to live for this request's kind now; `nil`: not in L1.
        var l1TTL: Duration?
        var l2: Bool
        /// Fail-closed kind while the invalidation source is unhealthy: the loader only.
        var bypass: Bool
    }

    func _layers(_ policy: CachePolicy) -> _Layers {
        let useL2 = policy.l2TTL != nil && l2 != nil
        guard policy.failClosed else { return _Layers(l1TTL: policy.l1TTL, l2: useL2, bypass: false) }
        if let health = _health.withLock({ $0 }) {
            if case .unhealthy = health { return _Layers(l1TTL: nil, l2: false, bypass: true) }
            return _Layers(l1TTL: policy.l1TTL, l2: useL2, bypass: false)
        }
        var l1TTL: Duration?
        if let cap = configuration.failClosedL1TTLWithoutInvalidation, let ttl = policy.l1TTL { l1TTL = min(ttl, cap) }
        return _Layers(l1TTL: l1TTL, l2: useL2, bypass: false)
    }

    /// The L1 time to live of a loaded value (`nil`: do not store it).
    func _l1TTL(_ layers: _Layers, _ policy: CachePolicy, _ value: Value?) -> Duration? {
        guard let ttl = layers.l1TTL else { return nil }
        if case .none = value {
            guard let negative = policy.negativeTTL else { return nil }
            return min(ttl, negative)
        }
        return ttl
    }
}

extension TieredCache: PerformanceSampling {
    public func takePerformanceSample() -> [String: LayerPerformance] {
        return _counters.takeSample(l1: _l1.statistics)
    }
}
