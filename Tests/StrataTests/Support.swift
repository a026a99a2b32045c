import Foundation
import Logging
import Strata
import StrataCore
import StrataInvalidation
import StrataL2
import StrataMem
import StrataPostgres
import StrataRedis
import StrataTestSupport
import Synchronization
import Testing

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Where the real servers and the worker binary are; `make test` sets all of these.
enum TestEnvironment {
    static func require(_ name: String, _ fallback: String) -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            Issue.record("\(name) is not set: run the integration tests with `make test`, which starts the servers")
            return fallback
        }
        return value
    }

    static var postgresURL: String { require("STRATA_TEST_PG_URL", "postgresql://127.0.0.1:1/strata") }
    static var redisURL: String { require("STRATA_TEST_REDIS_URL", "redis://127.0.0.1:1") }
    static var workerBinary: String { require("STRATA_WORKER_BIN", "/nonexistent/strata-worker") }

    static func script(_ name: String, _ arguments: String..., environment: [String: String] = [:]) throws {
        try ProjectScripts.run(name, arguments, environment: environment)
    }
}

/// A fresh Redis namespace per test, so tests run in parallel on one Redis.
func uniqueNamespace(_ name: String) -> String {
    "t" + name + String(UInt32.random(in: 0...UInt32.max), radix: 16) + ":"
}

/// A random id far above the seeded and fixture ranges, so tests never share rows.
func uniqueID() -> Int64 { Int64.random(in: 1_000_000_000...9_000_000_000_000) }

func makeL2(namespace: String, url: String = TestEnvironment.redisURL,
            _ configure: (inout L2Configuration) throws -> Void = { _ in }) throws -> L2Cache {
    var configuration = try L2Configuration(url: url)
    configuration.namespace = namespace
    configuration.logger.logLevel = .critical
    try configure(&configuration)
    return try L2Cache(configuration: configuration)
}

func quietConfiguration(_ name: String, clock: (any L1Clock)? = nil) -> TieredCacheConfiguration {
    var configuration = TieredCacheConfiguration(name: name)
    configuration.logger.logLevel = .critical
    if let clock { configuration.clock = clock }
    return configuration
}

func connectRedis(_ url: String = TestEnvironment.redisURL) async throws -> RedisConnection {
    try await RedisConnection.connect(try RedisConfiguration(url: url))
}

func connectPostgres(_ url: String = TestEnvironment.postgresURL) async throws -> PostgresConnection {
    try await PostgresConnection.connect(url)
}

extension RedisConnection {
    func exists(_ key: String) async throws -> Bool { try await send(["EXISTS", RedisArgument(key)]).int == 1 }
    func raw(_ key: String) async throws -> [UInt8]? { try await send(["GET", RedisArgument(key)]).bytes }
    func put(_ key: String, _ bytes: [UInt8]) async throws { try await send(["SET", RedisArgument(key), RedisArgument(bytes)]) }
}

/// Counts loader calls and returns what it is told to.
final class CountingLoader<Value: Sendable>: Sendable {
    private let state: Mutex<(calls: Int, value: Value)>

    init(_ value: Value) { state = Mutex((0, value)) }

    var calls: Int { state.withLock { $0.calls } }
    func set(_ value: Value) { state.withLock { $0.value = value } }

    func load() -> Value {
        state.withLock { state in
            state.calls += 1
            return state.value
        }
    }
}

/// An invalidation source driven by the test: the health and the invalidations it
/// delivers are the test's. It stands for the channel only (Redis and PostgreSQL are real).
final class ScriptedInvalidationSource: InvalidationSource {
    private let state: Mutex<(health: InvalidationHealth, targets: [any L1InvalidationTarget])>

    init(health: InvalidationHealth = .healthy) { state = Mutex((health, [])) }

    var health: InvalidationHealth { state.withLock { $0.health } }

    func addTarget(_ target: any L1InvalidationTarget) {
        let health = state.withLock { state -> InvalidationHealth in
            state.targets.append(target)
            return state.health
        }
        target.invalidationHealthChanged(health)
    }

    var targets: [any L1InvalidationTarget] { state.withLock { $0.targets } }

    func setHealth(_ health: InvalidationHealth) {
        let targets = state.withLock { state -> [any L1InvalidationTarget] in
            state.health = health
            return state.targets
        }
        for target in targets { target.invalidationHealthChanged(health) }
    }

    func goUnhealthy() {
        guard let first = targets.first else { return }
        setHealth(.unhealthy(since: first.now()))
    }

    func recover() {
        for target in targets { target.invalidateAll(writtenBefore: target.now()) }
        setHealth(.healthy)
    }

    func publish(keys: [String] = [], prefixes: [String] = []) {
        for target in targets {
            if !keys.isEmpty { target.invalidate(keys: keys) }
            if !prefixes.isEmpty { target.invalidate(prefixes: prefixes) }
        }
    }
}

/// A redis-server of a test's own (scripts/redis.sh on a free port), to stop and restart.
final class PrivateRedis: Sendable {
    let home: String
    let port: Int
    var url: String { "redis://127.0.0.1:\(port)" }
    var environment: [String: String] { ["STRATA_HOME": home, "STRATA_REDIS_PORT": String(port)] }

    init() throws {
        let base = ProcessInfo.processInfo.environment["STRATA_TEST_HOME"] ?? NSTemporaryDirectory()
        home = base + "/tiered-redis-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
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


/// Rows of the reference domain with ids of their own: one team-owned project, members with
/// roles, a generation; removed by `remove()`.
struct AuthorizationFixture {
    let owner: Int64, editor: Int64, viewer: Int64, outsider: Int64, creator: Int64, grantee: Int64
    let team: Int64, project: Int64, generation: Int64

    static func create(on db: PostgresConnection) async throws -> AuthorizationFixture {
        let base = uniqueID()
        let fixture = AuthorizationFixture(
            owner: base, editor: base + 1, viewer: base + 2, outsider: base + 3, creator: base + 4, grantee: base + 5,
            team: base, project: base, generation: base)
        try await db.execute("begin")
        for user in [fixture.owner, fixture.editor, fixture.viewer, fixture.outsider, fixture.creator, fixture.grantee] {
            try await db.query("insert into authz.users (id, name, email) values ($1, 'u' || $1::text, 'u' || $1::text || '@example.test')", user)
        }
        try await db.query("insert into authz.teams (id, name) values ($1, 'team')", fixture.team)
        for (user, role) in [(fixture.owner, "owner"), (fixture.editor, "editor"), (fixture.viewer, "viewer"), (fixture.creator, "viewer")] {
            try await db.query("insert into authz.team_members (team_id, user_id, role) values ($1, $2, $3::authz.team_role)",
                               fixture.team, user, role)
        }
        try await db.query("insert into authz.projects (id, name, owner_team_id, visibility) values ($1, 'p', $2, 'team')",
                           fixture.project, fixture.team)
        try await db.query("insert into authz.generations (id, user_id, project_id) values ($1, $2, $3)",
                           fixture.generation, fixture.creator, fixture.project)
        try await db.query("insert into authz.grants (user_id, generation_id, action) values ($1, $2, 'read')",
                           fixture.grantee, fixture.generation)
        try await db.execute("commit")
        return fixture
    }

    func remove(on db: PostgresConnection) async throws {
        try await db.query("delete from authz.teams where id = $1", team)
        try await db.query("delete from authz.users where id = any($1)", [owner, editor, viewer, outsider, creator, grantee])
    }
}

/// An authorization cache of its own (and its L3 pool) on the test servers.
func makeAuthorization(_ name: String, namespace: String, source: (any InvalidationSource)?,
                       postgresURL: String = TestEnvironment.postgresURL,
                       protection: L2Protection = .none) throws -> (AuthorizationCache, L3ConnectionPool) {
    var configuration = AuthorizationCacheConfiguration()
    configuration.tiered.name = name
    configuration.tiered.logger.logLevel = .critical
    configuration.generations.logger.logLevel = .critical
    configuration.logger.logLevel = .critical
    var poolConfiguration = L3PoolConfiguration(url: postgresURL)
    poolConfiguration.connectTimeout = .milliseconds(500)
    poolConfiguration.logger.logLevel = .critical
    let pool = try L3ConnectionPool(configuration: poolConfiguration)
    let l2 = try makeL2(namespace: namespace) { $0.protection = protection }
    return (try AuthorizationCache(configuration: configuration, l2: l2, l3: pool, invalidationSource: source), pool)
}
