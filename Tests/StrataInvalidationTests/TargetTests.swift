import StrataMem
import StrataPostgres
import Testing
@testable import StrataInvalidation

/// `L1CacheInvalidationTarget`: what each call removes from a real `L1Cache`.
@Suite struct TargetTests {
    static func filled(indexPrefixes: Bool = true) -> L1CacheInvalidationTarget<Int> {
        var configuration = L1Configuration<String, Int>(maximumCount: 100)
        configuration.indexPrefixes = indexPrefixes
        configuration.metricsEnabled = false
        let cache = L1Cache(configuration)
        for (i, key) in ["a:user:1", "a:user:2", "a:team:7:project:1", "a:team:7:project:2", "a:team:8:project:1", "b:x"].enumerated() {
            cache.set(key, i)
        }
        return L1CacheInvalidationTarget(cache)
    }

    @Test func keysRemoveExactlyThoseKeys() {
        let target = Self.filled()
        target.invalidate(keys: ["a:user:1", "a:team:7:project:2", "not:cached"])
        #expect(target.cache.get("a:user:1") == nil)
        #expect(target.cache.get("a:team:7:project:2") == nil)
        #expect(target.cache.count == 4)
    }

    @Test func prefixesRemoveEverythingBelowThem() {
        let target = Self.filled()
        target.invalidate(prefixes: ["a:team:7:*"])
        #expect(target.cache.get("a:team:7:project:1") == nil)
        #expect(target.cache.get("a:team:7:project:2") == nil)
        #expect(target.cache.get("a:team:8:project:1") == 4)
        #expect(target.cache.count == 4)
    }

    @Test func starRemovesEverything() {
        let target = Self.filled()
        target.invalidate(prefixes: ["*"])
        #expect(target.cache.count == 0)
    }

    @Test func withoutThePrefixIndexAPrefixRemovesEverything() {
        let target = Self.filled(indexPrefixes: false)
        target.invalidate(prefixes: ["a:team:7:*"])
        #expect(target.cache.count == 0)
    }

    @Test func aPrefixWithoutStarIsTreatedAsEverything() {
        let target = Self.filled()
        target.invalidate(prefixes: ["a:team:7:"])
        #expect(target.cache.count == 0)
    }

    @Test func invalidateAllDropsEntriesAndHealthIsRecorded() {
        let target = Self.filled()
        #expect(!target.health.isHealthy)
        target.invalidateAll(writtenBefore: target.now())
        #expect(target.cache.count == 0)
        target.invalidationHealthChanged(.healthy)
        #expect(target.health == .healthy)
    }

    @Test func badConfigurationsAreClearErrors() throws {
        #expect(throws: InvalidationError.self) { try RedisInvalidationSubscriber(url: "http://nope", namespace: "x:") }
        var redis = try RedisInvalidationSubscriber.Configuration(url: "redis://127.0.0.1:1")
        redis.heartbeatTimeout = .zero
        #expect(throws: InvalidationError.self) { try RedisInvalidationSubscriber(configuration: redis) }
        var pg = PostgresInvalidationSubscriber.Configuration(postgresURL: "postgresql://127.0.0.1:1/x")
        pg.healthTimeout = .milliseconds(500)
        pg.pollInterval = .seconds(1)
        do {
            _ = try PostgresInvalidationSubscriber(configuration: pg)
            Issue.record("a health timeout shorter than the poll interval was accepted")
        } catch let error as InvalidationError {
            #expect(error.description.contains("healthTimeout"))
        }
    }

    @Test func healthCellRoundTrips() {
        let cell = _HealthCell(.healthy)
        #expect(cell.value == .healthy)
        cell.store(.unhealthy(since: L1Instant(nanoseconds: 42)))
        #expect(cell.value == .unhealthy(since: L1Instant(nanoseconds: 42)))
    }
}

@Suite struct PostgresHintTests {
    @Test func serverErrorsThatRetryingCannotFixComeWithWhatToDo() {
        let denied = PostgresError(code: .server, message: "permission denied for table change_log", sqlState: "42501")
        #expect(PostgresInvalidationSubscriber.hint(for: denied)?.contains("grant") == true)
        let missing = PostgresError(code: .server, message: "relation \"strata.change_log\" does not exist", sqlState: "42P01")
        #expect(PostgresInvalidationSubscriber.hint(for: missing)?.contains("migrations") == true)
        #expect(PostgresInvalidationSubscriber.hint(for: PostgresError(code: .connectionClosed, message: "lost")) == nil)
    }
}
