import Dispatch
import StrataMem
import Synchronization
import Testing

/// Hits take a read lock and leave their policy work in a per-stripe read buffer that is
/// replayed before any write to the segment (or when it fills). These tests check that
/// the replay is complete, in order, and safe under concurrency.
@Suite("L1 read buffer")
struct L1ReadBufferTests {
    @Test func bufferedHitsReachTheLRUOrderBeforeTheNextEviction() {
        // Exact LRU: a key read (buffered) just before an insert must not be the victim.
        let cache = makeCache(Int.self, Int.self, count: 100, policy: .lru, shards: 1)
        for k in 0..<100 { cache.set(k, k) }
        // Read the oldest keys in a pattern longer than one buffer (48), newest last.
        for round in 0..<3 {
            for k in 0..<40 { #expect(cache.get(k) == k, "round \(round) key \(k)") }
        }
        for k in 100..<160 { cache.set(k, k) }  // evicts 60 entries: keys 40..<100 in LRU order
        for k in 0..<40 { #expect(cache.contains(k), "recently read key \(k) was evicted") }
        for k in 40..<100 { #expect(!cache.contains(k), "unread key \(k) survived") }
    }

    @Test func bufferedHitsProtectHotKeysUnderTinyLFU() {
        let cache = makeCache(Int.self, Int.self, count: 200, shards: 1)
        for k in 0..<200 { cache.set(k, k) }
        // Keys 0..<20 are hot: read many times (far more reads than one buffer holds).
        for _ in 0..<50 { for k in 0..<20 { _ = cache.get(k) } }
        // A scan of one-hit wonders must not push them out.
        for k in 1_000..<5_000 { cache.set(k, k) }
        let survivors = (0..<20).filter { cache.contains($0) }.count
        #expect(survivors == 20, "only \(survivors) of 20 hot keys survived a scan")
    }

    @Test func statisticsCountBufferedHitsAndMisses() {
        let cache = makeCache(Int.self, Int.self, count: 1_000, shards: 1)
        for k in 0..<500 { cache.set(k, k) }
        var hits = 0
        var misses = 0
        for i in 0..<10_007 {
            if cache.get(i % 700) != nil { hits += 1 } else { misses += 1 }
        }
        let stats = cache.statistics
        #expect(stats.hits == hits)
        #expect(stats.misses == misses)
    }

    @Test func expiredEntriesAreRemovedByTheReadThatFindsThem() {
        let clock = L1ManualClock()
        let cache = makeCache(Int.self, Int.self, count: 100, ttl: .seconds(10), clock: clock, shards: 1)
        cache.set(1, 1)
        #expect(cache.get(1) == 1)
        clock.advance(by: .seconds(10))
        #expect(cache.get(1) == nil)
        let stats = cache.statistics
        #expect(stats.evictionsByExpiry == 1)
        #expect(stats.entries == 0)
        #expect(stats.hits == 1 && stats.misses == 1)
    }

    @Test func concurrentReadersOfASmallCacheKeepEvictionCorrect() {
        // One segment: readers share it through striped read locks and buffers while
        // writers evict. Every value read must be the key's, the bound must hold, and the
        // statistics must add up.
        let maximum = 500
        let cache = makeCache(Int.self, Int.self, count: maximum, shards: 1)
        let readHits = Atomic<Int>(0)
        let readMisses = Atomic<Int>(0)
        let violations = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            var rng = TestRNG(UInt64(thread) + 7)
            for i in 0..<60_000 {
                let r = rng.next()
                // Skewed keys: a hot set that stays, a tail that churns.
                let key = r % 4 == 0 ? Int(r >> 8 % 5_000) : Int(r >> 8 % 200)
                if thread == 0, i % 3 == 0 {
                    cache.set(key, key)
                } else if let value = cache.get(key) {
                    if value != key { violations.add(1, ordering: .relaxed) }
                    readHits.add(1, ordering: .relaxed)
                } else {
                    readMisses.add(1, ordering: .relaxed)
                }
                if i % 5_000 == 0, cache.count > maximum { violations.add(1, ordering: .relaxed) }
            }
        }
        #expect(violations.load(ordering: .relaxed) == 0)
        #expect(cache.count <= maximum)
        let stats = cache.statistics
        #expect(stats.hits == readHits.load(ordering: .relaxed))
        #expect(stats.misses == readMisses.load(ordering: .relaxed))
        // The hot set is in the cache at the end.
        let hot = (0..<200).filter { cache.contains($0) }.count
        #expect(hot > 100, "only \(hot) of the 200 hot keys are cached")
    }
}
