import Foundation

/// A `strata-worker` process (the binary in `STRATA_WORKER_BIN`) with its own consumer name
/// and Redis namespace, logging to a file of its own. `make test` sets `STRATA_WORKER_BIN`,
/// `STRATA_TEST_PG_URL` and `STRATA_TEST_REDIS_URL`.
public final class WorkerProcess: @unchecked Sendable {
    public let consumer: String
    public let namespace: String
    public let logURL: URL
    private var process: Process?

    public init(name: String) {
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        consumer = "test-\(name)-\(suffix)"
        namespace = "t\(suffix):"
        logURL = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("strata-worker-\(consumer).log")
    }

    /// Starts the worker against the test servers (or the given URLs), heartbeat 200 ms,
    /// debug logging, plus `extraArguments`. Appends to the log of an earlier start.
    public func start(extraArguments: [String] = [], postgresURL: String? = nil, redisURL: String? = nil) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.environment("STRATA_WORKER_BIN"))
        process.arguments = ["--postgres-url", try postgresURL ?? Self.environment("STRATA_TEST_PG_URL"),
                             "--redis-url", try redisURL ?? Self.environment("STRATA_TEST_REDIS_URL"),
                             "--consumer", consumer, "--namespace", namespace,
                             "--heartbeat-ms", "200", "--log-level", "debug"] + extraArguments
        if !FileManager.default.fileExists(atPath: logURL.path) {
            _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        }
        let log = try FileHandle(forWritingTo: logURL)
        log.seekToEndOfFile()
        process.standardError = log
        process.standardOutput = log
        try process.run()
        self.process = process
    }

    public var isRunning: Bool { process?.isRunning ?? false }

    /// Waits for the process to exit by itself; returns the exit status.
    @discardableResult
    public func wait() -> Int32 {
        guard let process else { return 0 }
        process.waitUntilExit()
        self.process = nil
        return process.terminationStatus
    }

    public func signal(_ signal: Int32) { if let process, process.isRunning { kill(process.processIdentifier, signal) } }

    /// SIGTERM and wait; returns the exit status.
    @discardableResult
    public func stop() -> Int32 {
        guard let process else { return 0 }
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        process.waitUntilExit()
        self.process = nil
        return process.terminationStatus
    }

    public func killHard() {
        guard let process else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    public var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    deinit { if let process, process.isRunning { kill(process.processIdentifier, SIGKILL) } }

    private static func environment(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            throw ProjectScripts.Failure("\(name) is not set: run the integration tests with `make test`, which starts the servers")
        }
        return value
    }
}
