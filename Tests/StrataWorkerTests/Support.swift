import Foundation
import StrataWorker
import StrataCore
import StrataPostgres
import StrataRedis
import StrataTestSupport
import Testing

/// Where the real servers and the worker binary are; `make test` sets all of these.
enum TestEnvironment {
    static func require(_ name: String) -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            Issue.record("\(name) is not set: run the integration tests with `make test`, which starts the servers")
            return ""
        }
        return value
    }

    static var postgresURL: String { require("STRATA_TEST_PG_URL") }
    static var redisURL: String { require("STRATA_TEST_REDIS_URL") }
    static var workerBinary: String { require("STRATA_WORKER_BIN") }
    static var root: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    /// Runs one of the project's scripts with the test environment plus `environment`.
    static func script(_ name: String, _ arguments: String..., environment: [String: String] = [:]) throws {
        try ProjectScripts.run(name, arguments, environment: environment)
    }
}

/// A `strata-worker` process with its own consumer name and Redis namespace.
final class WorkerProcess: @unchecked Sendable {
    let consumer: String
    let namespace: String
    let logURL: URL
    private var process: Process?

    init(name: String) {
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        consumer = "test-\(name)-\(suffix)"
        namespace = "t\(suffix):"
        logURL = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("strata-worker-\(consumer).log")
    }

    var layout: L2KeyLayout { L2KeyLayout(namespace: namespace) }

    func start(extraArguments: [String] = [], postgresURL: String = TestEnvironment.postgresURL,
               redisURL: String = TestEnvironment.redisURL) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.workerBinary)
        process.arguments = ["--postgres-url", postgresURL, "--redis-url", redisURL,
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

    var isRunning: Bool { process?.isRunning ?? false }

    /// Waits for the process to exit by itself; returns the exit status.
    @discardableResult
    func wait() -> Int32 {
        guard let process else { return 0 }
        process.waitUntilExit()
        self.process = nil
        return process.terminationStatus
    }

    func signal(_ signal: Int32) { if let process, process.isRunning { kill(process.processIdentifier, signal) } }

    /// SIGTERM and wait; returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        guard let process else { return 0 }
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        process.waitUntilExit()
        self.process = nil
        return process.terminationStatus
    }

    func killHard() {
        guard let process else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    deinit { if let process, process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(10), _ what: @autoclosure () -> String,
                _ condition: () async throws -> Bool) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("timed out after \(timeout) waiting for: \(what())")
    throw WorkerError("timed out waiting for: \(what())")
}

extension RedisConnection {
    func exists(_ key: String) async throws -> Bool {
        try await send(["EXISTS", RedisArgument(key)]).int == 1
    }

    func set(_ key: String, _ value: String = "cached") async throws {
        _ = try await send(["SET", RedisArgument(key), RedisArgument(value)])
    }

    func integer(_ key: String) async throws -> Int64 {
        let reply = try await send(["GET", RedisArgument(key)])
        return reply.string.flatMap { Int64($0) } ?? 0
    }
}

func connectRedis() async throws -> RedisConnection {
    try await RedisConnection.connect(try RedisConfiguration(url: TestEnvironment.redisURL))
}

func connectPostgres() async throws -> PostgresConnection {
    try await PostgresConnection.connect(TestEnvironment.postgresURL)
}

/// A PostgreSQL and a Redis of a test's own (via the project's scripts, on free ports),
/// for tests that stop and restart servers without disturbing the other tests.
final class ScratchServers: @unchecked Sendable {
    let home: String
    let pgPort: Int
    let redisPort: Int
    var environment: [String: String] {
        ["STRATA_HOME": home, "STRATA_PG_PORT": String(pgPort), "STRATA_REDIS_PORT": String(redisPort),
         "STRATA_PG_URL": postgresURL, "STRATA_REDIS_URL": redisURL,
         "STRATA_REDIS_ARGS": "--appendonly yes --appendfsync always"]
    }
    var postgresURL: String { "postgresql://postgres@127.0.0.1:\(pgPort)/strata" }
    var redisURL: String { "redis://127.0.0.1:\(redisPort)" }

    init(name: String) throws {
        let base = ProcessInfo.processInfo.environment["STRATA_TEST_HOME"] ?? NSTemporaryDirectory()
        home = base + "/scratch-" + name + "-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        pgPort = try ProjectScripts.freePort()
        redisPort = try ProjectScripts.freePort()
        try TestEnvironment.script("pg.sh", "start", environment: environment)
        try TestEnvironment.script("redis.sh", "start", environment: environment)
        try TestEnvironment.script("migrate.sh", environment: environment)
    }

    func pg(_ command: String) throws { try TestEnvironment.script("pg.sh", command, environment: environment) }
    func redis(_ command: String) throws { try TestEnvironment.script("redis.sh", command, environment: environment) }

    func stop() {
        try? pg("stop")
        try? redis("stop")
        try? FileManager.default.removeItem(atPath: home)
    }

}
