import Logging
import ServiceLifecycle
import Strata
import StrataInvalidation
import StrataL2
import Testing

// The README's code, compiled with the tests so that it cannot drift from the API. Only
// the web framework around it (Hummingbird) is left out; nothing here runs.

private struct Profile: Codable, Sendable { var name: String }

private enum ReadmeDatabase {
    static func profile(_ id: Int64) async throws -> Profile { Profile(name: "u\(id)") }
    static func profiles(_ keys: [CacheKey]) async throws -> [CacheKey: Profile] { [:] }
}

private func readmeTieredExample(userID: Int64, keys: [CacheKey]) async throws {
    let l2 = try L2Cache(configuration: try L2Configuration(url: "redis://127.0.0.1:6379"))
    let subscriber = try RedisInvalidationSubscriber(url: "redis://127.0.0.1:6379", namespace: "strata:")
    var configuration = TieredCacheConfiguration(name: "profiles")
    configuration.policies = try CachePolicies.fromEnvironment()
    let profiles = try TieredCache<Profile>(configuration: configuration, l2: l2, invalidationSource: subscriber)

    let profile = try await profiles.get(CacheKey("profile", userID), kind: .userSessions) {
        try await ReadmeDatabase.profile(userID)
    }
    let batch = try await profiles.getMany(keys, policy: try profiles.policy(.userSessions)) { missing in
        try await ReadmeDatabase.profiles(missing)
    }
    try await profiles.invalidate(CacheKey("profile", userID))
    _ = (profile, batch)
}

private func readmeAuthorizationExample(secret: [UInt8], user: Int64, project: Int64) async throws {
    let logger = Logger(label: "api")
    let redisURL = "redis://127.0.0.1:6379"
    let postgresURL = "postgresql://api@127.0.0.1:5432/strata"

    var l2Configuration = try L2Configuration(url: redisURL)
    l2Configuration.protection = .authenticated(current: try L2SecretKey(id: 1, bytes: secret))
    let subscriber = try RedisInvalidationSubscriber(url: redisURL, namespace: "strata:")
    let l3 = try L3ConnectionPool(configuration: L3PoolConfiguration(url: postgresURL))
    let authorization = try AuthorizationCache(
        configuration: AuthorizationCacheConfiguration(policies: try CachePolicies.fromEnvironment()),
        l2: try L2Cache(configuration: l2Configuration), l3: l3, invalidationSource: subscriber)

    let allowed = await authorization.canAccess(user: user, action: .read, resource: .project(project))
    let deletable = await authorization.canAccess(user: user, action: .delete, resource: .generation(project))
    let reporter = PerformanceReporter(instance: "api-1", pool: l3, caches: [authorization])
    let group = ServiceGroup(services: [subscriber, reporter], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
    _ = (allowed, deletable, group)

    let redisLess = try PostgresInvalidationSubscriber(url: "postgresql://app@db:5432/strata", logger: logger)
    _ = redisLess
}

@Suite struct ReadmeExamplesTests {
    @Test func readmeExamplesCompile() {
        // The examples above need servers at fixed addresses; compiling them is the test.
        _ = readmeTieredExample
        _ = readmeAuthorizationExample
    }
}
