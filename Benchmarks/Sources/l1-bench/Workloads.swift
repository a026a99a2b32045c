import Foundation
import StrataMem

/// Workloads the policy was not tuned on: a hot set that moves, and recency-biased bursts.
enum Workload: CaseIterable {
    case shiftingHotSet
    case recencyBursts
    case recencyWithScans

    var name: String {
        switch self {
        case .shiftingHotSet: "shifting hot set (zipf 1.0, hot set replaced every 100k requests)"
        case .recencyBursts: "recency bursts (new keys re-read soon after first use, 20% zipf background)"
        case .recencyWithScans: "recency bursts + one-pass scans (30% of requests)"
        }
    }

    func generate(count: Int = 1_000_000, seed: UInt64 = 42) -> [Int] {
        var rng = SplitMix(seed: seed)
        var ids: [Int] = []
        ids.reserveCapacity(count)
        switch self {
        case .shiftingHotSet:
            let zipf = Zipf(n: 50_000, s: 1.0)
            for i in 0..<count {
                let phase = i / 100_000
                ids.append(phase * 1_000_000 + zipf.sample(&rng))
            }
        case .recencyBursts, .recencyWithScans:
            let background = Zipf(n: 10_000, s: 0.9)
            var newest = 100_000_000
            var scan = 500_000_000
            for _ in 0..<count {
                let u = Double(rng.next() >> 11) / Double(1 << 53)
                if self == .recencyWithScans, u < 0.3 {
                    scan += 1
                    ids.append(scan)
                } else if u < 0.5 {
                    newest += 1
                    ids.append(newest)
                } else if u < 0.8 {
                    // Geometric age, mean 200: recently introduced keys are hot.
                    let v = Double(rng.next() >> 11) / Double(1 << 53)
                    let age = Int(-log(1 - v) * 200)
                    ids.append(newest - age)
                } else {
                    ids.append(background.sample(&rng))
                }
            }
        }
        return ids
    }
}

func runWorkloads() {
    print("## Workloads not tuned on")
    print("")
    print("| workload | capacity | L1 adaptive | L1 W-TinyLFU 1% fixed | L1 LRU | adaptive − best other |")
    print("|---|---:|---:|---:|---:|---:|")
    for workload in Workload.allCases {
        let ids = workload.generate()
        for capacity in [100, 1000, 10000] {
            let adaptive = replay(ids, capacity: capacity)
            let fixed = replay(ids, capacity: capacity, policy: .tinyLFU(windowPercent: 1))
            let lru = replay(ids, capacity: capacity, policy: .lru)
            print("| \(workload.name) | \(capacity) | **\(f4(adaptive))** | \(f4(fixed)) | \(f4(lru)) | \(String(format: "%+.4f", adaptive - max(fixed, lru))) |")
        }
    }
    print("")
}
