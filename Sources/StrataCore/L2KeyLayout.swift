/// The Redis key layout shared by `strata-worker` and the application library
/// (docs/l2-key-layout.md).
///
/// ```swift
/// let layout = L2KeyLayout(namespace: "strata:")
/// layout.valueKey("authz:user:42")        // "strata:v:authz:user:42"
/// layout.generationKey("authz:team:7:*")  // "strata:g:authz:team:7:*"
/// ```
public struct L2KeyLayout: Sendable, Hashable {
    /// The application's namespace, prepended to every Redis key (default `strata:`).
    public let namespace: String

    public init(namespace: String = "strata:") {
        self.namespace = namespace
    }

    /// Where the cached value of `key` lives.
    public func valueKey(_ key: String) -> String { namespace + "v:" + key }
    /// Where the lease of a loader of `key` lives.
    public func leaseKey(_ key: String) -> String { namespace + "l:" + key }
    /// The generation counter of `prefix` (ending in `*`).
    public func generationKey(_ prefix: String) -> String { namespace + "g:" + prefix }
    /// The pub/sub channel of L1 invalidation messages.
    public var channel: String { namespace + "invalidations" }
}
