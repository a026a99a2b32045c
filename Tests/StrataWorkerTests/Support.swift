import Foundation
import StrataWorker
import StrataCore
import StrataPostgres
import StrataRedis
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
    ///
    /// Uses posix_spawn and waitpid rather than Foundation's Process: the scripts start
    /// daemons (pg_ctl, redis-server) that would inherit Process's termination-monitoring
    /// descriptor and keep `waitUntilExit` from ever returning.
    static func script(_ name: String, _ arguments: String..., environment: [String: String] = [:]) throws {
        let argv = ["/bin/bash", root + "/scripts/" + name] + arguments
        let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0)=\($1)" }
        var cArgs = argv.map { strdup($0) } + [nil]
        var cEnv = env.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) }; cEnv.forEach { free($0) } }
        // Threads of Swift's cooperative pool block every signal, and a spawned child
        // inherits that mask: a redis-server started from here would ignore SIGTERM.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/bin/bash", nil, &attributes, &cArgs, &cEnv)
        guard spawned == 0 else { throw WorkerError("cannot run scripts/\(name): error \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let exitCode = (status >> 8) & 0xFF
        guard status & 0x7F == 0, exitCode == 0 else {
            throw WorkerError("scripts/\(name) \(arguments.joined(separator: " ")) failed with status \(status)")
        }
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
            FileManager.default.createFile(atPath: logURL.path, contents: nil)
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
        pgPort = try Self.freePort()
        redisPort = try Self.freePort()
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

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw WorkerError("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
