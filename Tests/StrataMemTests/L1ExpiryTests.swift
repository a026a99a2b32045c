import StrataMem
import Testing

@Suite("L1 expiry")
struct L1ExpiryTests {
    @Test func defaultTTLExpires() {
        let clock = L1ManualClock()
        let cache = makeCache(String.self, Int.self, ttl: .seconds(10), clock: clock)
        cache.set("a", 1)
        clock.advance(by: .seconds(9))
        #expect(cache.get("a") == 1)
        clock.advance(by: .seconds(1))
        #expect(cache.get("a") == nil)
        #expect(cache.statistics.evictionsByExpiry == 1)
        #expect(cache.count == 0)
    }

    @Test func perEntryTTLOverridesTheDefault() {
        let clock = L1ManualClock()
        let cache = makeCache(String.self, Int.self, ttl: .seconds(10), clock: clock)
        cache.set("short", 1, ttl: .seconds(1))
        cache.set("long", 2, ttl: .seconds(100))
        cache.set("default", 3)
        clock.advance(by: .seconds(2))
        #expect(cache.get("short") == nil)
        #expect(cache.get("default") == 3)
        clock.advance(by: .seconds(20))
        #expect(cache.get("default") == nil)
        #expect(cache.get("long") == 2)
        #expect(cache.entry("long") != nil)
        clock.advance(by: .seconds(100))
        #expect(cache.entry("long") == nil)
    }

    @Test func noTTLMeansNoExpiry() {
        let clock = L1ManualClock()
        let cache = makeCache(String.self, Int.self, clock: clock)
        cache.set("a", 1)
        clock.advance(by: .seconds(86_400 * 365))
        cache.cleanUp()
        #expect(cache.get("a") == 1)
    }

    @Test func zeroTTLIsNeverReturned() {
        let cache = makeCache(String.self, Int.self)
        cache.set("a", 1, ttl: .zero)
        #expect(cache.get("a") == nil)
    }

    @Test func rewriteRenewsTheDeadline() {
        let clock = L1ManualClock()
        let cache = makeCache(String.self, Int.self, ttl: .seconds(10), clock: clock)
        cache.set("a", 1)
        clock.advance(by: .seconds(8))
        cache.set("a", 2)
        clock.advance(by: .seconds(8))
        #expect(cache.get("a") == 2)
    }

    @Test(arguments: [Duration.milliseconds(500), .seconds(30), .seconds(5_000), .seconds(200_000), .seconds(10_000_000)])
    func timerWheelCleansUpWithoutReads(ttl: Duration) {
        let clock = L1ManualClock()
        let cache = makeCache(Int.self, Int.self, count: 10_000, clock: clock)
        for k in 0..<1000 { cache.set(k, k, ttl: ttl) }
        for k in 1000..<1100 { cache.set(k, k) }  // no TTL
        #expect(cache.count == 1100)
        clock.advance(by: ttl / 2)
        cache.cleanUp()
        #expect(cache.count == 1100)
        clock.advance(by: ttl)
        cache.cleanUp()
        #expect(cache.count == 100)
        #expect(cache.statistics.evictionsByExpiry == 1000)
        #expect(cache.get(1050) == 1050)
    }

    @Test func writesDriveCleanup() {
        // Each stripe's wheel advances on that stripe's writes; one stripe here.
        let clock = L1ManualClock()
        let cache = makeCache(Int.self, Int.self, count: 10_000, clock: clock, shards: 1)
        for k in 0..<500 { cache.set(k, k, ttl: .seconds(5)) }
        clock.advance(by: .seconds(70))
        cache.set(10_000, 0)  // a write advances the wheel
        #expect(cache.count == 1)
    }

    @Test func staggeredDeadlinesExpireInOrder() {
        let clock = L1ManualClock()
        let cache = makeCache(Int.self, Int.self, count: 10_000, clock: clock)
        for k in 0..<300 { cache.set(k, k, ttl: .seconds(Int64(k + 1))) }
        for step in 1...300 {
            clock.advance(by: .seconds(1))
            cache.cleanUp()
            // Never a live entry past its deadline; cleanup lags by at most one wheel tick (~1.07 s).
            for k in 0..<300 where cache.get(k) != nil { #expect(k + 1 > step) }
            #expect(cache.count <= 300 - step + 2)
        }
        #expect(cache.count == 0)
    }

    @Test func jitterShortensTTLWithinBounds() {
        let clock = L1ManualClock()
        let cache = makeCache(Int.self, Int.self, count: 10_000, clock: clock) { $0.ttlJitter = 0.2 }
        let start = clock.now()
        for k in 0..<1000 { cache.set(k, k, ttl: .seconds(100)) }
        let deadlines = (0..<1000).map { cache.entry($0)!.expiresAt!.nanoseconds - start.nanoseconds }
        #expect(deadlines.allSatisfy { $0 <= 100_000_000_000 && $0 > 80_000_000_000 })
        #expect(Set(deadlines).count > 900)
    }
}
