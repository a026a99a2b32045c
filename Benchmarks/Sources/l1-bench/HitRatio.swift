import Foundation
import StrataMem

/// Replays `ids` through a real `L1Cache` (unit weights, no TTL): a hit is a `get` that
/// returns a value, a miss is followed by a `set`.
func replay(_ ids: [Int], capacity: Int, policy: L1Policy = .adaptiveTinyLFU) -> Double {
    var config = L1Configuration<Int, Int>(maximumCount: capacity, policy: policy)
    config.metricsEnabled = false
    let cache = L1Cache(config)
    var hits = 0
    for id in ids {
        if cache.get(id) != nil {
            hits += 1
        } else {
            cache.set(id, id)
        }
    }
    return Double(hits) / Double(ids.count)
}

func runHitRatio(benchDir: String, capacities: [Int]) throws {
    let references = try loadReferences(benchDir + "/reference.jsonl")
    let traceDir = benchDir + "/traces"
    let traces = try FileManager.default.contentsOfDirectory(atPath: traceDir).filter { $0.hasSuffix(".txt.gz") }.sorted()
    let policies = ["LRU", "WTinyLFU", "S3FIFO", "Sieve", "ARC"]
    print("## Hit ratio (bench dir: \(benchDir))")
    print("")
    print("| trace | capacity | L1 (adaptive) | best ref | Δ vs best | LRU | WTinyLFU | S3FIFO | Sieve | ARC | OPT | L1 .lru (harness check) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    var ours: [Double] = []
    var refMeans: [String: [Double]] = [:]
    var oursLRU: [Double] = []
    var worst = Double.infinity
    var failures = 0
    for trace in traces {
        let ids = try loadTrace(traceDir + "/" + trace)
        for capacity in capacities {
            let ratio = replay(ids, capacity: capacity)
            let lru = replay(ids, capacity: capacity, policy: .lru)
            ours.append(ratio)
            oursLRU.append(lru)
            guard let ref = references.first(where: { $0.trace == trace && $0.capacity == capacity }) else {
                print("| \(trace) | \(capacity) | \(f4(ratio)) | – | – | – | – | – | – | – | – | \(f4(lru)) |")
                continue
            }
            let best = policies.compactMap { ref.values[$0] }.max() ?? 0
            for p in policies + ["OPT"] { refMeans[p, default: []].append(ref.values[p] ?? 0) }
            let delta = ratio - best
            worst = min(worst, delta)
            if delta < -0.01 { failures += 1 }
            let cells = (policies + ["OPT"]).map { f4(ref.values[$0] ?? .nan) }.joined(separator: " | ")
            print("| \(trace.replacingOccurrences(of: ".txt.gz", with: "")) | \(capacity) | **\(f4(ratio))** | \(f4(best)) | \(String(format: "%+.4f", delta)) | \(cells) | \(f4(lru)) |")
        }
    }
    func mean(_ xs: [Double]) -> Double { xs.reduce(0, +) / Double(max(1, xs.count)) }
    let refCells = (policies + ["OPT"]).map { f4(mean(refMeans[$0] ?? [])) }.joined(separator: " | ")
    print("| **mean** | | **\(f4(mean(ours)))** | | | \(refCells) | \(f4(mean(oursLRU))) |")
    print("")
    let bestSingle = policies.map { mean(refMeans[$0] ?? []) }.max() ?? 0
    print("rows: \(ours.count), rows more than 1 point below the best reference: \(failures), worst Δ: \(String(format: "%+.4f", worst))")
    print("mean: L1 \(f4(mean(ours))) vs best single policy mean \(f4(bestSingle)) (\(mean(ours) > bestSingle ? "above" : "NOT above"))")
    print("")
}
