import Metrics

/// How an ``L1Cache`` is bounded, expires, loads and reports.
///
/// Set `maximumCount`, `maximumWeight` or both (then both bounds hold).
///
/// ```swift
/// var config = L1Configuration<String, Decision>(maximumCount: 100_000)
/// config.name = "authz"
/// config.defaultTTL = .seconds(300)
/// config.ttlJitter = 0.1
/// let cache = L1Cache(config)
/// ```
public struct L1Configuration<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    /// The name used as the `cache` dimension of the exported metrics.
    public var name: String = "default"
    /// The most entries the cache holds.
    public var maximumCount: Int?
    /// The most total weight the cache holds (bytes, with the default weigher).
    public var maximumWeight: Int?
    /// Weighs an entry (only used when `maximumWeight` is set). `nil` means
    /// ``L1DefaultWeigher``: an estimate of the entry's real memory in bytes.
    public var weigher: (@Sendable (Key, Value) -> Int)?
    /// The admission/eviction policy; the default is the adaptive one.
    public var policy: L1Policy = .adaptiveTinyLFU
    /// Time to live of entries stored without their own TTL. `nil`: they do not expire.
    public var defaultTTL: Duration?
    /// Shortens each entry's TTL by a random fraction in `[0, ttlJitter)` so that entries
    /// written together do not expire together. 0 (the default) disables jitter.
    public var ttlJitter: Double = 0
    /// When set, loader errors are cached for this long: callers of
    /// ``L1Cache/get(_:ttl:tags:loader:)`` get the cached error without a new load.
    public var negativeTTL: Duration?
    /// When set, an entry read through ``L1Cache/get(_:ttl:tags:loader:)`` less than this
    /// long before its expiry is reloaded in the background while its value is served.
    public var refreshAhead: Duration?
    /// The time source (inject ``L1ManualClock`` in tests).
    public var clock: any L1Clock = L1SystemClock()
    /// Number of lock stripes (rounded to a power of two, at most 64). `nil` picks one
    /// from the capacity: one shard per 4,096 entries of capacity (so small caches are a
    /// single shard and keep their full hit ratio), at most 64.
    public var shardCount: Int?
    /// Index keys that conform to ``PrefixInvalidatable`` for ``L1Cache/invalidate(prefix:)``.
    /// Turn off to save memory and insert time if prefix invalidation is never used.
    public var indexPrefixes: Bool = true
    /// Export statistics through swift-metrics.
    public var metricsEnabled: Bool = true
    /// The metrics backend; `nil` uses the globally bootstrapped `MetricsSystem.factory`.
    public var metricsFactory: (any MetricsFactory)?

    public init(
        maximumCount: Int? = nil,
        maximumWeight: Int? = nil,
        defaultTTL: Duration? = nil,
        policy: L1Policy = .adaptiveTinyLFU,
        clock: any L1Clock = L1SystemClock()
    ) {
        self.maximumCount = maximumCount
        self.maximumWeight = maximumWeight
        self.defaultTTL = defaultTTL
        self.policy = policy
        self.clock = clock
    }
}
