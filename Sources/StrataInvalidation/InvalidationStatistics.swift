/// Counters of an ``InvalidationSource`` since it was created.
///
/// Also exported through swift-metrics (see docs/invalidation.md, "Statistics and metrics").
public struct InvalidationStatistics: Sendable, Equatable {
    /// Well-formed messages received on the channel, heartbeats included (Redis), or outbox
    /// rows applied (PostgreSQL).
    public var messages = 0
    /// Of ``messages``: heartbeats (messages without keys or prefixes).
    public var heartbeats = 0
    /// Logical keys passed to the targets.
    public var keysApplied = 0
    /// Prefixes passed to the targets.
    public var prefixesApplied = 0
    /// Sequence jumps and out-of-order messages within an epoch (Redis), or outbox rows
    /// pruned before this subscriber read them (PostgreSQL).
    public var gaps = 0
    /// Messages of a new epoch after messages of another (Redis).
    public var epochChanges = 0
    /// Messages on the channel that were not valid invalidation messages (Redis).
    public var decodeFailures = 0
    /// Times the stream went silent for longer than the timeout (Redis: no heartbeat;
    /// PostgreSQL: no successful read).
    public var timeouts = 0
    /// Connections or subscriptions lost.
    public var connectionLosses = 0
    /// Successful subscriptions (Redis) or connections (PostgreSQL) after the first.
    public var reconnects = 0
    /// Times every target was told ``L1InvalidationTarget/invalidateAll(writtenBefore:)``.
    public var fullDrops = 0
    /// Transitions from unhealthy to healthy.
    public var recoveries = 0

    public init() {}
}
