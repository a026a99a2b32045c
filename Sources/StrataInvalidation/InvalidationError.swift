/// A configuration an invalidation subscriber cannot run with; the message says what is
/// wrong and what to do.
public struct InvalidationError: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(_ description: String) { self.description = description }
}
