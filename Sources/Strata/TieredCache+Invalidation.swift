import Logging
import StrataCore
import StrataInvalidation
import StrataMem

extension TieredCache: L1InvalidationTarget {
    /// The L1 clock (write times and the source's instants).
    public func now() -> L1Instant { _l1.now() }

    /// Drops exact keys from L1 and fences their loads (called by the invalidation source).
    public func invalidate(keys: [String]) {
        _flights.fence(keys: keys)
        for key in keys {
            _l1.invalidate(key: key)
            _stale.invalidate(key: key)
        }
    }

    /// Drops every key under each prefix (`a:b:*`; `*` = everything) from L1 and fences
    /// their loads (called by the invalidation source).
    public func invalidate(prefixes: [String]) {
        for prefix in prefixes {
            // Not a prefix as the worker publishes them: everything, rather than a guess.
            let text = LogicalKey.isPrefix(prefix) ? String(prefix.dropLast()) : ""
            if text.isEmpty {
                _dropAll(startedBefore: nil)
                continue
            }
            _flights.fence(prefix: text)
            _l1.invalidate(prefix: text)
            _stale.invalidate(prefix: text)
        }
    }

    /// Drops every L1 entry and fences the loads that started before `instant` (called by
    /// the source when it recovers from a gap, a new epoch or a reconnect). L1 cannot tell
    /// entries written after `instant` apart cheaply, so those go too: a few extra misses.
    public func invalidateAll(writtenBefore instant: L1Instant) {
        _dropAll(startedBefore: instant.nanoseconds)
    }

    /// Records the source's health: while it is unhealthy, fail-closed kinds are neither
    /// read from L1 nor from L2 (their loader answers).
    public func invalidationHealthChanged(_ health: InvalidationHealth) {
        let previous = _health.withLock { state -> InvalidationHealth? in
            defer {
                state = health
                _failClosedL1.store(health.isHealthy, ordering: .releasing)
            }
            return state
        }
        guard previous != health else { return }
        switch health {
        case .healthy:
            logger.info("invalidation source healthy: fail-closed kinds use L1 and L2 again", metadata: ["cache": "\(configuration.name)"])
        case .unhealthy(let since):
            logger.warning("invalidation source unhealthy: fail-closed kinds bypass L1 and L2",
                           metadata: ["cache": "\(configuration.name)", "since": "\(since)"])
        }
    }

    func _dropAll(startedBefore instant: Int64?) {
        _flights.fenceAll(startedBefore: instant)
        _l1.invalidateAll()
        _stale.invalidateAll()
    }

    // MARK: Invalidation by the application

    /// Invalidates `key` in L2 (`UNLINK`, as the worker does) and then in this instance's
    /// L1. Other instances' L1 copies are invalidated only through the worker (write the
    /// truth, or `strata.invalidate(keys)` in the writing transaction).
    ///
    /// - Throws: the Redis error if L2 could not be invalidated (L1 was still invalidated).
    public func invalidate(_ key: CacheKey) async throws {
        var failure: (any Error)?
        if let l2 {
            do { try await l2.invalidate(key: key.text) } catch { failure = error }
        }
        invalidate(keys: [key.text])
        if let failure { throw failure }
    }

    /// Invalidates every key under `prefix` in L2 (`INCR` of its generation) and then in
    /// this instance's L1.
    public func invalidate(prefix: CachePrefix) async throws {
        var failure: (any Error)?
        if let l2 {
            do { try await l2.invalidate(prefix: prefix.text) } catch { failure = error }
        }
        invalidate(prefixes: [prefix.text])
        if let failure { throw failure }
    }

    /// Drops the L1 entries (and fences the loads) tagged `tag`. L1 only: Redis has no tags.
    public func invalidate(tag: String) {
        _flights.fence(tag: tag)
        _l1.invalidate(tag: tag)
        _stale.invalidate(tag: tag)
    }

    /// Invalidates everything: L2's generation of `*` (every key of the namespace, for every
    /// instance) and this instance's L1.
    public func invalidateAll() async throws {
        var failure: (any Error)?
        if let l2 {
            do { try await l2.invalidate(prefix: LogicalKey.everything) } catch { failure = error }
        }
        _dropAll(startedBefore: nil)
        if let failure { throw failure }
    }
}
