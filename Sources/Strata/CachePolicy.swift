/// A kind of cached value: the name of a ``CachePolicy`` in ``CachePolicies``.
///
/// The built-in kinds carry the defaults of the policy table (docs/tiered.md); define
/// your own with `CacheKind("invoice_totals")` and give it a policy.
public struct CacheKind: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// `snake_case` name; the environment variables use it upper-cased
    /// (`STRATA_CACHE_TEAM_ACCESS_L1_TTL`).
    public let name: String

    public init(_ name: String) { self.name = name }
    public init(stringLiteral value: String) { self.name = value }

    /// Decisions on generations (their facts and explicit grants).
    public static let generationAccess = CacheKind("generation_access")
    /// A user's decisions on projects.
    public static let userPermissions = CacheKind("user_permissions")
    /// A user's decisions on teams.
    public static let teamAccess = CacheKind("team_access")
    /// Project facts: owner, team, visibility.
    public static let projectVisibility = CacheKind("project_visibility")
    /// Short-lived tokens that grant access to media.
    public static let mediaAccessTokens = CacheKind("media_access_tokens")
    /// Rate-limit state.
    public static let rateLimitStatus = CacheKind("rate_limit_status")
    /// User sessions.
    public static let userSessions = CacheKind("user_sessions")
    /// System configuration.
    public static let systemConfiguration = CacheKind("system_configuration")

    /// The built-in kinds, in the order of the policy table.
    public static let builtIn: [CacheKind] = [
        .generationAccess, .userPermissions, .teamAccess, .projectVisibility, .mediaAccessTokens,
        .rateLimitStatus, .userSessions, .systemConfiguration,
    ]

    public var description: String { name }

    /// The environment-variable stem: `STRATA_CACHE_` + upper-cased name + `_`.
    var environmentStem: String { "STRATA_CACHE_" + name.uppercased() + "_" }
}

/// How a kind of value is cached: time to live per layer, negative caching, load timeout,
/// and what may happen when the truth is out of reach.
///
/// ```swift
/// var policy = CachePolicy(kind: "invoice_totals", l1TTL: .seconds(30), l2TTL: .seconds(300))
/// policy.negativeTTL = .seconds(10)                      // cache "no such invoice" for 10 s
/// policy.failSafe = .init(maximumStaleness: .seconds(1800), softTimeout: .milliseconds(100))
/// let total = try await cache.get(CacheKey("invoice", id, "total"), policy: policy) { try await db.total(id) }
/// ```
public struct CachePolicy: Sendable, Hashable, CustomStringConvertible {
    /// Serving a value older than its TTL when the loader fails or is slow ("fail-safe").
    public struct FailSafe: Sendable, Hashable {
        /// Hard limit: a value written longer ago than this is never served.
        public var maximumStaleness: Duration
        /// When a stale value is available and the loader has not answered within this
        /// time, the stale value is served and the load goes on in the background (it
        /// still fills the caches when it finishes). `nil`: wait for the loader (up to
        /// the policy's `loadTimeout`).
        public var softTimeout: Duration?

        public init(maximumStaleness: Duration, softTimeout: Duration? = nil) {
            self.maximumStaleness = maximumStaleness
            self.softTimeout = softTimeout
        }
    }

    /// The kind this policy is for (the `kind` dimension of the metrics, and the
    /// environment-variable stem).
    public var kind: CacheKind
    /// Time to live in L1; `nil` keeps the kind out of L1.
    public var l1TTL: Duration?
    /// Time to live in L2 (Redis); `nil` keeps the kind out of L2.
    public var l2TTL: Duration?
    /// Time to live of "absent" results (a `find` loader returned `nil`), in both layers
    /// (at most ``l1TTL`` in L1). `nil`: absent results are not cached.
    public var negativeTTL: Duration?
    /// Fail closed: values of this kind grant something (an allow, a session), so they are
    /// never served from L1 while the invalidation source is unhealthy, never from L2 then
    /// either, never stale, and (with no invalidation source at all) kept out of L1 unless
    /// ``TieredCacheConfiguration/failClosedL1TTLWithoutInvalidation`` allows a short TTL.
    public var failClosed: Bool
    /// Serve stale values within a hard limit when the loader fails or is slow. Never
    /// allowed for fail-closed kinds.
    public var failSafe: FailSafe?
    /// Hard timeout of the loader: after this the caller gets a stale value (fail-safe) or
    /// ``TieredCacheError`` `.loaderTimedOut`, and the load is cancelled. `nil`: no timeout.
    public var loadTimeout: Duration?

    public init(
        kind: CacheKind, l1TTL: Duration?, l2TTL: Duration?, negativeTTL: Duration? = nil,
        failClosed: Bool = false, failSafe: FailSafe? = nil, loadTimeout: Duration? = .seconds(5)
    ) {
        self.kind = kind
        self.l1TTL = l1TTL
        self.l2TTL = l2TTL
        self.negativeTTL = negativeTTL
        self.failClosed = failClosed
        self.failSafe = failSafe
        self.loadTimeout = loadTimeout
    }

    /// Checks the policy; throws ``TieredCacheError`` `.invalidConfiguration` saying what
    /// is wrong.
    public func validate() throws(TieredCacheError) {
        func positive(_ value: Duration?, _ name: String) throws(TieredCacheError) {
            if let value, value <= .zero {
                throw TieredCacheError(code: .invalidConfiguration,
                                       message: "\(kind): \(name) must be positive, got \(value) (use nil to turn it off)")
            }
        }
        try positive(l1TTL, "l1TTL")
        try positive(l2TTL, "l2TTL")
        try positive(negativeTTL, "negativeTTL")
        try positive(loadTimeout, "loadTimeout")
        if let failSafe {
            if failClosed {
                throw TieredCacheError(
                    code: .invalidConfiguration,
                    message: "\(kind) is fail-closed: stale values are never served for it; remove failSafe (or make the kind fail-open if its values grant nothing)")
            }
            try positive(failSafe.maximumStaleness, "failSafe.maximumStaleness")
            try positive(failSafe.softTimeout, "failSafe.softTimeout")
        }
    }

    public var description: String {
        func show(_ d: Duration?) -> String { d.map(DurationText.format) ?? "off" }
        var text = "\(kind): L1 \(show(l1TTL)), L2 \(show(l2TTL)), negative \(show(negativeTTL)), load timeout \(show(loadTimeout))"
        if failClosed { text += ", fail-closed" }
        if let failSafe {
            text += ", fail-safe \(DurationText.format(failSafe.maximumStaleness)) (soft timeout \(show(failSafe.softTimeout)))"
        }
        return text
    }
}

extension Duration {
    static func minutes(_ minutes: Int) -> Duration { .seconds(60 * minutes) }
    static func hours(_ hours: Int) -> Duration { .seconds(3600 * hours) }
}
