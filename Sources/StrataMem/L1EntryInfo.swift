/// What an ``L1Cache`` knows about one live entry (see ``L1Cache/entry(_:)``).
public struct L1EntryInfo<Value: Sendable>: Sendable {
    public var value: Value
    /// When the entry was stored, on the cache's clock.
    public var writtenAt: L1Instant
    /// When it expires, or `nil` if it does not.
    public var expiresAt: L1Instant?
    /// Its tags.
    public var tags: [String]
    /// Its weight (1 in count-bounded caches).
    public var weight: Int
}
