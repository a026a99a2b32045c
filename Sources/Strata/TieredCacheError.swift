/// The error type of the `Strata` module's caches, for failures of their own: caller
/// mistakes (malformed keys, invalid configuration) and loaders that ran out of time.
///
/// Redis failures are never thrown by lookups (the tiered cache goes on to its loader);
/// a loader's own errors are rethrown unchanged.
///
/// ```swift
/// do {
///     let value = try await cache.get(key, policy: policy) { try await loadFromDatabase() }
/// } catch let error as TieredCacheError where error.code == .loaderTimedOut {
///     // the loader took longer than the policy's loadTimeout and no stale value was allowed
/// }
/// ```
public struct TieredCacheError: Error, CustomStringConvertible, Sendable, Hashable {
    /// What kind of failure this is. Extensible: new codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidKey
            case invalidConfiguration
            case loaderTimedOut
            case unexpectedL3Reply
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A key or prefix is not well formed (see `LogicalKey.validate`).
        public static let invalidKey = Code(.invalidKey)
        /// A configuration value (from code or from the environment) is invalid.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// The loader did not finish within the policy's `loadTimeout`.
        public static let loaderTimedOut = Code(.loaderTimedOut)
        /// An L3 function returned something the caller cannot interpret (wrong shape).
        public static let unexpectedL3Reply = Code(.unexpectedL3Reply)

        public var description: String { base.rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// What happened and what to do about it.
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "TieredCacheError(\(code)): \(message)" }
}
