/// A key with a textual form, so that an ``L1Cache`` can invalidate every key that starts
/// with a given prefix (``L1Cache/invalidate(prefix:)``).
///
/// Strata's logical keys look like `authz:team:7:project:19`; invalidating the prefix
/// `authz:team:7:` removes everything under team 7.
///
/// ```swift
/// struct AuthzKey: PrefixInvalidatable {
///     var team: Int, project: Int
///     var invalidationKey: String { "authz:team:\(team):project:\(project)" }
/// }
/// ```
public protocol PrefixInvalidatable: Hashable, Sendable {
    /// The key's text; prefixes are matched against its UTF-8 bytes.
    var invalidationKey: String { get }
}

extension String: PrefixInvalidatable {
    public var invalidationKey: String { self }
}

/// Builds the key-to-text function for a key type known (at run time) to be prefix-invalidatable.
func _makePrefixExtractor<K: PrefixInvalidatable, Key>(_: K.Type, _: Key.Type) -> @Sendable (Key) -> String {
    precondition(K.self == Key.self)
    return { key in unsafeBitCast(key, to: K.self).invalidationKey }
}
