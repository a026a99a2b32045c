import Foundation
import StrataL2

/// Encode + decode cost of the binary codec against JSON (and the property list), for a
/// small and a larger value; interleaved rounds, median per round, one line per value.
func runCodec(rounds: Int) throws {
    try compare("authorization decision", AuthorizationDecision.sample, iterations: 20_000, rounds: rounds)
    try compare("catalog (20 items)", Catalog.sample, iterations: 1_000, rounds: rounds)
    try compareFastPath(rounds: rounds)
}

/// The benchmark's 6-field struct through the binary codec: Codable vs the fast path
/// (L2BinaryCodable, the same bytes).
private func compareFastPath(rounds: Int) throws {
    let codec = L2BinaryCodec()
    let value = try RedisBench.value(), fast = FastBenchValue(try RedisBench.value())
    guard try codec.encode(value) == codec.encode(fast) else { fatalError("the fast path's bytes differ from Codable's") }
    guard try codec.decode(FastBenchValue.self, from: codec.encode(value)) == fast else { fatalError("the fast path does not round-trip") }
    var codable: [(Double, Double)] = [], direct: [(Double, Double)] = []
    for _ in 0..<rounds {
        codable.append(try measure(codec, value, 50_000))
        direct.append(try measure(codec, fast, 50_000))
    }
    func cell(_ samples: [(Double, Double)]) -> String {
        let both = median(samples.map(\.0)), encode = median(samples.map(\.1))
        return String(format: "encode %.2f, decode %.2f", encode, both - encode)
    }
    print("codec | bench struct (\(try codec.encode(value).count) B) | CPU µs: Codable \(cell(codable)) | fast path \(cell(direct))")
}

private func compare<T: Codable & Equatable>(_ label: String, _ value: T, iterations: Int, rounds: Int) throws {
    let codecs: [(String, any L2Codec)] = [("binary", L2BinaryCodec()), ("JSON", L2JSONCodec()), ("plist", L2PropertyListCodec())]
    for (name, codec) in codecs {
        guard try codec.decode(T.self, from: codec.encode(value)) == value else { fatalError("\(name) does not round-trip \(label)") }
    }
    var samples: [String: [Double]] = [:]
    var encodeSamples: [String: [Double]] = [:]
    for _ in 0..<rounds {
        for (name, codec) in codecs {
            let count = name == "plist" ? max(1, iterations / 4) : iterations
            let (both, encodeOnly) = try measure(codec, value, count)
            samples[name, default: []].append(both)
            encodeSamples[name, default: []].append(encodeOnly)
        }
    }
    let sizes = try codecs.map { try $0.1.encode(value).count }
    let binary = median(samples["binary"]!), json = median(samples["JSON"]!), plist = median(samples["plist"]!)
    print(String(format: "codec | %@ | binary %d B, JSON %d B, plist %d B | encode+decode CPU µs: binary %.2f (encode %.2f), JSON %.2f (encode %.2f), plist %.2f | JSON/binary %.1fx, plist/binary %.1fx | spread binary %.2f–%.2f, JSON %.2f–%.2f",
                 label, sizes[0], sizes[1], sizes[2], binary, median(encodeSamples["binary"]!), json, median(encodeSamples["JSON"]!), plist,
                 json / binary, plist / binary, samples["binary"]!.min()!, samples["binary"]!.max()!, samples["JSON"]!.min()!, samples["JSON"]!.max()!))
}

/// CPU µs (this thread's) per encode+decode and per encode alone: robust against the
/// machine being busy, which wall-clock time on a shared 2-core machine is not.
private func measure<T: Codable>(_ codec: any L2Codec, _ value: T, _ iterations: Int) throws -> (Double, Double) {
    var sink = 0
    let start = threadCPUTime()
    for _ in 0..<iterations {
        let bytes = try codec.encode(value)
        sink &+= bytes.count
        _ = try codec.decode(T.self, from: bytes)
    }
    let both = threadCPUTime() - start
    let encodeStart = threadCPUTime()
    for _ in 0..<iterations { sink &+= try codec.encode(value).count }
    let encode = threadCPUTime() - encodeStart
    if sink == 42 { print("") }
    return (both * 1e6 / Double(iterations), encode * 1e6 / Double(iterations))
}

/// Seconds of CPU time used by the calling thread.
func threadCPUTime() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

func microseconds(_ duration: Duration) -> Double {
    let (seconds, attoseconds) = duration.components
    return Double(seconds) * 1e6 + Double(attoseconds) / 1e12
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// A tight loop for profilers: `codec-loop-encode`, `codec-loop-decode` (binary codec,
/// authorization decision) or `codec-loop-catalog`.
func runCodecLoop(_ mode: String, iterations: Int) throws {
    let codec = L2BinaryCodec()
    let bytes = try codec.encode(AuthorizationDecision.sample)
    let catalog = try codec.encode(Catalog.sample)
    var sink = 0
    let start = threadCPUTime()
    for _ in 0..<iterations {
        switch mode {
        case "codec-loop-encode": sink &+= try codec.encode(AuthorizationDecision.sample).count
        case "codec-loop-decode": sink &+= try codec.decode(AuthorizationDecision.self, from: bytes).policyVersion
        default: sink &+= try codec.decode(Catalog.self, from: catalog).items.count
        }
    }
    print(String(format: "%@: %.3f µs CPU per call (sink %d)", mode, (threadCPUTime() - start) * 1e6 / Double(iterations), sink))
}
