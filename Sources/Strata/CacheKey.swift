import StrataCore

/// A value that can stand as one segment of a ``CacheKey``: its escaped text.
///
/// Strings are escaped with `KeySegment.escape` (the capture extension's
/// `strata.escape_segment`), so no value can add a segment or a glob character to a key;
/// integers need no escaping.
public protocol CacheKeySegment {
    /// The segment's escaped text.
    var cacheKeySegment: String { get }
}

extension String: CacheKeySegment {
    public var cacheKeySegment: String { KeySegment.escape(self) }
}

extension Substring: CacheKeySegment {
    public var cacheKeySegment: String { KeySegment.escape(String(self)) }
}

extension Int: CacheKeySegment {
    public var cacheKeySegment: String { String(self) }
}

extension Int64: CacheKeySegment {
    public var cacheKeySegment: String { String(self) }
}

extension Int32: CacheKeySegment {
    public var cacheKeySegment: String { String(self) }
}

extension UInt64: CacheKeySegment {
    public var cacheKeySegment: String { String(self) }
}

extension UInt32: CacheKeySegment {
    public var cacheKeySegment: String { String(self) }
}

/// A logical cache key, built segment by segment (`authz:access:42:project:19`), never
/// by concatenating text at call sites.
///
/// ```swift
/// let user: Int64 = 42
/// let key = CacheKey("authz", "access", user, "project", 19)     // authz:access:42:project:19
/// let session = CacheKey("session").appending(token)              // token escaped: "a:b" → a%3Ab
/// let everythingOfUser = CacheKey("authz", "access", user).prefix  // authz:access:42:*
/// ```
///
/// The text follows the key layout shared with `strata-worker` (docs/l2-key-layout.md):
/// the capture trigger renders the same keys from table rows, so an invalidation of a
/// rendered key or prefix reaches every value cached under it.
public struct CacheKey: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// The logical key as stored in L1 and (with the namespace) in Redis.
    public let text: String

    /// A key of one or more segments; each is escaped.
    public init(_ first: any CacheKeySegment, _ rest: any CacheKeySegment...) {
        var text = first.cacheKeySegment
        for segment in rest {
            text.append(":")
            text.append(segment.cacheKeySegment)
        }
        self.text = text
    }

    /// A key from text already in the key layout (for example a key the capture trigger
    /// rendered). Throws ``TieredCacheError`` `.invalidKey` when the text is not a
    /// well-formed key.
    public init(validating text: String) throws(TieredCacheError) {
        if let reason = LogicalKey.validate(text) {
            throw TieredCacheError(code: .invalidKey, message: reason)
        }
        guard !LogicalKey.isPrefix(text) else {
            throw TieredCacheError(code: .invalidKey, message: "'\(text)' is a prefix, not a key; use CachePrefix(validating:)")
        }
        self.text = text
    }

    @usableFromInline
    init(_unchecked text: String) { self.text = text }

    /// This key with one more segment.
    public func appending(_ segment: some CacheKeySegment) -> CacheKey {
        var text = self.text
        text.append(":")
        text.append(segment.cacheKeySegment)
        return CacheKey(_unchecked: text)
    }

    /// The prefix covering every key below this one (`authz:access:42:*`), not the key itself.
    public var prefix: CachePrefix { CachePrefix(_unchecked: text + ":*") }

    public var description: String { text }

    public static func < (lhs: CacheKey, rhs: CacheKey) -> Bool { lhs.text < rhs.text }
}

/// A prefix of logical keys (`authz:team:7:*`), or ``everything`` (`*`).
///
/// ```swift
/// try await cache.invalidate(prefix: CacheKey("authz", "team", 7).prefix)
/// ```
public struct CachePrefix: Hashable, Sendable, CustomStringConvertible {
    /// The prefix text, ending in `:*` (or `*` alone).
    public let text: String

    /// Every key.
    public static let everything = CachePrefix(_unchecked: LogicalKey.everything)

    /// A prefix from text in the key layout (`authz:team:7:*`). Throws ``TieredCacheError``
    /// `.invalidKey` when it is not one.
    public init(validating text: String) throws(TieredCacheError) {
        if let reason = LogicalKey.validate(text) {
            throw TieredCacheError(code: .invalidKey, message: reason)
        }
        guard LogicalKey.isPrefix(text) else {
            throw TieredCacheError(code: .invalidKey, message: "'\(text)' is not a prefix; prefixes end in ':*' (or are '*')")
        }
        self.text = text
    }

    init(_unchecked text: String) { self.text = text }

    /// Whether this prefix covers `key`.
    public func covers(_ key: CacheKey) -> Bool { LogicalKey.prefix(text, covers: key.text) }

    /// The text an ``L1Cache`` prefix invalidation takes: without the trailing `*`
    /// (empty for everything).
    var l1Prefix: String { String(text.dropLast()) }

    public var description: String { text }
}
