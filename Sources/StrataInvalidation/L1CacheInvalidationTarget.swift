import StrataMem
import Synchronization

/// Makes a plain ``L1Cache`` with `String` keys (the logical keys of
/// docs/l2-key-layout.md) a target of an ``InvalidationSource``.
///
/// ```swift
/// let cache = L1Cache<String, Bool>(config)
/// let target = L1CacheInvalidationTarget(cache)
/// subscriber.addTarget(target)
/// ...
/// if target.health.isHealthy, let allowed = cache.get(key) { return allowed }
/// ```
///
/// - Exact keys go to ``L1Cache/invalidate(key:)``.
/// - A prefix `p*` goes to ``L1Cache/invalidate(prefix:)`` with `p`; `"*"` to
///   ``L1Cache/invalidateAll()``. Without `configuration.indexPrefixes` the cache cannot
///   find keys by prefix, so every prefix drops everything (correct, but coarse).
/// - ``invalidateAll(writtenBefore:)`` drops every entry and fences every in-flight load
///   (``L1Cache/invalidateAll()``): a superset of what the cut-off requires, which is
///   what the cache offers for "all". Entries written after the cut-off were proven fresh
///   but are dropped too; they are reloaded on their next miss.
public final class L1CacheInvalidationTarget<Value: Sendable>: L1InvalidationTarget {
    /// The cache this target invalidates.
    public let cache: L1Cache<String, Value>
    private let onHealthChange: (@Sendable (InvalidationHealth) -> Void)?
    private let _health: Mutex<InvalidationHealth>

    /// - Parameters:
    ///   - cache: the cache to invalidate.
    ///   - onHealthChange: called on every health change the source reports.
    public init(_ cache: L1Cache<String, Value>, onHealthChange: (@Sendable (InvalidationHealth) -> Void)? = nil) {
        self.cache = cache
        self.onHealthChange = onHealthChange
        // Unhealthy until a source says otherwise: nothing is proven before it runs.
        _health = Mutex(.unhealthy(since: cache.now()))
    }

    /// The health last reported by the source (unhealthy until a source reports).
    public var health: InvalidationHealth { _health.withLock { $0 } }

    public func now() -> L1Instant { cache.now() }

    public func invalidate(keys: [String]) {
        for key in keys { cache.invalidate(key: key) }
    }

    public func invalidate(prefixes: [String]) {
        for prefix in prefixes {
            guard let stem = Self.stem(of: prefix) else {
                // Not a prefix as the worker publishes them: treat it as everything rather than
                // guessing what it covers.
                cache.invalidateAll()
                continue
            }
            if stem.isEmpty || !cache.configuration.indexPrefixes {
                cache.invalidateAll()
            } else {
                cache.invalidate(prefix: stem)
            }
        }
    }

    public func invalidateAll(writtenBefore instant: L1Instant) {
        cache.invalidateAll()
    }

    public func invalidationHealthChanged(_ health: InvalidationHealth) {
        _health.withLock { $0 = health }
        onHealthChange?(health)
    }

    /// The text a prefix covers (`"authz:team:*"` → `"authz:team:"`, `"*"` → `""`), or
    /// `nil` when it does not end in `*`.
    static func stem(of prefix: String) -> String? {
        guard prefix.hasSuffix("*") else { return nil }
        return String(prefix.dropLast())
    }
}
