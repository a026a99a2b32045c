/// A snapshot of an ``L2Cache``'s counters. Counters only grow. The same figures are
/// exported through swift-metrics as `strata_l2_*` counters as they happen.
public struct L2Statistics: Hashable, Sendable, CustomStringConvertible {
    /// Lookups that returned a valid entry.
    public var hits = 0
    /// Lookups that found no usable entry (includes `staleMisses` and `rejected`).
    public var misses = 0
    /// Misses because a covering prefix's generation changed since the entry was written.
    public var staleMisses = 0
    /// Entries rejected as corrupt, truncated, forged, moved, of unknown version or
    /// undecodable (each one was deleted).
    public var rejected = 0
    /// Calls that skipped Redis because the breaker was open.
    public var skippedCircuitOpen = 0
    /// Calls that failed in Redis (connection, timeout, error reply, no free connection).
    public var redisFailures = 0
    /// Calls that found every pooled connection in use for
    /// ``L2Configuration/connectionWaitTimeout`` (also counted in `redisFailures`).
    public var poolTimeouts = 0
    /// Values stored.
    public var writes = 0
    /// Writes refused because of an invalidation since the miss (stale-set protection).
    public var writesRefused = 0
    /// Leases granted to this instance.
    public var leasesGranted = 0
    /// Loads that found another instance's lease.
    public var leaseContentions = 0
    /// Loader calls.
    public var loads = 0
    /// Times the circuit breaker opened.
    public var breakerOpenings = 0

    public init() {}

    public var description: String {
        "L2Statistics(hits: \(hits), misses: \(misses) (stale \(staleMisses), rejected \(rejected)), "
            + "skipped: \(skippedCircuitOpen), redisFailures: \(redisFailures) (pool timeouts \(poolTimeouts)), writes: \(writes) (refused \(writesRefused)), "
            + "leases: \(leasesGranted) (contended \(leaseContentions)), loads: \(loads), breakerOpenings: \(breakerOpenings))"
    }
}
