import StrataMem
import StrataTestSupport
import Testing

@Suite("L1 loading")
struct L1LoadingTests {
    @Test func loadsOnMissAndCaches() async throws {
        let cache = makeCache(String.self, Int.self)
        let calls = CallCounter()
        let v1 = try await cache.get("a") { _ in calls.increment(); return 7 }
        let v2 = try await cache.get("a") { _ in calls.increment(); return 8 }
        #expect(v1 == 7 && v2 == 7)
        #expect(calls.count == 1)
        let stats = cache.statistics
        #expect(stats.loadSuccesses == 1 && stats.hits == 1 && stats.misses == 1)
    }

    @Test func singleFlight() async throws {
        let cache = makeCache(String.self, Int.self)
        let calls = CallCounter()
        let gate = Gate()
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<100 {
                group.addTask {
                    try await cache.get("k") { _ in
                        calls.increment()
                        await gate.wait()
                        return 42
                    }
                }
            }
            #expect(await eventually { cache.statistics.misses == 100 })
            gate.open()
            for try await value in group { #expect(value == 42) }
        }
        #expect(calls.count == 1)
        #expect(cache.get("k") == 42)
    }

    @Test func errorsReachEveryWaiterAndAreNotCached() async throws {
        let cache = makeCache(String.self, Int.self)
        let calls = CallCounter()
        let gate = Gate()
        await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    do {
                        _ = try await cache.get("k") { _ in
                            calls.increment()
                            await gate.wait()
                            throw TestError(code: 1)
                        }
                        return false
                    } catch {
                        return (error as? TestError) == TestError(code: 1)
                    }
                }
            }
            #expect(await eventually { cache.statistics.misses == 20 })
            gate.open()
            for await ok in group { #expect(ok) }
        }
        #expect(calls.count == 1)
        #expect(cache.statistics.loadFailures == 1)
        // Not cached: the next call loads again.
        let v = try await cache.get("k") { _ in 5 }
        #expect(v == 5)
    }

    @Test func negativeCachingHasItsOwnTTL() async throws {
        let clock = L1ManualClock()
        let cache = makeCache(String.self, Int.self, clock: clock) { $0.negativeTTL = .seconds(5) }
        let calls = CallCounter()
        for _ in 0..<3 {
            await #expect(throws: TestError.self) {
                try await cache.get("k") { _ in calls.increment(); throw TestError(code: 2) }
            }
        }
        #expect(calls.count == 1)
        clock.advance(by: .seconds(6))
        let v = try await cache.get("k") { _ in calls.increment(); return 9 }
        #expect(v == 9 && calls.count == 2)
        // Invalidation drops a cached error too.
        cache.invalidateAll()
        await #expect(throws: TestError.self) { try await cache.get("e") { _ in throw TestError(code: 3) } }
        cache.invalidate(key: "e")
        #expect(try await cache.get("e") { _ in 1 } == 1)
    }

    /// Starts a load of `key` that blocks on a gate; runs `during` while it is in flight.
    func loadRacing(
        _ cache: L1Cache<String, Int>, key: String, tags: [String] = [], during: () -> Void
    ) async throws -> Int {
        let gate = Gate()
        let started = Gate()
        let task = Task {
            try await cache.get(key, tags: tags) { _ in
                started.open()
                await gate.wait()
                return 1
            }
        }
        await started.wait()
        during()
        gate.open()
        return try await task.value
    }

    @Test func invalidationByKeyDuringLoadWins() async throws {
        let cache = makeCache(String.self, Int.self)
        let value = try await loadRacing(cache, key: "k") { cache.invalidate(key: "k") }
        #expect(value == 1)  // the caller still gets it
        #expect(cache.get("k") == nil)  // but it was not stored
        #expect(cache.statistics.loadsDiscarded == 1)
    }

    @Test func invalidationByPrefixDuringLoadWins() async throws {
        let cache = makeCache(String.self, Int.self)
        _ = try await loadRacing(cache, key: "authz:team:7:project:1") { cache.invalidate(prefix: "authz:team:7:") }
        #expect(cache.get("authz:team:7:project:1") == nil)
        // An unrelated prefix does not fence it.
        _ = try await loadRacing(cache, key: "authz:team:8:project:1") { cache.invalidate(prefix: "authz:team:7:") }
        #expect(cache.get("authz:team:8:project:1") == 1)
    }

    @Test func invalidationByTagDuringLoadWins() async throws {
        let cache = makeCache(String.self, Int.self)
        _ = try await loadRacing(cache, key: "a", tags: ["t"]) { cache.invalidate(tag: "t") }
        #expect(cache.get("a") == nil)
        _ = try await loadRacing(cache, key: "b", tags: ["t"]) { cache.invalidate(tag: "other") }
        #expect(cache.get("b") == 1)
    }

    @Test func invalidateAllDuringLoadWins() async throws {
        let cache = makeCache(String.self, Int.self)
        _ = try await loadRacing(cache, key: "a") { cache.invalidateAll() }
        #expect(cache.get("a") == nil)
    }

    @Test func setDuringLoadWins() async throws {
        let cache = makeCache(String.self, Int.self)
        _ = try await loadRacing(cache, key: "a") { cache.set("a", 99) }
        #expect(cache.get("a") == 99)
    }

    @Test func failClosedCutoffFencesOlderLoads() async throws {
        let clock = L1ManualClock()
        let cache = makeCache(String.self, Int.self, clock: clock)
        _ = try await loadRacing(cache, key: "a", tags: ["allow"]) {
            clock.advance(by: .seconds(1))
            cache.invalidate(tag: "allow", writtenBefore: clock.now())
        }
        #expect(cache.get("a") == nil)
    }

    @Test func loadedValuesGetTTLAndTags() async throws {
        let clock = L1ManualClock()
        let cache = makeCache(String.self, Int.self, clock: clock)
        _ = try await cache.get("a", ttl: .seconds(3), tags: ["t"]) { _ in 1 }
        #expect(cache.entry("a")?.tags == ["t"])
        clock.advance(by: .seconds(4))
        #expect(cache.get("a") == nil)
    }

    @Test func refreshAhead() async throws {
        let clock = L1ManualClock()
        let cache = makeCache(String.self, Int.self, ttl: .seconds(10), clock: clock) { $0.refreshAhead = .seconds(2) }
        let version = CallCounter()
        let loader: @Sendable (String) async throws -> Int = { _ in
            version.increment()
            return version.count
        }
        #expect(try await cache.get("a", loader: loader) == 1)
        clock.advance(by: .seconds(5))
        #expect(try await cache.get("a", loader: loader) == 1)  // not yet close to expiry
        #expect(cache.loadsInFlight == 0)
        clock.advance(by: .seconds(4))  // 1 s left: reload in the background, serve the current value
        #expect(try await cache.get("a", loader: loader) == 1)
        #expect(await eventually { cache.entry("a")?.value == 2 })
        #expect(cache.statistics.loadSuccesses == 2)
        clock.advance(by: .seconds(3))  // the old deadline has passed; the refreshed entry lives on
        #expect(cache.get("a") == 2)
    }
}
