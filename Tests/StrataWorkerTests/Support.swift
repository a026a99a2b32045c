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

extension WorkerProcess {
    var layout: L2KeyLayout { L2KeyLayout(namespace: namespace) }
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
