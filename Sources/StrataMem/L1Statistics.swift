/// A snapshot of an ``L1Cache``'s counters, summed over its shards.
///
/// Counters only grow; `entries` and `weight` are current values. The same figures are
/// exported through swift-metrics as `strata_l1_*` (see ``L1Cache/recordMetrics()``).
public struct L1Statistics: Hashable, Sendable, CustomStringConvertible {
    /// Lookups that found a live entry.
    public var hits: Int = 0
    /// Lookups that found nothing (or only an expired entry).
    public var misses: Int = 0
    /// Loader calls that returned a value.
    public var loadSuccesses: Int = 0
    /// Loader calls that threw.
    public var loadFailures: Int = 0
    /// Entries removed to respect the size or weight bound.
    public var evictionsBySize: Int = 0
    /// Entries removed because their time to live had passed.
    public var evictionsByExpiry: Int = 0
    /// Entries removed by an invalidation (key, prefix, tag or all).
    public var evictionsByInvalidation: Int = 0
    /// Loaded values that were not stored because an invalidation touched their key while they loaded.
    public var loadsDiscarded: Int = 0
    /// Entries currently held.
    public var entries: Int = 0
    /// Current total weight (equals `entries` when the cache is bounded by count only).
    public var weight: Int = 0

    public init() {}

    /// `hits + misses`.
    public var requests: Int { hits + misses }
    /// All loader calls.
    public var loads: Int { loadSuccesses + loadFailures }
    /// All removals other than replacement.
    public var evictions: Int { evictionsBySize + evictionsByExpiry + evictionsByInvalidation }
    /// `hits / requests`, or 1 when there were no requests.
    public var hitRatio: Double { requests == 0 ? 1 : Double(hits) / Double(requests) }

    public var description: String {
        "L1Statistics(hits: \(hits), misses: \(misses), hitRatio: \(hitRatio), loads: \(loadSuccesses)/\(loadFailures) failed, "
            + "evictions: size \(evictionsBySize) expiry \(evictionsByExpiry) invalidation \(evictionsByInvalidation), "
            + "entries: \(entries), weight: \(weight))"
    }
}
