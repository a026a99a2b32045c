import Foundation

/// Options from the command line and the environment (scripts/bench-tiered.sh sets them).
struct Options {
    var mode = "all"
    var pgURL = ProcessInfo.processInfo.environment["BENCH_PG_URL"]
        ?? ProcessInfo.processInfo.environment["STRATA_PG_URL"] ?? "postgresql://postgres@127.0.0.1:55432/strata_tiered_bench"
    var redisURL = ProcessInfo.processInfo.environment["STRATA_REDIS_URL"] ?? "redis://127.0.0.1:56379"
    /// Interleaved rounds of the hit benchmarks.
    var rounds = 7
    /// Operations per round: L1 hits, and L2 hits / raw round trips.
    var l1Operations = 2_000_000
    var l2Operations = 20_000
    /// Authorization: simulated users, checks before measuring, checks measured, callers.
    var users = 10_000
    var warmup = 100_000
    var checks = 300_000
    var concurrency = 2
    var zipf = 1.0

    init() throws {
        var arguments = Array(CommandLine.arguments.dropFirst())
        if let first = arguments.first, !first.hasPrefix("--") {
            mode = first
            arguments.removeFirst()
            guard ["hit", "authz", "all"].contains(mode) else {
                throw BenchError("unknown mode '\(mode)'; usage: tiered-bench [hit|authz|all] [--rounds N] [--users N] [--warmup N] [--checks N] [--concurrency N] [--zipf S] [--l1-ops N] [--l2-ops N]")
            }
        }
        var args = arguments.makeIterator()
        func int(_ value: String?, _ name: String) throws -> Int {
            guard let value, let number = Int(value), number > 0 else { throw BenchError("\(name) needs a positive integer") }
            return number
        }
        while let arg = args.next() {
            switch arg {
            case "--rounds": rounds = try int(args.next(), arg)
            case "--users": users = try int(args.next(), arg)
            case "--warmup": warmup = try int(args.next(), arg)
            case "--checks": checks = try int(args.next(), arg)
            case "--concurrency": concurrency = try int(args.next(), arg)
            case "--l1-ops": l1Operations = try int(args.next(), arg)
            case "--l2-ops": l2Operations = try int(args.next(), arg)
            case "--zipf":
                guard let value = args.next().flatMap(Double.init), value > 0 else { throw BenchError("--zipf needs a positive number") }
                zipf = value
            default: throw BenchError("unknown argument \(arg)")
            }
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Monotonic nanoseconds.
@inline(__always) func nowNanos() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) &* 1_000_000_000 &+ Int64(ts.tv_nsec)
}

func loadAverage() -> String {
    ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func fmt(_ value: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", value) }

/// SplitMix64: fast, deterministic.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Zipf over ranks 0..<n with exponent s (rank 0 most frequent), by inverse CDF.
struct Zipf {
    let cdf: [Double]
    init(n: Int, s: Double) {
        var weights = (1...n).map { 1 / pow(Double($0), s) }
        let total = weights.reduce(0, +)
        var running = 0.0
        for index in weights.indices {
            running += weights[index] / total
            weights[index] = running
        }
        cdf = weights
    }

    func sample(_ generator: inout SplitMix64) -> Int {
        let u = Double(generator.next() >> 11) / Double(1 << 53)
        var low = 0, high = cdf.count - 1
        while low < high {
            let mid = (low + high) / 2
            if cdf[mid] < u { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
