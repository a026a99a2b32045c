import StrataMem
import Testing

@Suite("L1 basics")
struct L1CacheBasicTests {
    @Test func getSetReplace() {
        let cache = makeCache(String.self, Int.self)
        #expect(cache.get("a") == nil)
        cache.set("a", 1)
        #expect(cache.get("a") == 1)
        cache.set("a", 2)
        #expect(cache.get("a") == 2)
        #expect(cache["a"] == 2)
        #expect(cache.count == 1)
        #expect(cache.contains("a"))
        #expect(!cache.contains("b"))
    }

    @Test(arguments: [L1Policy.adaptiveTinyLFU, .tinyLFU(windowPercent: 1), .tinyLFU(windowPercent: 20), .lru])
    func countBoundHoldsForEveryPolicy(policy: L1Policy) {
        let cache = makeCache(Int.self, Int.self, count: 50, policy: policy)
        var rng = TestRNG(1)
        for _ in 0..<20_000 {
            let k = Int(rng.next() % 500)
            if cache.get(k) == nil { cache.set(k, k) }
            #expect(cache.count <= 50)
        }
        let stats = cache.statistics
        #expect(stats.entries == cache.count)
        #expect(stats.evictionsBySize == 20_000 - stats.hits - stats.entries)
    }

    @Test func shardedCacheSplitsTheBound() {
        let cache = makeCache(Int.self, Int.self, count: 1000, shards: 8)
        #expect(cache.shardCount == 8)
        for k in 0..<10_000 { cache.set(k, k) }
        #expect(cache.count <= 1000)
        #expect(cache.count > 900)
    }

    @Test func defaultShardCountKeepsSmallCachesWhole() {
        #expect(makeCache(Int.self, Int.self, count: 1000).shardCount == 1)
        #expect(makeCache(Int.self, Int.self, count: 10_000).shardCount == 2)
        #expect(makeCache(Int.self, Int.self, count: 10_000_000).shardCount == 64)
    }

    @Test func lruEvictsLeastRecentlyUsed() {
        let cache = makeCache(Int.self, Int.self, count: 3, policy: .lru)
        cache.set(1, 1)
        cache.set(2, 2)
        cache.set(3, 3)
        _ = cache.get(1)
        cache.set(4, 4)  // evicts 2
        #expect(cache.get(2) == nil)
        #expect(cache.get(1) == 1)
        #expect(cache.get(3) == 3)
        #expect(cache.get(4) == 4)
    }

    @Test func tinyLFUResistsAScan() {
        let cache = makeCache(Int.self, Int.self, count: 100)
        // A hot set read many times ...
        for _ in 0..<20 {
            for k in 0..<80 where cache.get(k) == nil { cache.set(k, k) }
        }
        // ... survives a long one-pass scan of cold keys.
        for k in 1000..<11_000 where cache.get(k) == nil { cache.set(k, k) }
        let survivors = (0..<80).filter { cache.contains($0) }.count
        #expect(survivors >= 70)
        // LRU loses all of them.
        let lru = makeCache(Int.self, Int.self, count: 100, policy: .lru)
        for _ in 0..<20 {
            for k in 0..<80 where lru.get(k) == nil { lru.set(k, k) }
        }
        for k in 1000..<11_000 where lru.get(k) == nil { lru.set(k, k) }
        #expect((0..<80).filter { lru.contains($0) }.isEmpty)
    }

    @Test func weightBoundWithCustomWeigher() {
        let cache = makeCache(String.self, String.self, count: nil, weight: 1000) { config in
            config.weigher = { _, value in value.utf8.count }
        }
        var rng = TestRNG(2)
        for i in 0..<2000 {
            cache.set("k\(i)", String(repeating: "x", count: Int(rng.next() % 100) + 1))
            #expect(cache.weight <= 1000)
        }
        #expect(cache.count > 10)
        cache.invalidateAll()
        cache.set("sized", "12345")
        #expect(cache.entry("sized")?.weight == 5)
        // An entry heavier than the whole cache is not stored.
        cache.set("huge", String(repeating: "y", count: 5000))
        #expect(cache.get("huge") == nil)
        #expect(cache.weight <= 1000)
    }

    @Test func bothBoundsHold() {
        let cache = makeCache(Int.self, [UInt8].self, count: 20, weight: 100_000)
        for i in 0..<500 { cache.set(i, [UInt8](repeating: 0, count: i % 50)) }
        #expect(cache.count <= 20)
        #expect(cache.weight <= 100_000)
    }

    @Test func defaultWeigherEstimatesBytes() {
        let cache = makeCache(Int.self, String.self, count: nil, weight: 1 << 30)
        cache.set(1, "short")
        cache.set(2, String(repeating: "z", count: 1000))
        let small = cache.entry(1)!.weight
        let large = cache.entry(2)!.weight
        #expect(small == L1Cache<Int, String>.perEntryOverheadBytes + 8 + 16)
        // 1000 UTF-8 bytes + NUL + 32-byte header + 8 bytes of malloc header, rounded to 16.
        #expect(large - small == 1056)
        #expect("short".l1HeapBytes == 0)
        #expect([UInt8](repeating: 0, count: 100).l1HeapBytes >= 132)
    }

    @Test func statisticsCountEverything() {
        let cache = makeCache(Int.self, Int.self, count: 2, policy: .lru)
        #expect(cache.get(1) == nil)
        cache.set(1, 1)
        #expect(cache.get(1) == 1)
        cache.set(2, 2)
        cache.set(3, 3)  // evicts 1
        cache.invalidate(key: 2)
        let stats = cache.statistics
        #expect(stats.hits == 1)
        #expect(stats.misses == 1)
        #expect(stats.hitRatio == 0.5)
        #expect(stats.evictionsBySize == 1)
        #expect(stats.evictionsByInvalidation == 1)
        #expect(stats.entries == 1)
        #expect(stats.weight == 1)
    }

    @Test func entryCarriesWriteTimeTagsAndExpiry() {
        let clock = L1ManualClock()
        let cache = makeCache(String.self, Int.self, clock: clock)
        let t0 = clock.now()
        cache.set("a", 1, ttl: .seconds(30), tags: ["x", "y", "x"])
        clock.advance(by: .seconds(1))
        cache.set("b", 2)
        let a = cache.entry("a")!
        #expect(a.value == 1)
        #expect(a.writtenAt == t0)
        #expect(a.expiresAt == t0 + .seconds(30))
        #expect(Set(a.tags) == ["x", "y"])
        #expect(cache.writeTime(of: "b") == t0 + .seconds(1))
        #expect(cache.entry("b")?.expiresAt == nil)
        // entry() does not count as a hit.
        #expect(cache.statistics.requests == 0)
    }

    @Test func hitRatioHoldsOnWorkloadsItWasNotTunedOn() {
        // Recency bursts: each new key is read again soon after its first use.
        var rng = TestRNG(9)
        var ids: [Int] = []
        var newest = 1_000_000
        for _ in 0..<200_000 {
            let u = rng.next() % 10
            if u < 5 {
                newest += 1
                ids.append(newest)
            } else if u < 8 {
                ids.append(newest - Int(rng.next() % 400))
            } else {
                ids.append(Int(rng.next() % 2000))
            }
        }
        func replay(_ policy: L1Policy) -> Double {
            let cache = makeCache(Int.self, Int.self, count: 1000, policy: policy)
            var hits = 0
            for id in ids {
                if cache.get(id) != nil { hits += 1 } else { cache.set(id, id) }
            }
            return Double(hits) / Double(ids.count)
        }
        let adaptive = replay(.adaptiveTinyLFU)
        let fixed = replay(.tinyLFU(windowPercent: 1))
        let lru = replay(.lru)
        // The adaptive window grows toward LRU on recency, which fixed W-TinyLFU cannot
        // (measured: adaptive 0.22, fixed 0.06, LRU 0.32 over this short 200k-request run).
        #expect(adaptive > fixed + 0.10)
        #expect(adaptive > lru - 0.15)

        // A hot set that moves every 25k requests (measured: adaptive 0.42–0.44, fixed 0.41,
        // LRU 0.54): the climber does better than the fixed window; the sketch's aging (every
        // 10 × capacity additions) keeps both below LRU, a known limit (docs/l1.md).
        var shifting: [Int] = []
        for i in 0..<200_000 {
            let phase = i / 25_000
            let r = Int(Double(rng.next() % 1_000_000) / 1_000_000 * Double(rng.next() % 3000))
            shifting.append(phase * 100_000 + r)
        }
        ids = shifting
        let adaptiveShift = replay(.adaptiveTinyLFU)
        let lruShift = replay(.lru)
        #expect(adaptiveShift > replay(.tinyLFU(windowPercent: 1)))
        #expect(adaptiveShift > lruShift - 0.15)
    }
}
