/// Settings of `strata-worker`. Every field has a flag and an environment variable
/// (see `strata-worker --help`).
public struct WorkerConfiguration: Sendable {
    /// PostgreSQL URL or conninfo.
    public var postgresURL: String
    /// Redis URL (`redis://host:port/db`, `unix:///path`).
    public var redisURL: String
    /// Name of this consumer's cursor in `strata.consumer_offsets`.
    public var consumer: String = "strata-worker"
    /// Redis namespaces to invalidate in, one per application sharing the Redis.
    public var namespaces: [String] = ["strata:"]
    /// Outbox rows read per batch.
    public var batchSize: Int = 2000
    /// Keys and prefixes per invalidation message.
    public var maximumEntriesPerMessage: Int = 1000
    /// The safety-net poll when no wake-up arrives.
    public var pollInterval: Duration = .seconds(1)
    /// How soon to look again while transactions that wrote the outbox are still in flight.
    public var inFlightRecheck: Duration = .milliseconds(1)
    /// Empty message on the channel when nothing was published for this long.
    public var heartbeatInterval: Duration = .seconds(1)
    /// How often applied rows are deleted from the outbox.
    public var pruneInterval: Duration = .seconds(5)
    /// Backoff after a failure: first delay and cap.
    public var retryInitialDelay: Duration = .milliseconds(100)
    public var retryMaximumDelay: Duration = .seconds(5)
    /// Timeouts for connecting and for each command.
    public var connectTimeout: Duration = .seconds(5)

    public init(postgresURL: String, redisURL: String) {
        self.postgresURL = postgresURL
        self.redisURL = redisURL
    }
}
