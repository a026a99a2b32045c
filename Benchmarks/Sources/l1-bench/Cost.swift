import Dispatch
import Foundation
import StrataMem
import Synchronization

/// The reference: a bare `Dictionary` behind a `Mutex`, in the same harness.
final class LockedDictionary: Sendable {
    let storage = Mutex<[Int: Int]>([:])
    @inline(never)
    func get(_ key: Int) -> Int? { storage.withLock { $0[key] } }
    @inline(never)
    func set(_ key: Int, _ value: Int) { storage.withLock { $0[key] = value } }
}

@inline(never)
func cacheGet(_ cache: L1Cache<Int, Int>, _ key: Int) -> Int? { cache.get(key) }
@inline(never)
func cacheMissInsert(_ cache: L1Cache<Int, Int>, _ key: Int) {
    if cache.get(key) == nil { cache.set(key, key) }
}

/// Runs `body(thread)` on `threads` threads at once; returns the wall time in ns.
///
/// Each run starts its own threads and releases them together from a spin barrier, so the
/// bodies really overlap (`DispatchQueue.concurrentPerform` may run both iterations on the
/// calling thread when its worker is slow to start, as on a busy machine). The time is
/// from the release to the last thread's end.
func timeParallel(_ threads: Int, _ body: @escaping @Sendable (Int) -> Void) -> UInt64 {
    if threads == 1 {
        let t0 = nanotime()
        body(0)
        return nanotime() - t0
    }
    let ready = Atomic<Int>(0)
    let go = Atomic<Bool>(false)
    let finished = Atomic<Int>(0)
    let ends = Mutex<[UInt64]>([])
    let group = DispatchGroup()
    for t in 0..<threads {
        group.enter()
        let thread = Thread {
            ready.add(1, ordering: .acquiringAndReleasing)
            while !go.load(ordering: .acquiring) {}
            body(t)
            let end = nanotime()
            ends.withLock { $0.append(end) }
            finished.add(1, ordering: .acquiringAndReleasing)
            group.leave()
        }
        thread.start()
    }
    while ready.load(ordering: .acquiring) < threads {}
    let start = nanotime()
    go.store(true, ordering: .releasing)
    group.wait()
    return ends.withLock { $0.max()! } - start
}

func percentile(_ sorted: [UInt64], _ p: Double) -> UInt64 {
    sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

/// Per-operation latency: each operation timed on its own with `CLOCK_MONOTONIC`
/// (the timer's own cost is reported separately and included in both columns).
func latencies(_ keys: [Int], _ op: (Int) -> Void) -> (p50: UInt64, p99: UInt64) {
    var samples: [UInt64] = []
    samples.reserveCapacity(keys.count)
    for k in keys {
        let t0 = nanotime()
        op(k)
        samples.append(nanotime() - t0)
    }
    samples.sort()
    return (percentile(samples, 0.5), percentile(samples, 0.99))
}

func runCost() {
    for keyCount in [1_000, 100_000] { runCost(keyCount: keyCount) }
}

func runCost(keyCount: Int) {
    let opsPerThread = 4_000_000
    let rounds = 7
    var rng = SplitMix(seed: 7)
    let zipf = Zipf(n: keyCount, s: 0.99)
    // Keys are scattered ids, not 0..<n, so neither side benefits from sequential hashing.
    let keyOf = { (rank: Int) in (rank &* 2_654_435_761) & 0xFFFF_FFFF }
    let reads = (0..<(opsPerThread + 1_000)).map { _ in keyOf(zipf.sample(&rng)) }

    var config = L1Configuration<Int, Int>(maximumCount: 2 * keyCount)
    config.metricsEnabled = false
    let cache = L1Cache(config)
    let dictionary = LockedDictionary()
    for rank in 0..<keyCount {
        cache.set(keyOf(rank), rank)
        dictionary.set(keyOf(rank), rank)
    }
    print("### Cost with \(keyCount) keys (cache capacity \(2 * keyCount), all pre-filled; zipf 0.99 reads from a precomputed array of 4M; best of \(rounds) rounds)")
    print("")
    print("cache shards: \(cache.shardCount)")
    print("")

    func readRun(_ threads: Int, _ useCache: Bool) -> Double {
        var best = UInt64.max
        for _ in 0..<rounds {
            let t = timeParallel(threads) { thread in
                var found = 0
                // Half the array apart: the threads do not read the same keys in lockstep
                // (which would let one bring lines into the shared L3 for the other).
                let offset = thread * (reads.count / 2)
                if useCache {
                    for i in 0..<opsPerThread where cacheGet(cache, reads[(i &+ offset) % reads.count]) != nil { found += 1 }
                } else {
                    for i in 0..<opsPerThread where dictionary.get(reads[(i &+ offset) % reads.count]) != nil { found += 1 }
                }
                precondition(found > 0)
            }
            best = min(best, t)
        }
        return Double(best) / Double(opsPerThread)  // ns per op per thread (wall)
    }
    let dict1 = readRun(1, false)
    let cache1 = readRun(1, true)
    let dict2 = readRun(2, false)
    let cache2 = readRun(2, true)
    let cacheScaling = (2 / cache2) / (1 / cache1)
    let dictScaling = (2 / dict2) / (1 / dict1)

    // Miss and insert: fresh keys into a full cache (each insert evicts) vs inserting the
    // same fresh keys into the locked dictionary.
    let inserts = 1_000_000
    let fresh = (0..<inserts).map { keyOf(keyCount * 4 + $0) }
    var missInsert = UInt64.max
    var dictInsert = UInt64.max
    var dictInsertReserved = UInt64.max
    for _ in 0..<3 {
        var c = L1Configuration<Int, Int>(maximumCount: keyCount)
        c.metricsEnabled = false
        let full = L1Cache(c)
        for rank in 0..<keyCount { full.set(keyOf(rank), rank) }
        let t0 = nanotime()
        for k in fresh { cacheMissInsert(full, k) }
        missInsert = min(missInsert, nanotime() - t0)

        let d = LockedDictionary()
        for rank in 0..<keyCount { d.set(keyOf(rank), rank) }
        let t1 = nanotime()
        for k in fresh { d.set(k, k) }
        dictInsert = min(dictInsert, nanotime() - t1)

        let r = LockedDictionary()
        r.storage.withLock { $0.reserveCapacity(keyCount + inserts) }
        for rank in 0..<keyCount { r.set(keyOf(rank), rank) }
        let t2 = nanotime()
        for k in fresh { r.set(k, k) }
        dictInsertReserved = min(dictInsertReserved, nanotime() - t2)
    }
    let missNs = Double(missInsert) / Double(inserts)
    let dictInsNs = Double(dictInsert) / Double(inserts)
    let dictResNs = Double(dictInsertReserved) / Double(inserts)

    // Latency percentiles (single thread), each op timed individually.
    let sampleKeys = Array(reads.prefix(1_000_000))
    let timer = latencies(sampleKeys) { _ in }
    let dictLatency = latencies(sampleKeys) { _ = dictionary.get($0) }
    let cacheLatency = latencies(sampleKeys) { _ = cacheGet(cache, $0) }
    var c = L1Configuration<Int, Int>(maximumCount: keyCount)
    c.metricsEnabled = false
    let full = L1Cache(c)
    for rank in 0..<keyCount { full.set(keyOf(rank), rank) }
    let missLatency = latencies(Array(fresh.prefix(500_000))) { cacheMissInsert(full, $0) }
    let d = LockedDictionary()
    for rank in 0..<keyCount { d.set(keyOf(rank), rank) }
    let insLatency = latencies(Array(fresh.prefix(500_000))) { d.set($0, $0) }

    print("| measure | L1Cache | Mutex<[Int: Int]> | ratio | target |")
    print("|---|---:|---:|---:|---|")
    print("| hit, 1 thread (ns/op) | \(f1(cache1)) | \(f1(dict1)) | \(f2(cache1 / dict1))× | ≤ 1.3× |")
    print("| hit, 2 threads (ns/op per thread, wall) | \(f1(cache2)) | \(f1(dict2)) | | |")
    print("| 2-thread read throughput ÷ 1-thread | \(f2(cacheScaling))× | \(f2(dictScaling))× | | ≥ 1.6× |")
    print("| miss + insert (ns/op) vs dict insert | \(f1(missNs)) | \(f1(dictInsNs)) | \(f2(missNs / dictInsNs))× | ≤ 3× |")
    print("| miss + insert vs dict insert into reserved capacity | \(f1(missNs)) | \(f1(dictResNs)) | \(f2(missNs / dictResNs))× | |")
    print("| hit latency p50 / p99 (ns) | \(cacheLatency.p50) / \(cacheLatency.p99) | \(dictLatency.p50) / \(dictLatency.p99) | | |")
    print("| miss+insert vs insert latency p50 / p99 (ns) | \(missLatency.p50) / \(missLatency.p99) | \(insLatency.p50) / \(insLatency.p99) | | |")
    print("")
    print("Latencies time each operation on its own with CLOCK_MONOTONIC; an empty timed operation costs p50 \(timer.p50) ns / p99 \(timer.p99) ns, included in both columns.")
    print("")
}

/// A bare hit loop for profilers and quick comparisons (`l1-bench hitloop`): 15 rounds of
/// 1M zipf reads alternating cache and locked dictionary, best round of each.
func runHitLoop(shards: Int?, keyCount: Int = 100_000) {
    var rng = SplitMix(seed: 7)
    let zipf = Zipf(n: keyCount, s: 0.99)
    let keyOf = { (rank: Int) in (rank &* 2_654_435_761) & 0xFFFF_FFFF }
    let reads = (0..<1_000_000).map { _ in keyOf(zipf.sample(&rng)) }
    var config = L1Configuration<Int, Int>(maximumCount: 2 * keyCount)
    config.metricsEnabled = false
    config.shardCount = shards
    let cache = L1Cache(config)
    for rank in 0..<keyCount { cache.set(keyOf(rank), rank) }
    let dictionary = LockedDictionary()
    for rank in 0..<keyCount { dictionary.set(keyOf(rank), rank) }
    var found = 0
    var bestCache = UInt64.max
    var bestDict = UInt64.max
    for _ in 0..<15 {
        let t0 = nanotime()
        for k in reads where dictionary.get(k) != nil { found += 1 }
        let t1 = nanotime()
        for k in reads where cacheGet(cache, k) != nil { found += 1 }
        let t2 = nanotime()
        bestDict = min(bestDict, t1 - t0)
        bestCache = min(bestCache, t2 - t1)
    }
    print("hitloop keys=\(keyCount) shards=\(cache.shardCount) cache \(f1(Double(bestCache) / 1e6)) ns/op, dict \(f1(Double(bestDict) / 1e6)) ns/op, ratio \(f2(Double(bestCache) / Double(bestDict))) (found \(found))")
}
