/// The outcome of an L2 lookup.
///
/// ```swift
/// switch await cache.get("authz:user:42", as: Decision.self) {
/// case .hit(let decision, _): return decision
/// case .miss(let miss): let value = try await loadFromL3(); _ = try await cache.set(..., after: miss)
/// case .skipped: return try await loadFromL3()        // Redis down or breaker open
/// }
/// ```
public enum L2Lookup<Value: Sendable>: Sendable {
    /// A valid, fresh entry.
    case hit(Value, L2EntryInfo)
    /// No usable entry (absent, expired, invalidated by a prefix generation, or rejected
    /// as corrupt/forged and deleted).
    case miss(L2Miss)
    /// Redis was not asked (breaker open) or failed; treat as a miss and do not write.
    case skipped(L2SkipReason)

    /// The value of a hit.
    public var value: Value? {
        if case .hit(let value, _) = self { return value }
        return nil
    }

    public var isHit: Bool { value != nil }
    public var isMiss: Bool { if case .miss = self { return true } else { return false } }
    public var isSkipped: Bool { if case .skipped = self { return true } else { return false } }
}

/// About a hit.
public struct L2EntryInfo: Sendable, Hashable {
    /// When the entry was written (milliseconds since the Unix epoch, writer's clock).
    public var writtenAtMilliseconds: Int64
    /// Covering-prefix generations stored with the entry (equal to the current ones).
    public var generations: [Int64]
}

/// What a miss saw: the current generations of the key's covering prefixes, and the
/// lease when the lookup asked for one. Pass it to ``L2Cache/set(_:value:ttl:after:)``
/// to write a value loaded after this miss.
public struct L2Miss: Sendable, Hashable {
    /// The logical key.
    public var key: String
    /// Current generations of `LogicalKey.coveringPrefixes(of: key)`, in that order.
    public var generations: [Int64]
    /// Our lease, when one was requested and granted.
    public var lease: L2Lease?
    /// A lease was requested but another loader holds it.
    public var leaseHeldElsewhere: Bool
}

/// A loader's claim on a key between a miss and its write-back.
public struct L2Lease: Sendable, Hashable {
    /// The random token stored at `N l:key`.
    public var token: String
}

/// Why Redis was not used.
public enum L2SkipReason: Sendable, Hashable {
    /// The circuit breaker is open (or half-open with all probes out).
    case circuitOpen
    /// Redis failed (connection, timeout, error reply); the breaker counted it.
    case redisFailure(String)
    /// Another instance holds the key's lease; a value loaded here is not written.
    case leaseHeldElsewhere
}

/// The outcome of a write.
public enum L2WriteOutcome: Sendable, Hashable {
    case stored
    /// The lease was gone: the key was invalidated (or the lease expired) since the miss.
    case refusedLeaseLost
    /// A covering prefix was invalidated since the miss.
    case refusedGenerationChanged
    /// Redis was not used; nothing was written.
    case skipped(L2SkipReason)

    public var isStored: Bool { self == .stored }
}

/// How ``L2Cache/load(_:as:ttl:contended:loader:)`` obtained its value.
public enum L2LoadSource: Sendable, Hashable {
    /// A valid entry was in Redis.
    case hit
    /// Another instance held the lease; its value appeared while we waited.
    case filledByOtherLoader
    /// The `contended` closure supplied a value while another instance held the lease.
    case servedWhileContended
    /// Our loader ran; `write` says what happened to its value in Redis.
    case loaded(write: L2WriteOutcome)
}

/// A value and where it came from.
public struct L2Loaded<Value: Sendable>: Sendable {
    public var value: Value
    public var source: L2LoadSource
}
