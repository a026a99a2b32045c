import StrataMem

/// Whether an L1 invalidation source can currently vouch for the L1 caches it feeds.
///
/// See docs/invalidation.md for the exact rules.
public enum InvalidationHealth: Sendable, Equatable {
    /// Every invalidation published since the last recovery has been applied, and the
    /// stream was proven alive within the heartbeat timeout.
    case healthy
    /// Messages may have been missed since this instant (on the targets' L1 clock).
    ///
    /// Until the source turns healthy again (after calling
    /// ``L1InvalidationTarget/invalidateAll(writtenBefore:)``), no L1 entry is proven fresh:
    /// an entry written before `since` may have missed invalidations already, and one
    /// written after it may miss the next one. Fail-closed kinds must not be served from
    /// L1 while unhealthy.
    case unhealthy(since: L1Instant)

    /// `true` for ``healthy``.
    public var isHealthy: Bool {
        if case .healthy = self { return true }
        return false
    }

    /// The instant of ``unhealthy(since:)``, `nil` when healthy.
    public var unhealthySince: L1Instant? {
        if case .unhealthy(let since) = self { return since }
        return nil
    }
}

/// Something that holds L1 copies and must drop them when the truth changes: an
/// ``L1Cache`` through ``L1CacheInvalidationTarget``, or a tiered cache.
///
/// Sources call these methods from their own task, one call at a time per source, in the
/// order of the stream. Implementations must be cheap and must not block on I/O.
public protocol L1InvalidationTarget: AnyObject, Sendable {
    /// The clock of the entries' write times (an L1 cache's clock).
    func now() -> L1Instant
    /// Drops exact logical keys, as published by the worker.
    func invalidate(keys: [String])
    /// Drops every key under each prefix; each ends in `*`, and `"*"` alone means everything.
    func invalidate(prefixes: [String])
    /// Drops every entry written before `instant` (and fences loads started before it).
    /// Called on recovery after a gap, a new epoch or a reconnect, before the source turns
    /// healthy.
    func invalidateAll(writtenBefore instant: L1Instant)
    /// Called on every change of the source's health, after the change took effect.
    func invalidationHealthChanged(_ health: InvalidationHealth)
}

/// A stream of L1 invalidations: ``RedisInvalidationSubscriber`` (the worker's channel) or
/// ``PostgresInvalidationSubscriber`` (Redis-less: the outbox directly).
public protocol InvalidationSource: AnyObject, Sendable {
    /// The current health; cheap (one lock), meant to be read on every fail-closed hit.
    var health: InvalidationHealth { get }
    /// Adds a target. Its clock must be the one the source reads (the first target's clock
    /// is the source's clock). A target added while the source runs gets the current
    /// health at once and every invalidation from then on; anything it cached before is
    /// its own business (add targets before caching, normally before the service starts).
    func addTarget(_ target: any L1InvalidationTarget)
}
