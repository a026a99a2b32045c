import Foundation
import StrataMem

/// Read scaling (`l1-bench scale [--keys 1000,100000] [--rounds N]`): the throughput of two
/// threads reading a pre-filled cache over that of one thread, next to three references
/// measured in the same rounds:
///
/// - `array`: an unsynchronized read of a plain `[Int]` of about the cache table's size
///   (4 × keys rounded up to a power of two, 8-byte elements) at the key's low bits: no
///   lock, no writes, random access over the same footprint (8 passes, so that it runs
///   about as long as the others). What two threads can get from this machine's
///   two cores and caches: the physical ceiling.
/// - `dict`: a `[Int: Int]` that no one writes, read without a lock (a hash probe, no
///   synchronization).
/// - `locked`: `Mutex<[Int: Int]>` (one lock, which two threads share: it cannot scale).
///
/// Each round measures every variant with 1 and then 2 threads back to back (1,000,000
/// reads per thread from a precomputed array of zipf(0.99) keys, the two threads half the
/// array apart), so a round's ratios
/// share the machine's load. The machine is shared and has two cores: a round in which
/// the other processes took a core shows it as a low `array` ratio. The report gives, per
/// variant, the median and range of the per-round ratios, the ratio of the best times, and
/// the median over the rounds in which `array` scaled to at least 1.8× ("both cores").
func runScale(keyCounts: [Int], rounds: Int) {
    for keyCount in keyCounts { runScale(keyCount: keyCount, rounds: rounds) }
}

func runScale(keyCount: Int, rounds: Int) {
    let ops = 1_000_000
    var rng = SplitMix(seed: 7)
    let zipf = Zipf(n: keyCount, s: 0.99)
    let keyOf = { (rank: Int) in (rank &* 2_654_435_761) & 0xFFFF_FFFF }
    let reads = (0..<(ops + 1_000)).map { _ in keyOf(zipf.sample(&rng)) }
    var config = L1Configuration<Int, Int>(maximumCount: 2 * keyCount)
    config.metricsEnabled = false
    let cache = L1Cache(config)
    let locked = LockedDictionary()
    var plain: [Int: Int] = [:]
    var size = 1
    while size < 4 * keyCount { size *= 2 }
    var array = [Int](repeating: 0, count: size)
    for rank in 0..<keyCount {
        cache.set(keyOf(rank), rank)
        locked.set(keyOf(rank), rank)
        plain[keyOf(rank)] = rank
        array[keyOf(rank) & (size - 1)] = rank + 1
    }
    let frozen = plain
    let table = array
    let mask = size - 1

    let names = ["cache", "locked", "dict", "array"]
    // times[variant][threads - 1][round], ns
    var times = [[[UInt64]]](repeating: [[], []], count: names.count)
    for _ in 0..<rounds {
        for variant in 0..<names.count {
            for threads in 1...2 {
                let t = timeParallel(threads) { thread in
                    var found = 0
                    let offset = thread * (reads.count / 2)  // not in lockstep: see `runCost`
                    switch variant {
                    case 0:
                        for i in 0..<ops where cacheGet(cache, reads[(i &+ offset) % reads.count]) != nil { found += 1 }
                    case 1:
                        for i in 0..<ops where locked.get(reads[(i &+ offset) % reads.count]) != nil { found += 1 }
                    case 2:
                        for i in 0..<ops where frozenGet(frozen, reads[(i &+ offset) % reads.count]) != nil { found += 1 }
                    default:
                        // 8 passes: a read costs ~1/8 of the others', so that every run lasts about as long.
                        for pass in 0..<8 {
                            for i in 0..<ops where arrayGet(table, reads[(i &+ offset &+ pass) % reads.count] & mask) != 0 { found += 1 }
                        }
                    }
                    precondition(found > 0)
                }
                times[variant][threads - 1].append(t)
            }
        }
    }
    func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.isEmpty ? .nan : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
    // Scaling of a round: two threads did 2 × ops in t2, one thread ops in t1.
    let perThread = [ops, ops, ops, 8 * ops]
    let ratios = (0..<names.count).map { v in (0..<rounds).map { r in 2 * Double(times[v][0][r]) / Double(times[v][1][r]) } }
    let bothCores = (0..<rounds).filter { ratios[3][$0] >= 1.8 }
    print("### Read scaling, \(keyCount) keys (cache shards: \(cache.shardCount); \(rounds) rounds; 2-thread ÷ 1-thread read throughput)")
    print("")
    print("| variant | 1 thread ns/op (median) | 2 threads ns/op per thread (median) | scaling median [min–max] | best 1t ÷ best 2t | median, rounds with array ≥ 1.8× (\(bothCores.count)) |")
    print("|---|---:|---:|---|---:|---:|")
    for v in 0..<names.count {
        let one = times[v][0].map { Double($0) / Double(perThread[v]) }
        let two = times[v][1].map { Double($0) / Double(perThread[v]) }
        let best = 2 * one.min()! / two.min()!
        let sorted = ratios[v].sorted()
        let quiet = median(bothCores.map { ratios[v][$0] })
        print("| \(names[v]) | \(f1(median(one))) | \(f1(median(two))) | \(f2(median(ratios[v])))× [\(f2(sorted.first!))–\(f2(sorted.last!))] | \(f2(best))× | \(bothCores.isEmpty ? "–" : f2(quiet) + "×") |")
    }
    let hitRatio = median((0..<rounds).map { Double(times[0][0][$0]) / Double(times[1][0][$0]) })
    print("")
    print("cache hit ÷ locked dictionary hit, 1 thread (median of rounds): \(f2(hitRatio))×")
    print("per-round scaling (cache / array): " + (0..<rounds).map { "\(f2(ratios[0][$0]))/\(f2(ratios[3][$0]))" }.joined(separator: " "))
    print("")
}

@inline(never)
func frozenGet(_ dictionary: [Int: Int], _ key: Int) -> Int? { dictionary[key] }
@inline(never)
func arrayGet(_ array: [Int], _ index: Int) -> Int { array[index] }
