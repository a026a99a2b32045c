import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import StrataWorker

@main
struct StrataWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strata-worker",
        abstract: "Drains Strata's outbox: deletes L2 keys in Redis and publishes L1 invalidations.",
        discussion: """
        Every option can also be set from the environment variable named in its help.
        Stops gracefully on SIGTERM or SIGINT after finishing the batch in hand.
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

    @Option(help: "Heartbeat interval on the L1 channel in milliseconds (env STRATA_HEARTBEAT_MS; default 1000).")
    var heartbeatMs: Int?

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
        if let n = try positive(heartbeatMs, env["STRATA_HEARTBEAT_MS"], "heartbeat interval") { config.heartbeatInterval = .milliseconds(n) }

        do {
            try await InvalidationWorker.preflight(config, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("strata-worker: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let worker = InvalidationWorker(configuration: config, logger: logger)
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: worker)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    private func positive(_ flag: Int?, _ env: String?, _ what: String) throws -> Int? {
        if let flag {
            guard flag > 0 else { throw ValidationError("the \(what) must be positive, got \(flag)") }
            return flag
        }
        guard let env else { return nil }
        guard let value = Int(env), value > 0 else { throw ValidationError("the \(what) must be a positive integer, got '\(env)'") }
        return value
    }
}
