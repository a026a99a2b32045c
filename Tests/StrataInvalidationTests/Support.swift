import Foundation
import Logging
import StrataCore
import StrataInvalidation
import StrataMem
import StrataPostgres
import StrataRedis
import StrataTestSupport
import Synchronization
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

    static func script(_ name: String, _ arguments: String..., environment: [String: String] = [:]) throws {
        try ProjectScripts.run(name, arguments, environment: environment)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A logger that prints warnings and worse, so that a failing test shows why.
func testLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = .warning
    return logger
}

/// A fresh namespace (so that tests sharing one Redis do not see each other's messages).
func freshNamespace() -> String { "ti" + String(UInt32.random(in: 0...UInt32.max), radix: 16) + ":" }

/// A real `L1Cache` behind ``L1CacheInvalidationTarget``, recording what the source told it.
final class RecordingTarget: L1InvalidationTarget {
    let cache: L1Cache<String, String>
    let inner: L1CacheInvalidationTarget<String>
    private let log = Mutex<[Event]>([])

    enum Event: Equatable, Sendable {
        case health(InvalidationHealth)
        case keys([String])
        case prefixes([String])
        case dropAll(L1Instant)
    }

    init(clock: any L1Clock = L1SystemClock()) {
        var configuration = L1Configuration<String, String>(maximumCount: 10_000, clock: clock)
        configuration.metricsEnabled = false
        cache = L1Cache(configuration)
        inner = L1CacheInvalidationTarget(cache)
    }

    var events: [Event] { log.withLock { $0 } }
    var healthChanges: [InvalidationHealth] {
        events.compactMap { if case .health(let h) = $0 { return h } else { return nil } }
    }
    var drops: [L1Instant] {
        events.compactMap { if case .dropAll(let i) = $0 { return i } else { return nil } }
    }
    var lastHealth: InvalidationHealth? { healthChanges.last }

    func now() -> L1Instant { inner.now() }
    func invalidate(keys: [String]) { log.withLock { $0.append(.keys(keys)) }; inner.invalidate(keys: keys) }
    func invalidate(prefixes: [String]) { log.withLock { $0.append(.prefixes(prefixes)) }; inner.invalidate(prefixes: prefixes) }
    func invalidateAll(writtenBefore instant: L1Instant) {
        log.withLock { $0.append(.dropAll(instant)) }
        inner.invalidateAll(writtenBefore: instant)
    }
    func invalidationHealthChanged(_ health: InvalidationHealth) {
        log.withLock { $0.append(.health(health)) }
        inner.invalidationHealthChanged(health)
    }
}

/// Runs `service.run()` in a task; `stop()` cancels it and waits.
final class Running: Sendable {
    private let task: Task<Void, Never>

    init(_ run: @escaping @Sendable () async throws -> Void) {
        task = Task { try? await run() }
    }

    func stop() async {
        task.cancel()
        await task.value
    }
}

extension RedisConnection {
    func publish(_ channel: String, _ payload: [UInt8]) async throws {
        _ = try await send(["PUBLISH", RedisArgument(channel), RedisArgument(payload)])
    }

    func publish(_ channel: String, _ message: InvalidationMessage) async throws {
        try await publish(channel, message.encoded())
    }

    /// How many clients are subscribed to `channel`.
    func subscribers(of channel: String) async throws -> Int {
        let reply = try await send(["PUBSUB", "NUMSUB", RedisArgument(channel)])
        return reply.array?.last?.int.map { Int($0) } ?? 0
    }
}

/// A fresh watched table `public.<name>(id bigint pk, team_id bigint, name text)` with keys
/// `<name>:item:{id}` and `<name>:team:{team_id}:*`.
func makeTable(_ pg: PostgresConnection, rows: Int = 10) async throws -> String {
    let name = "inv" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
    try await pg.execute("""
        create table public.\(name) (id bigint primary key, team_id bigint, name text);
        insert into public.\(name) select g, g % 3, 'n' || g from generate_series(1, \(rows)) g;
        select strata.watch('public.\(name)', array['\(name):item:{id}', '\(name):team:{team_id}:*']);
        """)
    return name
}

extension WorkerProcess {
    var channel: String { L2KeyLayout(namespace: namespace).channel }

    /// Registers the consumer at the head of the outbox, so that it does not start with the
    /// backlog of earlier tests.
    func registerAtHead(_ pg: PostgresConnection) async throws {
        try await pg.query(
            "insert into strata.consumer_offsets(consumer, last_seq) select $1, coalesce(max(seq), 0) from strata.change_log",
            consumer)
    }

    /// Removes the consumer's cursor, so that it does not hold pruning back after the test.
    func unregister(_ pg: PostgresConnection) async throws {
        try await pg.query("delete from strata.consumer_offsets where consumer = $1", consumer)
    }
}

/// A PostgreSQL and/or a Redis of a test's own (via the project's scripts, on free ports),
/// for tests that stop servers or delete outbox rows without disturbing the other tests.
final class ScratchServers: @unchecked Sendable {
    let home: String
    let pgPort: Int
    let redisPort: Int
    let postgres: Bool
    let redis: Bool
    var environment: [String: String] {
        ["STRATA_HOME": home, "STRATA_PG_PORT": String(pgPort), "STRATA_REDIS_PORT": String(redisPort),
         "STRATA_PG_URL": postgresURL, "STRATA_REDIS_URL": redisURL]
    }
    var postgresURL: String { "postgresql://postgres@127.0.0.1:\(pgPort)/strata" }
    var redisURL: String { "redis://127.0.0.1:\(redisPort)" }

    init(name: String, postgres: Bool = true, redis: Bool = true) throws {
        let base = ProcessInfo.processInfo.environment["STRATA_TEST_HOME"] ?? NSTemporaryDirectory()
        home = base + "/scratch-" + name + "-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        pgPort = try ProjectScripts.freePort()
        redisPort = try ProjectScripts.freePort()
        self.postgres = postgres
        self.redis = redis
        if postgres {
            try TestEnvironment.script("pg.sh", "start", environment: environment)
            try TestEnvironment.script("migrate.sh", environment: environment)
        }
        if redis { try TestEnvironment.script("redis.sh", "start", environment: environment) }
    }

    func pg(_ command: String) throws { try TestEnvironment.script("pg.sh", command, environment: environment) }
    func redis(_ command: String) throws { try TestEnvironment.script("redis.sh", command, environment: environment) }

    func stop() {
        if postgres { try? pg("stop") }
        if redis { try? redis("stop") }
        try? FileManager.default.removeItem(atPath: home)
    }
}

