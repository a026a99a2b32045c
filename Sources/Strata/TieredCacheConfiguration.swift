import Logging
import Metrics
import StrataMem

/// Everything a ``TieredCache`` needs besides its layers.
///
/// ```swift
/// var configuration = TieredCacheConfiguration(name: "profiles")
/// configuration.policies = try CachePolicies.fromEnvironment()
/// configuration.l1MaximumCount = 200_000
/// ```
public struct TieredCacheConfiguration: Sendable {
    /// The `cache` dimension of the metrics and the L1 cache's name.
    public var name: String
    /// Policies by kind, for ``TieredCache/policy(_:)``.
    public var policies: CachePolicies = .defaults
    /// Bound on L1 entries.
    public var l1MaximumCount: Int = 100_000
    /// Optional bound on L1 weight (bytes as the L1 default weigher estimates them; the
    /// estimate is kept either way and reported as the L1's memory).
    public var l1MaximumWeight: Int?
    /// Shorten each L1 TTL by up to this fraction, at random (spreads expiries).
    public var l1TTLJitter: Double = 0
    /// Bound on the fail-safe store (last good values of fail-safe kinds).
    public var staleMaximumCount: Int = 10_000
    /// The L1 clock (also the clock of the invalidation source's instants).
    public var clock: any L1Clock = L1SystemClock()
    /// Without an invalidation source, nothing evicts an L1 copy when the truth changes,
    /// so fail-closed kinds skip L1 (`nil`, the default: L2, which the worker invalidates,
    /// and the loader answer). Set a duration to keep them in L1 for at most that long
    /// instead — which is then the longest a revoked allow can still be served.
    public var failClosedL1TTLWithoutInvalidation: Duration?
    /// Time one L1 hit in 1,024 (counted per thread, in memory only that thread touches)
    /// for the latency histogram and the `strata_tiered_latency{layer=l1}` timer.
    public var sampleL1Latency: Bool = true
    /// Where metrics go (default: the bootstrapped `MetricsSystem.factory`).
    public var metricsFactory: (any MetricsFactory)?
    public var logger = Logger(label: "strata.tiered")

    public init(name: String = "default") {
        self.name = name
    }

    func validate() throws(TieredCacheError) {
        guard l1MaximumCount >= 1 else {
            throw TieredCacheError(code: .invalidConfiguration, message: "l1MaximumCount must be at least 1, got \(l1MaximumCount)")
        }
        guard staleMaximumCount >= 1 else {
            throw TieredCacheError(code: .invalidConfiguration, message: "staleMaximumCount must be at least 1, got \(staleMaximumCount)")
        }
        if let ttl = failClosedL1TTLWithoutInvalidation, ttl <= .zero {
            throw TieredCacheError(code: .invalidConfiguration,
                                   message: "failClosedL1TTLWithoutInvalidation must be positive (or nil to keep fail-closed kinds out of L1)")
        }
        try policies.validate()
    }
}

/// Test and integration hooks of a ``TieredCache``.
public struct TieredCacheHooks: Sendable {
    /// Runs after a loader returned and before its value is written to L2 and L1: a test
    /// invalidates the key here to force the stale-set race deterministically.
    public var afterLoad: (@Sendable (_ key: String) async -> Void)?

    public init(afterLoad: (@Sendable (_ key: String) async -> Void)? = nil) {
        self.afterLoad = afterLoad
    }
}
