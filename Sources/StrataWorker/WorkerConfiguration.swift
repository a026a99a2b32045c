#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
    /// The shortest time from the start of one batch to the start of the next, unless the
    /// last batch was full (then the worker reads on at once). Under a stream of small
    /// commits this gathers them into fewer batches, each costing the database three
    /// statements, at the price of at most this much added latency; zero: a batch per wake-up.
    public var minimumBatchInterval: Duration = .milliseconds(1)
    /// After a batch of at least ``busyBatchRows`` outbox rows, the next batch starts no
    /// sooner than this after it (instead of ``minimumBatchInterval``): while commits stream
    /// in, each read takes more of them, and the reads, pipelines and messages per second
    /// fall, at the price of at most this much added latency under that load. A quiet
    /// database (a few commits per batch) keeps the short interval. Zero or at most
    /// ``minimumBatchInterval``: off.
    public var busyBatchInterval: Duration = .milliseconds(4)
    /// The batch size (outbox rows) from which ``busyBatchInterval`` applies.
    public var busyBatchRows: Int = 16
    /// How often an advanced cursor is saved while batches follow each other (and always
    /// before the worker goes idle or stops). Saving less often than every batch spares the
    /// database a write per batch; a crash re-applies at most this much, idempotently.
    public var cursorSaveInterval: Duration = .milliseconds(100)
    /// How soon to look again while transactions that wrote the outbox are still in flight.
    public var inFlightRecheck: Duration = .milliseconds(1)
    /// Empty message on the channel when nothing was published for this long.
    public var heartbeatInterval: Duration = .seconds(1)
    /// How often applied rows are deleted from the outbox (on a connection of the pruner's
    /// own, so that a long delete never holds up a batch).
    public var pruneInterval: Duration = .seconds(5)
    /// Outbox rows per pruning statement (each its own transaction).
    public var pruneBatchRows: Int = 10_000
    /// Backoff after a failure: first delay and cap.
    public var retryInitialDelay: Duration = .milliseconds(100)
    public var retryMaximumDelay: Duration = .seconds(5)
    /// Timeouts for connecting and for each command.
    public var connectTimeout: Duration = .seconds(5)

    /// Refresh the L3 materialized views (`RefreshScheduler`); off: only performance samples.
    public var refreshEnabled: Bool = true
    /// The longest time between two polls of `strata.refresh_candidates()`.
    public var refreshTick: Duration = .milliseconds(500)
    /// A refresh running longer than this is cancelled by the server (`statement_timeout`)
    /// and recorded as failed; nil: no limit.
    public var refreshTimeout: Duration? = .seconds(30 * 60)
    /// On graceful shutdown a running refresh may finish within this time, then it is
    /// cancelled (rolled back by PostgreSQL: the view and its dirty marks stay as they were).
    public var refreshShutdownGrace: Duration = .seconds(5)
    /// How often the worker writes its own sample via `strata.record_performance()`.
    public var performanceSampleInterval: Duration = .seconds(10)
    /// `instance` in `strata.cache_performance_realtime`: 1 to 128 printable characters, no spaces.
    public var instance: String = WorkerConfiguration.defaultInstance

    /// `<host name>`, cut to a valid instance name.
    public static var defaultInstance: String {
        var buffer = [CChar](repeating: 0, count: 256)
        let host = gethostname(&buffer, buffer.count) == 0
            ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        let cleaned = String(host.unicodeScalars.filter { $0.value > 0x20 && $0.value < 0x7F }.prefix(128).map(Character.init))
        return cleaned.isEmpty ? "strata-worker" : cleaned
    }

    public init(postgresURL: String, redisURL: String) {
        self.postgresURL = postgresURL
        self.redisURL = redisURL
    }
}
