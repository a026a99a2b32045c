import Logging
import Metrics
import StrataRedis

/// Everything an ``L2Cache`` needs.
///
/// ```swift
/// var configuration = try L2Configuration(url: "redis://127.0.0.1:6379")
/// configuration.namespace = "billing:"            // one namespace per application
/// configuration.protection = .authenticated(current: try L2SecretKey(id: 1, bytes: secret))
/// configuration.breaker = CircuitBreakerConfiguration(minimumCalls: 20, breakDuration: .seconds(2))
/// let cache = try L2Cache(configuration: configuration)
/// ```
public struct L2Configuration: Sendable {
    /// Where Redis is; its timeouts are replaced by ``connectTimeout`` and ``commandTimeout``.
    public var redis: RedisConfiguration
    /// Prepended to every Redis key; must match the worker's `--namespace`.
    public var namespace: String = "strata:"
    /// Connections in the pool.
    public var maximumConnections: Int = 4
    /// Bound on connecting (and AUTH/SELECT).
    public var connectTimeout: Duration = .seconds(1)
    /// Socket read/write timeout of each command; a timed-out connection is discarded.
    public var commandTimeout: Duration = .milliseconds(500)
    /// Longest a call waits for a free connection while all ``maximumConnections`` are in
    /// use; then the call returns `.skipped(.redisFailure(...))` (the message says how many
    /// connections, how long, what to raise), counts in ``L2Statistics/poolTimeouts`` and
    /// feeds the breaker. A call therefore takes at most this + ``connectTimeout`` (when a
    /// connection must be opened) + ``commandTimeout`` per round trip.
    public var connectionWaitTimeout: Duration = .milliseconds(500)
    /// Turns values into payload bytes (default: ``L2BinaryCodec``, compact and fast).
    /// Entries written by the other built-in codecs still decode (their codec id says which).
    public var codec: any L2Codec = L2BinaryCodec()
    /// Payloads of at least this many bytes are compressed with LZ4 (when that is smaller).
    public var compressionThreshold: Int = 1024
    /// Largest entry (after compression and protection) written or read; larger values
    /// throw ``L2Error/Code-swift.struct/valueTooLarge``.
    public var maximumValueSize: Int = 8 << 20
    /// Checksum only, HMAC-SHA256 or AES-GCM; see ``L2Protection``.
    public var protection: L2Protection = .none
    /// Time to live of a lease (a loader's claim between a miss and its write-back).
    public var leaseTTL: Duration = .seconds(10)
    /// How long ``L2Cache/load(_:as:ttl:contended:loader:)`` waits for another instance's
    /// loader before loading itself (without writing).
    public var leaseWaitBudget: Duration = .milliseconds(200)
    /// Poll interval while waiting for another loader.
    public var leaseWaitInterval: Duration = .milliseconds(5)
    /// The circuit breaker in front of Redis.
    public var breaker: CircuitBreakerConfiguration = .init()
    /// The `cache` dimension of the `strata_l2_*` metrics.
    public var name: String = "default"
    /// Where metrics go (default: the bootstrapped `MetricsSystem.factory`).
    public var metricsFactory: (any MetricsFactory)? = nil
    public var logger: Logger = Logger(label: "strata.l2")

    public init(redis: RedisConfiguration) {
        self.redis = redis
    }

    /// `redis://`, `unix://` or `host:port`, as ``RedisConfiguration/init(url:)``.
    public init(url: String) throws {
        self.redis = try RedisConfiguration(url: url)
    }
}
