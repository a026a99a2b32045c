import Strata
import StrataCore
import StrataInvalidation
import StrataL2
import StrataMem
import StrataRedis
import Testing

/// Each layer failing in turn, corrupt and forged Redis values, fail-closed and fail-safe.
@Suite struct LayerFailureTests {
    static let open = CachePolicy(kind: "profile", l1TTL: .seconds(60), l2TTL: .seconds(300))
    static let closed = CachePolicy(kind: "grant", l1TTL: .seconds(60), l2TTL: .seconds(300), failClosed: true)

    func secret(_ fill: UInt8) throws -> L2SecretKey { try L2SecretKey(id: 1, bytes: Array(repeating: fill, count: 32)) }

    @Test func corruptAndForgedRedisValuesGoToTheLoader() async throws {
        let namespace = uniqueNamespace("forged")
        let redis = try await connectRedis()
        let protection = L2Protection.authenticated(current: try secret(7))
        let writer = try TieredCache<String>(configuration: quietConfiguration("writer"),
                                             l2: try makeL2(namespace: namespace) { $0.protection = protection })
        let key = CacheKey("profile", 1)
        let valueKey = namespace + "v:" + key.text
        _ = try await writer.get(key, policy: Self.open) { "genuine" }

        // Corrupt: one byte flipped in the stored envelope.
        var bytes = try #require(try await redis.raw(valueKey))
        bytes[bytes.count / 2] ^= 0x55
        try await redis.put(valueKey, bytes)
        let reader = try TieredCache<String>(configuration: quietConfiguration("reader"),
                                             l2: try makeL2(namespace: namespace) { $0.protection = protection })
        #expect(try await reader.get(key, policy: Self.open) { "from-l3" } == "from-l3")
        #expect(reader.l2?.statistics.rejected == 1)

        // Forged: a well-formed envelope authenticated with another secret.
        let forger = try makeL2(namespace: namespace) { $0.protection = .authenticated(current: try secret(9)) }
        _ = try await forger.set(key.text, value: Optional("forged"), ttl: .seconds(60))
        let second = try TieredCache<String>(configuration: quietConfiguration("second"),
                                             l2: try makeL2(namespace: namespace) { $0.protection = protection })
        #expect(try await second.get(key, policy: Self.open) { "from-l3-again" } == "from-l3-again")
        #expect(second.l2?.statistics.rejected == 1)

        // Garbage that is not an envelope at all.
        try await redis.put(valueKey, Array("allow".utf8))
        let third = try TieredCache<String>(configuration: quietConfiguration("third"),
                                            l2: try makeL2(namespace: namespace) { $0.protection = protection })
        #expect(try await third.get(key, policy: Self.open) { "l3" } == "l3")
    }

    /// Redis stopped: L1 hits and loads still answer, the breaker opens, and once Redis is
    /// back the breaker closes and values reach L2 again.
    @Test func redisDownBreakerOpensAndRecovers() async throws {
        let server = try PrivateRedis()
        defer { server.remove() }
        let l2 = try makeL2(namespace: "down:", url: server.url) {
            $0.breaker = CircuitBreakerConfiguration(minimumCalls: 2, slidingWindowSize: 4, breakDuration: .milliseconds(300),
                                                     halfOpenPermittedCalls: 1)
            $0.connectTimeout = .milliseconds(200)
        }
        let cache = try TieredCache<String>(configuration: quietConfiguration("down"), l2: l2)
        let warm = CacheKey("profile", "warm")
        _ = try await cache.get(warm, policy: Self.open) { "warm" }
        try server.stop()

        #expect(try await cache.get(warm, policy: Self.open) { "reloaded" } == "warm", "L1 answers")
        var answered = 0
        for index in 0..<6 {
            answered += try await cache.get(CacheKey("profile", "cold", index), policy: Self.open) { "l3-\(index)" } == "l3-\(index)" ? 1 : 0
        }
        #expect(answered == 6, "the loader answers every miss")
        guard case .open = l2.breakerState else {
            Issue.record("breaker not open after Redis failures: \(l2.breakerState)")
            return
        }
        #expect(cache.statistics.l2Skipped >= 6)

        try server.start()
        let redis = try await connectRedis(server.url)
        let counter = LockedBox(0)
        try await eventually("the breaker closes and a value reaches L2 again") {
            let index = counter.value
            counter.set(index + 1)
            let key = CacheKey("profile", "after", index)
            _ = try await cache.get(key, policy: Self.open) { "v" }
            guard l2.breakerState == .closed else { return false }
            return try await redis.exists("down:v:" + key.text)
        }
    }

    /// PostgreSQL (the loader) failing: L1 and L2 keep answering what they hold.
    @Test func loaderDownLeavesL1AndL2Answering() async throws {
        let namespace = uniqueNamespace("l3down")
        let a = try TieredCache<String>(configuration: quietConfiguration("a"), l2: try makeL2(namespace: namespace))
        let b = try TieredCache<String>(configuration: quietConfiguration("b"), l2: try makeL2(namespace: namespace))
        let pool = try L3ConnectionPool(configuration: {
            var configuration = L3PoolConfiguration(url: "postgresql://postgres@127.0.0.1:\(try ProjectScriptsPort.closed())/strata")
            configuration.connectTimeout = .milliseconds(500)
            return configuration
        }())
        let key = CacheKey("profile", 3)
        _ = try await a.get(key, policy: Self.open) { "cached" }
        let down: @Sendable () async throws -> String = { try await pool.query("select 'x'")[0].decode(String.self, at: 0) }
        #expect(try await a.get(key, policy: Self.open, loader: down) == "cached")
        #expect(try await b.get(key, policy: Self.open, loader: down) == "cached")
        await #expect(throws: (any Error).self) { try await a.get(CacheKey("profile", 4), policy: Self.open, loader: down) }
        #expect(a.statistics.loadFailures == 1)
    }

    @Test func failClosedKindsBypassL1AndL2WhileTheSourceIsUnhealthy() async throws {
        let source = ScriptedInvalidationSource()
        let cache = try TieredCache<String>(configuration: quietConfiguration("unhealthy"),
                                            l2: try makeL2(namespace: uniqueNamespace("unhealthy")), invalidationSource: source)
        let grants = CountingLoader("allow")
        let profiles = CountingLoader("profile")
        let grant = CacheKey("grant", 1), profile = CacheKey("profile", 1)
        _ = try await cache.get(grant, policy: Self.closed) { grants.load() }
        _ = try await cache.get(profile, policy: Self.open) { profiles.load() }
        _ = try await cache.get(grant, policy: Self.closed) { grants.load() }
        #expect(grants.calls == 1 && cache.l1Contains(grant))

        source.goUnhealthy()
        grants.set("deny")
        #expect(try await cache.get(grant, policy: Self.closed) { grants.load() } == "deny", "neither L1 nor L2 is read")
        #expect(try await cache.get(grant, policy: Self.closed) { grants.load() } == "deny")
        #expect(grants.calls == 3)
        #expect(cache.statistics.failClosedBypasses == 2)
        #expect(try await cache.get(profile, policy: Self.open) { profiles.load() } == "profile")
        #expect(profiles.calls == 1, "fail-open kinds are still served from L1")

        source.recover()
        #expect(!cache.l1Contains(grant), "recovery drops what L1 cannot prove fresh")
        _ = try await cache.get(grant, policy: Self.closed) { grants.load() }
        _ = try await cache.get(grant, policy: Self.closed) { grants.load() }
        #expect(cache.l1Contains(grant))
    }

    @Test func withoutASourceFailClosedKindsSkipL1() async throws {
        let namespace = uniqueNamespace("nosource")
        let cache = try TieredCache<String>(configuration: quietConfiguration("nosource"), l2: try makeL2(namespace: namespace))
        let calls = CountingLoader("allow")
        let key = CacheKey("grant", 2)
        _ = try await cache.get(key, policy: Self.closed) { calls.load() }
        _ = try await cache.get(key, policy: Self.closed) { calls.load() }
        #expect(!cache.l1Contains(key))
        #expect(calls.calls == 1 && cache.statistics.l2Hits == 1, "L2 (invalidated by the worker) still serves")

        var configuration = quietConfiguration("shortl1")
        configuration.failClosedL1TTLWithoutInvalidation = .seconds(2)
        let clock = L1ManualClock()
        configuration.clock = clock
        let short = try TieredCache<String>(configuration: configuration, l2: try makeL2(namespace: namespace))
        _ = try await short.get(key, policy: Self.closed) { calls.load() }
        #expect(short.l1Contains(key))
        clock.advance(by: .seconds(3))
        #expect(!short.l1Contains(key), "kept for the short TTL, not the policy's 60 s")
    }

    @Test func failSafeServesStaleWithinItsLimitOnly() async throws {
        let clock = L1ManualClock()
        let cache = try TieredCache<String>(configuration: quietConfiguration("failsafe", clock: clock))
        var policy = CachePolicy(kind: "config", l1TTL: .seconds(10), l2TTL: nil)
        policy.failSafe = .init(maximumStaleness: .seconds(60))
        let key = CacheKey("config", "flags")
        let failing: @Sendable () async throws -> String = { throw TestFailure("database down") }
        _ = try await cache.get(key, policy: policy) { "v1" }
        clock.advance(by: .seconds(11))
        #expect(try await cache.get(key, policy: policy, loader: failing) == "v1", "stale, within 60 s")
        #expect(cache.statistics.staleServed == 1)
        clock.advance(by: .seconds(50))
        await #expect(throws: TestFailure.self) { try await cache.get(key, policy: policy, loader: failing) }

        // An invalidated value is never served stale.
        _ = try await cache.get(key, policy: policy) { "v2" }
        cache.invalidate(keys: [key.text])
        await #expect(throws: TestFailure.self) { try await cache.get(key, policy: policy, loader: failing) }
    }

    @Test func softTimeoutServesStaleAndTheLoadFinishesLater() async throws {
        let clock = L1ManualClock()
        let cache = try TieredCache<String>(configuration: quietConfiguration("soft", clock: clock))
        var policy = CachePolicy(kind: "config", l1TTL: .seconds(10), l2TTL: nil)
        policy.failSafe = .init(maximumStaleness: .seconds(600), softTimeout: .milliseconds(20))
        let key = CacheKey("config", "limits")
        _ = try await cache.get(key, policy: policy) { "v1" }
        clock.advance(by: .seconds(11))
        let gate = Gate()
        #expect(try await cache.get(key, policy: policy) { await gate.wait(); return "v2" } == "v1")
        gate.open()
        try await eventually("the background load stored its value") { cache.l1Contains(key) }
        #expect(try await cache.get(key, policy: policy) { "v3" } == "v2")
    }

    @Test func loadTimeoutFailsTheCall() async throws {
        let cache = try TieredCache<String>(configuration: quietConfiguration("timeout"))
        var policy = Self.closed
        policy.loadTimeout = .milliseconds(50)
        let gate = Gate()
        do {
            _ = try await cache.get(CacheKey("grant", 4), policy: policy) { await gate.wait(); return "late" }
            Issue.record("expected a timeout")
        } catch let error as TieredCacheError {
            #expect(error.code == .loaderTimedOut)
            #expect(error.message.contains("STRATA_CACHE_GRANT_LOAD_TIMEOUT"))
        }
        gate.open()
        #expect(cache.statistics.loadTimeouts == 1)
    }
}

/// A loopback port with nothing listening (bound and released).
enum ProjectScriptsPort {
    static func closed() throws -> Int { try ProjectScripts.freePort() }
}

import StrataTestSupport
