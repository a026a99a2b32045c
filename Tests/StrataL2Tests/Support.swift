import Foundation
import StrataCore
import StrataL2
import StrataRedis
import StrataTestSupport
import Testing

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

enum TestEnvironment {
    static var redisURL: String {
        guard let value = ProcessInfo.processInfo.environment["STRATA_TEST_REDIS_URL"], !value.isEmpty else {
            Issue.record("STRATA_TEST_REDIS_URL is not set: start Redis (scripts/redis.sh start) and set it, e.g. redis://127.0.0.1:6379")
            return "redis://127.0.0.1:1"
        }
        return value
    }

    static var root: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    static func script(_ name: String, _ arguments: String..., environment: [String: String] = [:]) throws {
        try ProjectScripts.run(name, arguments, environment: environment)
    }
}

/// A redis-server of a test's own (scripts/redis.sh on a free port), to stop and restart.
final class PrivateRedis: Sendable {
    let home: String
    let port: Int
    var url: String { "redis://127.0.0.1:\(port)" }
    var environment: [String: String] { ["STRATA_HOME": home, "STRATA_REDIS_PORT": String(port)] }

    init() throws {
        home = NSTemporaryDirectory() + "/strata-l2-redis-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        port = try ProjectScripts.freePort()
        try start()
    }

    func start() throws { try TestEnvironment.script("redis.sh", "start", environment: environment) }
    func stop() throws { try TestEnvironment.script("redis.sh", "stop", environment: environment) }
    func remove() {
        try? stop()
        try? FileManager.default.removeItem(atPath: home)
    }
}

/// A fresh namespace per test, so tests run in parallel on one Redis.
func uniqueNamespace(_ name: String) -> String {
    "t" + name + String(UInt32.random(in: 0...UInt32.max), radix: 16) + ":"
}

func makeCache(_ name: String, namespace: String? = nil, url: String = TestEnvironment.redisURL,
               _ configure: (inout L2Configuration) throws -> Void = { _ in }, hooks: L2Hooks = L2Hooks()) throws -> L2Cache {
    var configuration = try L2Configuration(url: url)
    configuration.namespace = namespace ?? uniqueNamespace(name)
    configuration.logger.logLevel = .critical
    try configure(&configuration)
    return try L2Cache(configuration: configuration, hooks: hooks)
}

func connectRedis(_ url: String = TestEnvironment.redisURL) async throws -> RedisConnection {
    try await RedisConnection.connect(try RedisConfiguration(url: url))
}

extension RedisConnection {
    func raw(_ key: String) async throws -> [UInt8]? { try await send(["GET", RedisArgument(key)]).bytes }
    func put(_ key: String, _ bytes: [UInt8]) async throws { try await send(["SET", RedisArgument(key), RedisArgument(bytes)]) }
    func exists(_ key: String) async throws -> Bool { try await send(["EXISTS", RedisArgument(key)]).int == 1 }
}

func secret(_ id: UInt8, _ fill: UInt8, count: Int = 32) throws -> L2SecretKey {
    try L2SecretKey(id: id, bytes: Array(repeating: fill, count: count))
}

struct Profile: Codable, Sendable, Hashable {
    var id: Int
    var name: String
    var roles: [String]
    var score: Double?
    var active: Bool
}

enum Decision: String, Codable, Sendable { case allow, deny }

/// Counts calls across tasks.
final class CallCounter: Sendable {
    private let value = Mutex(0)
    func increment() { value.withLock { $0 += 1 } }
    var count: Int { value.withLock { $0 } }
}

import Synchronization
