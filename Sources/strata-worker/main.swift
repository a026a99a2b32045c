import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import StrataWorker

@main
struct StrataWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strata-worker",
        abstract: "Drains Strata's outbox: deletes L2 keys in Redis, publishes L1 invalidations and refreshes the L3 views.",
        discussion: """
        Every option can also be set from the environment variable named in its help.
        Stops gracefully on SIGTERM or SIGINT after finishing the batch in hand; a running
        view refresh may finish within 5 seconds, else it is cancelled and rolled back.
        """
    )

    @Option(name: .customLong("postgres-url"), help: "PostgreSQL URL or conninfo (env STRATA_PG_URL, DATABASE_URL).")
    var postgresURL: String?

    @Option(name: .customLong("redis-url"), help: "Redis URL: redis://[user:password@]host:port[/db] or unix:///path (env STRATA_REDIS_URL).")
    var redisURL: String?

    @Option(help: "Cursor name in strata.consumer_offsets (env STRATA_CONSUMER).")
    var consumer: String?

    @Option(name: .customLong("namespace"), help: "Redis key namespace to invalidate in; repeat for several applications (env STRATA_NAMESPACES, comma-separated; default strata:).")
    var namespaces: [String] = []

    @Option(help: "Outbox rows per batch (env STRATA_BATCH_SIZE; default 2000).")
    var batchSize: Int?

    @Option(help: "Safety-net poll interval in milliseconds (env STRATA_POLL_MS; default 1000).")
    var pollMs: Int?

    @Option(name: .customLong("min-batch-interval-us"), help: "Shortest time between the starts of two batches while not catching up, in microseconds; 0: a batch per wake-up (env STRATA_MIN_BATCH_INTERVAL_US; default 1000).")
    var minBatchIntervalUs: Int?

    @Option(name: .customLong("busy-batch-interval-us"), help: "Shortest time between the starts of two batches after a batch of at least 16 outbox rows (commits streaming in), in microseconds; 0: off (env STRATA_BUSY_BATCH_INTERVAL_US; default 4000).")
    var busyBatchIntervalUs: Int?

    @Option(name: .customLong("prune-interval-ms"), help: "How often applied rows are deleted from the outbox, in milliseconds, on a connection of their own (env STRATA_PRUNE_INTERVAL_MS; default 5000).")
    var pruneIntervalMs: Int?

    @Option(help: "Heartbeat interval on the L1 channel in milliseconds (env STRATA_HEARTBEAT_MS; default 1000).")
    var heartbeatMs: Int?

    @Flag(name: .customLong("no-refresh"), help: "Do not refresh the L3 materialized views; performance samples are still written (env STRATA_REFRESH=off).")
    var noRefresh = false

    @Option(name: .customLong("refresh-tick-ms"), help: "Longest time between two looks at strata.refresh_candidates(), in milliseconds (env STRATA_REFRESH_TICK_MS; default 500).")
    var refreshTickMs: Int?

    @Option(help: "Instance name in strata.cache_performance_realtime (env STRATA_INSTANCE; default the host name).")
    var instance: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (env STRATA_LOG_LEVEL; default info).")
    var logLevel: String?

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        let levelName = logLevel ?? env["STRATA_LOG_LEVEL"] ?? "info"
        guard let level = Logger.Level(rawValue: levelName) else {
            throw ValidationError("unknown log level '\(levelName)'; use trace, debug, info, notice, warning, error or critical")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "strata-worker")
        logger.logLevel = level

        guard let pgURL = postgresURL ?? env["STRATA_PG_URL"] ?? env["DATABASE_URL"] else {
            throw ValidationError("no PostgreSQL URL: pass --postgres-url or set STRATA_PG_URL")
        }
        guard let redisURL = redisURL ?? env["STRATA_REDIS_URL"] else {
            throw ValidationError("no Redis URL: pass --redis-url or set STRATA_REDIS_URL")
        }
        var config = WorkerConfiguration(postgresURL: pgURL, redisURL: redisURL)
        if let consumer = consumer ?? env["STRATA_CONSUMER"] { config.consumer = consumer }
        let names = namespaces.isEmpty
            ? (env["STRATA_NAMESPACES"]?.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } ?? [])
            : namespaces
        if !names.isEmpty { config.namespaces = names }
        if let n = try positive(batchSize, env["STRATA_BATCH_SIZE"], "batch size") { config.batchSize = n }
        if let n = try positive(pollMs, env["STRATA_POLL_MS"], "poll interval") { config.pollInterval = .milliseconds(n) }
        if let n = try nonNegative(minBatchIntervalUs, env["STRATA_MIN_BATCH_INTERVAL_US"], "minimum batch interval") {
            config.minimumBatchInterval = .microseconds(n)
        }
        if let n = try nonNegative(busyBatchIntervalUs, env["STRATA_BUSY_BATCH_INTERVAL_US"], "busy batch interval") {
            config.busyBatchInterval = .microseconds(n)
        }
        if let n = try positive(heartbeatMs, env["STRATA_HEARTBEAT_MS"], "heartbeat interval") { config.heartbeatInterval = .milliseconds(n) }
        if let n = try positive(pruneIntervalMs, env["STRATA_PRUNE_INTERVAL_MS"], "prune interval") { config.pruneInterval = .milliseconds(n) }
        if noRefresh {
            config.refreshEnabled = false
        } else if let value = env["STRATA_REFRESH"]?.lowercased(), !value.isEmpty {
            switch value {
            case "0", "off", "false", "no": config.refreshEnabled = false
            case "1", "on", "true", "yes": config.refreshEnabled = true
            default: throw ValidationError("STRATA_REFRESH must be on or off, got '\(value)'")
            }
        }
        if let n = try positive(refreshTickMs, env["STRATA_REFRESH_TICK_MS"], "refresh tick") { config.refreshTick = .milliseconds(n) }
        if let name = instance ?? env["STRATA_INSTANCE"] {
            guard (1...128).contains(name.utf8.count), name.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
                throw ValidationError("the instance name must be 1 to 128 printable characters without spaces, got '\(name)'")
            }
            config.instance = name
        }

        do {
            try await InvalidationWorker.preflight(config, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("strata-worker: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let statistics = WorkerStatistics()
        let scheduler = RefreshScheduler(configuration: config, statistics: statistics, logger: logger)
        let worker = InvalidationWorker(configuration: config, logger: logger,
                                        scheduler: config.refreshEnabled ? scheduler : nil, statistics: statistics)
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: worker), .init(service: scheduler)],
                                 gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    private func nonNegative(_ flag: Int?, _ env: String?, _ what: String) throws -> Int? {
        try integer(flag, env, what, minimum: 0, "non-negative")
    }

    private func positive(_ flag: Int?, _ env: String?, _ what: String) throws -> Int? {
        try integer(flag, env, what, minimum: 1, "positive")
    }

    /// The flag, else the environment variable, checked to be at least `minimum`.
    private func integer(_ flag: Int?, _ env: String?, _ what: String, minimum: Int, _ kind: String) throws -> Int? {
        if let flag {
            guard flag >= minimum else { throw ValidationError("the \(what) must be \(kind), got \(flag)") }
            return flag
        }
        guard let env else { return nil }
        guard let value = Int(env), value >= minimum else { throw ValidationError("the \(what) must be a \(kind) integer, got '\(env)'") }
        return value
    }
}
