import Strata
import StrataCore
import StrataL2
import StrataMem
import StrataRedis

@inline(never) func blackhole(_ value: Int) {
    if value == Int.min { print("") }
}

/// Hit cost of the tiered cache against its physical references, measured side by side
/// in interleaved rounds: an L1 hit against a bare `L1Cache.get` (same keys, same TTLs,
/// same async caller), an L2 hit (policy without L1) against a raw Redis `GET` of the same
/// key on one connection, with `L2Cache.get` in between.
func runHitBench(_ options: Options) async throws -> [String] {
    var lines: [String] = []
    func say(_ line: String) {
        print(line)
        lines.append(line)
    }
    say("### Tiered hit cost (`tiered-bench hit`, \(options.rounds) interleaved rounds)")
    say("")
    say("load average before: \(loadAverage())")
    say("")

    // L1
    let keyCount = 1024
    let texts = (0..<keyCount).map { "bench:l1:\($0)" }
    let keys = (0..<keyCount).map { CacheKey("bench", "l1", $0) }
    precondition(keys.map(\.text) == texts)
    var bareConfiguration = L1Configuration<String, String>(maximumCount: 10_000, defaultTTL: nil)
    bareConfiguration.name = "bench-bare"
    let bare = L1Cache(bareConfiguration)
    var configuration = TieredCacheConfiguration(name: "bench-l1")
    configuration.l1MaximumCount = 10_000
    let tiered = try TieredCache<String>(configuration: configuration)
    let policy = CachePolicy(kind: "bench", l1TTL: .seconds(3600), l2TTL: nil)
    for index in 0..<keyCount {
        bare.set(texts[index], "value-\(index)", ttl: .seconds(3600))
        _ = try await tiered.get(keys[index], policy: policy) { "value-\(index)" }
    }
    let l1Operations = options.l1Operations
    func timeBare() -> Double {
        var sink = 0
        let start = nowNanos()
        for index in 0..<l1Operations {
            if let value = bare.get(texts[index & (keyCount - 1)]) { sink &+= value.utf8.count }
        }
        let elapsed = nowNanos() - start
        blackhole(sink)
        return Double(elapsed) / Double(l1Operations)
    }
    func timeTiered() async throws -> Double {
        var sink = 0
        let start = nowNanos()
        for index in 0..<l1Operations {
            sink &+= try await tiered.get(keys[index & (keyCount - 1)], policy: policy) { "miss" }.utf8.count
        }
        let elapsed = nowNanos() - start
        blackhole(sink)
        return Double(elapsed) / Double(l1Operations)
    }
    _ = timeBare()
    _ = try await timeTiered()
    var bareNs: [Double] = [], tieredNs: [Double] = [], l1Ratios: [Double] = []
    for round in 0..<options.rounds {
        let (b, t): (Double, Double)
        if round % 2 == 0 {
            b = timeBare()
            t = try await timeTiered()
        } else {
            t = try await timeTiered()
            b = timeBare()
        }
        bareNs.append(b)
        tieredNs.append(t)
        l1Ratios.append(t / b)
    }
    let l1Stats = tiered.statistics
    precondition(l1Stats.loads == keyCount, "every timed L1 read was a hit")

    // L2
    var l2Configuration = try L2Configuration(url: options.redisURL)
    l2Configuration.namespace = "tbench\(UInt32.random(in: 0...UInt32.max)):"
    l2Configuration.logger.logLevel = .error
    let l2 = try L2Cache(configuration: l2Configuration)
    var l2TieredConfiguration = TieredCacheConfiguration(name: "bench-l2")
    l2TieredConfiguration.logger.logLevel = .error
    let l2Tiered = try TieredCache<AccessRights>(configuration: l2TieredConfiguration, l2: l2)
    let l2Policy = CachePolicy(kind: "bench_l2", l1TTL: nil, l2TTL: .seconds(3600))
    let l2Keys = (0..<256).map { CacheKey("bench", "l2", $0) }
    for key in l2Keys { try await l2Tiered.set(key, AccessRights([.read, .write]), policy: l2Policy) }
    let rawKeys = l2Keys.map { RedisArgument(l2.layout.valueKey($0.text)) }
    let connection = try await RedisConnection.connect(try RedisConfiguration(url: options.redisURL))
    let l2Operations = options.l2Operations
    // The three paths interleaved operation by operation (rotating their order), each
    // operation timed on its own: all three see the same machine at the same moments.
    func l2Round(_ round: Int) async throws -> (raw: Double, library: Double, tiered: Double) {
        var raw: [Int64] = [], library: [Int64] = [], tieredTimes: [Int64] = []
        raw.reserveCapacity(l2Operations)
        library.reserveCapacity(l2Operations)
        tieredTimes.reserveCapacity(l2Operations)
        var sink = 0
        for index in 0..<l2Operations {
            let slot = index & 255
            for step in 0..<3 {
                switch (index + round + step) % 3 {
                case 0:
                    let t0 = nowNanos()
                    sink &+= try await connection.send(["GET", rawKeys[slot]]).bytes?.count ?? 0
                    raw.append(nowNanos() - t0)
                case 1:
                    let t0 = nowNanos()
                    if case .hit(let value, _) = try await l2.get(l2Keys[slot].text, as: AccessRights?.self) {
                        sink &+= Int(value?.rawValue ?? 0)
                    }
                    library.append(nowNanos() - t0)
                default:
                    let t0 = nowNanos()
                    sink &+= Int(try await l2Tiered.get(l2Keys[slot], policy: l2Policy) { AccessRights.all }.rawValue)
                    tieredTimes.append(nowNanos() - t0)
                }
            }
        }
        blackhole(sink)
        func p50(_ values: [Int64]) -> Double { median(values.map(Double.init)) }
        return (p50(raw), p50(library), p50(tieredTimes))
    }
    _ = try await l2Round(0)
    var rawUs: [Double] = [], libraryUs: [Double] = [], l2TieredUs: [Double] = [], l2Ratios: [Double] = [], libraryRatios: [Double] = []
    for round in 0..<options.rounds {
        let (r, l, t) = try await l2Round(round)
        rawUs.append(r / 1000)
        libraryUs.append(l / 1000)
        l2TieredUs.append(t / 1000)
        l2Ratios.append(t / r)
        libraryRatios.append(l / r)
    }
    let l2Stats = l2Tiered.statistics
    precondition(l2Stats.loads == 0 && l2Stats.l2Misses == 0, "every timed L2 read was a hit: \(l2Stats)")
    await connection.close()
    await l2.close()

    say("| path | reference | median per op (path / reference) | ratio median | ratio min–max | budget |")
    say("|---|---|---|---|---|---|")
    say("| TieredCache L1 hit (`get`, String keys, 1,024 keys) | bare `L1Cache.get` | \(fmt(median(tieredNs), 1)) ns / \(fmt(median(bareNs), 1)) ns | \(fmt(median(l1Ratios)))× | \(fmt(l1Ratios.min()!))–\(fmt(l1Ratios.max()!))× | ≤ 1.5× |")
    say("| TieredCache L2 hit (policy without L1), p50 per round | raw `GET` of the same key, one connection | \(fmt(median(l2TieredUs), 1)) µs / \(fmt(median(rawUs), 1)) µs | \(fmt(median(l2Ratios)))× | \(fmt(l2Ratios.min()!))–\(fmt(l2Ratios.max()!))× | ≤ 1.1× |")
    say("| `L2Cache.get` (library floor of the L2 hit), p50 per round | raw `GET` | \(fmt(median(libraryUs), 1)) µs / \(fmt(median(rawUs), 1)) µs | \(fmt(median(libraryRatios)))× | \(fmt(libraryRatios.min()!))–\(fmt(libraryRatios.max()!))× | — |")
    say("")
    say("per round, L1 (ns, tiered/bare): " + zip(tieredNs, bareNs).map { "\(fmt($0, 1))/\(fmt($1, 1))" }.joined(separator: " · "))
    say("per round, L2 p50 (µs, tiered/library/raw, interleaved per operation): " + (0..<options.rounds).map { "\(fmt(l2TieredUs[$0], 1))/\(fmt(libraryUs[$0], 1))/\(fmt(rawUs[$0], 1))" }.joined(separator: " · "))
    say("")
    say("load average after: \(loadAverage())")
    say("")
    return lines
}
