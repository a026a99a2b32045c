/// The one error type of `StrataL2`, thrown for caller mistakes (malformed keys, values
/// too large, values the codec cannot encode, invalid configuration).
///
/// Redis failures are not thrown by lookups and writes: they come back as
/// ``L2Lookup/skipped(_:)`` / ``L2WriteOutcome/skipped(_:)`` (L2 is a cache; the caller
/// goes on to L3) and count towards the circuit breaker.
///
/// ```swift
/// do {
///     try await cache.set("authz:user:42", value: decision, ttl: .seconds(60))
/// } catch let error as L2Error where error.code == .invalidKey {
///     // escape values with KeySegment.escape
/// }
/// ```
public struct L2Error: Error, CustomStringConvertible, Sendable, Hashable {
    /// What kind of failure this is. Extensible: new codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidKey
            case valueTooLarge
            case encodingFailed
            case invalidConfiguration
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The key is not a well-formed logical key (see `LogicalKey.validate`).
        public static let invalidKey = Code(.invalidKey)
        /// The encoded (and compressed) value exceeds ``L2Configuration/maximumValueSize``.
        public static let valueTooLarge = Code(.valueTooLarge)
        /// The codec could not encode the value.
        public static let encodingFailed = Code(.encodingFailed)
        /// The configuration is unusable (bad key length, duplicate key ids, ...).
        public static let invalidConfiguration = Code(.invalidConfiguration)

        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// What happened and what to do.
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "L2Error(\(code)): \(message)" }
}
