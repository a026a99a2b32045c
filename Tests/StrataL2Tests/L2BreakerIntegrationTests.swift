import StrataL2
import StrataRedis
import Testing

@Suite("L2 circuit breaker against a Redis that stops and returns")
struct L2BreakerIntegrationTests {
    @Test func opensSkipsFastAndRecovers() async throws {
        let server = try PrivateRedis()
        defer { server.remove() }
        let cache = try makeCache("breaker", url: server.url) {
            $0.breaker = CircuitBreakerConfiguration(failureRateThreshold: 0.5, minimumCalls: 4, slidingWindowSize: 8,
                                                     breakDuration: .milliseconds(500), halfOpenPermittedCalls: 2)
            $0.connectTimeout = .milliseconds(200)
            $0.commandTimeout = .milliseconds(200)
        }
        #expect(try await cache.set("app:user:1", value: 1, ttl: .seconds(60)) == .stored)
        #expect(try await cache.get("app:user:1", as: Int.self).value == 1)

        try server.stop()
        // The window holds the two successes above: two failures reach the 50 % ratio at 4 calls.
        var failures = 0
        for _ in 0..<10 {
            let lookup = try await cache.get("app:user:1", as: Int.self)
            if case .skipped(.redisFailure) = lookup { failures += 1; continue }
            #expect(lookup.isSkipped)
            break
        }
        #expect(failures == 2)
        #expect(cache.statistics.breakerOpenings == 1)
        guard case .open = cache.breakerState else { Issue.record("breaker should be open: \(cache.breakerState)"); return }

        // While open, calls skip Redis at once.
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<1_000 {
            guard case .skipped(.circuitOpen) = try await cache.get("app:user:1", as: Int.self) else {
                Issue.record("expected .circuitOpen"); break
            }
        }
        let elapsed = clock.now - start
        #expect(elapsed < .seconds(20), "1000 skipped calls took \(elapsed) (each would otherwise wait for a connect)")
        #expect(try await cache.set("app:user:2", value: 2, ttl: .seconds(60)) == .skipped(.circuitOpen))
        let loaded = try await cache.load("app:user:3", as: Int.self, ttl: .seconds(60)) { 3 }
        #expect(loaded.value == 3 && loaded.source == .loaded(write: .skipped(.circuitOpen)))
        #expect(cache.statistics.skippedCircuitOpen >= 1_002)

        // Still down after the break: the probe fails and the breaker reopens.
        try await Task.sleep(for: .milliseconds(550))
        #expect(try await !cache.get("app:user:1", as: Int.self).isHit)
        guard case .open = cache.breakerState else { Issue.record("a failed probe should reopen: \(cache.breakerState)"); return }
        #expect(cache.statistics.breakerOpenings == 2)

        // Redis returns (empty: no persistence); after the break the probes close the breaker.
        try server.start()
        try await Task.sleep(for: .milliseconds(550))
        #expect(try await cache.get("app:user:1", as: Int.self).isMiss)
        #expect(try await cache.set("app:user:1", value: 10, ttl: .seconds(60)) == .stored)
        #expect(cache.breakerState == .closed)
        #expect(try await cache.get("app:user:1", as: Int.self).value == 10)
        await cache.close()
    }
}
