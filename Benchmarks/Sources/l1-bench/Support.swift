import Foundation

/// Where `traces/` and `reference.jsonl` live: `--bench-dir`, else `$STRATA_BENCH_DIR`,
/// else `../shared/bench` relative to the repository root (found from this file's path,
/// then from the working directory).
func benchDirectory(_ override: String?) -> String {
    if let override { return override }
    if let env = ProcessInfo.processInfo.environment["STRATA_BENCH_DIR"] { return env }
    let repoRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let candidates = [
        repoRoot.appendingPathComponent("../shared/bench").standardized.path,
        FileManager.default.currentDirectoryPath + "/../shared/bench",
        FileManager.default.currentDirectoryPath + "/../../shared/bench",
    ]
    for candidate in candidates where FileManager.default.fileExists(atPath: candidate + "/reference.jsonl") {
        return URL(fileURLWithPath: candidate).standardized.path
    }
    return candidates[0]
}

/// Decompresses a `.txt.gz` trace with `gzip -dc` and parses one integer per line.
func loadTrace(_ path: String) throws -> [Int] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["gzip", "-dc", path]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    precondition(process.terminationStatus == 0, "gzip -dc \(path) failed")
    var ids: [Int] = []
    ids.reserveCapacity(1_000_000)
    var current = 0
    var inNumber = false
    data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
        for byte in bytes {
            if byte >= 48 && byte <= 57 {
                current = current * 10 + Int(byte - 48)
                inNumber = true
            } else if inNumber {
                ids.append(current)
                current = 0
                inNumber = false
            }
        }
    }
    if inNumber { ids.append(current) }
    return ids
}

struct Reference {
    var trace: String
    var capacity: Int
    var values: [String: Double]
}

func loadReferences(_ path: String) throws -> [Reference] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    var result: [Reference] = []
    for line in text.split(separator: "\n") where !line.isEmpty {
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        var values: [String: Double] = [:]
        for (k, v) in object { if let d = v as? Double { values[k] = d } }
        result.append(Reference(trace: object["trace"] as! String, capacity: object["capacity"] as! Int, values: values))
    }
    return result
}

/// splitmix64: a small, fast, seedable generator for reproducible workloads.
struct SplitMix: RandomNumberGenerator {
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

/// Samples ranks 0..<n with probability ∝ 1/(rank+1)^s.
struct Zipf {
    let cdf: [Double]
    init(n: Int, s: Double) {
        var cdf = [Double](repeating: 0, count: n)
        var sum = 0.0
        for i in 0..<n {
            sum += 1 / pow(Double(i + 1), s)
            cdf[i] = sum
        }
        self.cdf = cdf.map { $0 / sum }
    }
    func sample(_ rng: inout SplitMix) -> Int {
        let u = Double(rng.next() >> 11) / Double(1 << 53)
        var lo = 0
        var hi = cdf.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cdf[mid] < u { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}

func nanotime() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
func f4(_ x: Double) -> String { String(format: "%.4f", x) }
func f2(_ x: Double) -> String { String(format: "%.2f", x) }
func f1(_ x: Double) -> String { String(format: "%.1f", x) }
