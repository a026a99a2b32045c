import Foundation
import CMallocStats
import StrataMem

func heapInUse() -> Int { Int(strata_heap_in_use()) }

func runMemory() {
    let n = 1_000_000
    print("## Memory")
    print("")
    // Overhead beyond key and value at 1,000,000 entries (Int keys and values: 16 bytes).
    var heap0 = heapInUse()
    var config = L1Configuration<Int, Int>(maximumCount: n + n / 10)
    config.metricsEnabled = false
    var cache: L1Cache<Int, Int>? = L1Cache(config)
    for i in 0..<n { cache!.set(i &* 2_654_435_761, i) }
    let cacheHeap = heapInUse() - heap0
    precondition(cache!.count == n)
    cache = nil
    heap0 = heapInUse()
    var dict: [Int: Int]? = [:]
    for i in 0..<n { dict![i &* 2_654_435_761] = i }
    let dictHeap = heapInUse() - heap0
    precondition(dict!.count == n)
    dict = nil
    print("Heap bytes in use (glibc mallinfo2) before and after filling, divided by the entries.")
    print("")
    print("| 1,000,000 entries, Int → Int | heap bytes/entry | overhead beyond key+value |")
    print("|---|---:|---:|")
    print("| L1Cache (maximumCount 1,100,000, holding 1,000,000) | \(f1(Double(cacheHeap) / Double(n))) | \(f1(Double(cacheHeap) / Double(n) - 16)) |")
    print("| [Int: Int] (reference) | \(f1(Double(dictHeap) / Double(n))) | \(f1(Double(dictHeap) / Double(n) - 16)) |")
    print("")

    // Weight accounting: the default weigher's total vs what the heap really grew by.
    print("| weighted cache, default weigher | entries | accounted weight (MB) | heap growth (MB) | error |")
    print("|---|---:|---:|---:|---:|")
    func account<K: Hashable & Sendable, V: Sendable>(_ label: String, _ count: Int, _ make: (Int) -> (K, V)) {
        // The baseline is taken before the keys and values exist: their memory is the entries'.
        let h0 = heapInUse()
        var c = L1Configuration<K, V>(maximumWeight: 1 << 40)
        c.metricsEnabled = false
        c.indexPrefixes = true
        var cache: L1Cache<K, V>? = L1Cache(c)
        for i in 0..<count {
            let (k, v) = make(i)
            cache!.set(k, v)
        }
        let grown = heapInUse() - h0
        let weight = cache!.weight
        print("| \(label) | \(count) | \(f1(Double(weight) / 1e6)) | \(f1(Double(grown) / 1e6)) | \(String(format: "%+.1f%%", 100 * (Double(weight) - Double(grown)) / Double(grown))) |")
        cache = nil
    }
    var rng = SplitMix(seed: 3)
    let lengths = (0..<300_000).map { _ in 16 + Int(rng.next() % 300) }
    account("String key (`authz:team:T:project:P`) → String value (16–315 bytes)", 300_000) { i in
        ("authz:team:\(i / 100):project:\(i)", String(repeating: "x", count: lengths[i]))
    }
    account("Int → [UInt8] (16–315 bytes)", 300_000) { i in (i, [UInt8](repeating: 1, count: lengths[i])) }
    account("Int → Int", 1_000_000) { i in (i &* 2_654_435_761, i) }
    print("")
}
