import Foundation
import StrataL2
import StrataRedis

/// The L2 benchmark against one Redis: get and set of a ~100-byte payload (binary codec,
/// checksummed envelope) and batches of 16, on one connection, timed per mode.
struct RedisBench {
    var url = ProcessInfo.processInfo.environment["STRATA_REDIS_URL"] ?? "redis://127.0.0.1:56379"
    var requests = 100_000
    var keyCount = 1_000
    var batch = 16
    /// `struct`: BenchValue (6 fields, through Codable); `fast`: the same struct through the
    /// codec's fast path (FastBenchValue, same bytes); `bytes`: a `[UInt8]` blob (redis-benchmark's `-d`).
    var valueKind = "struct"
    let ttl = Duration.seconds(3_600)
    /// ``ttl`` as the `PX` argument the library sends (bench-l2.sh sends the same with redis-benchmark).
    var ttlMilliseconds: Int64 { ttl.components.seconds * 1_000 }

    /// The benchmark value, padded so that the binary codec's payload is `payloadSize` bytes.
    static func value(payloadSize: Int = 100) throws -> BenchValue {
        var value = BenchValue.sample
        value.note = ""
        let base = try L2BinaryCodec().encode(value).count
        value.note = String(repeating: "n", count: max(0, payloadSize - base))
        return value
    }

    func makeCache() throws -> L2Cache {
        var configuration = try L2Configuration(url: url)
        configuration.namespace = "l2bench:"
        configuration.maximumConnections = 1
        configuration.logger.logLevel = .error
        return try L2Cache(configuration: configuration)
    }

    var keys: [String] { (0..<keyCount).map { "bench:item:\($0)" } }

    /// Payload and stored (envelope) sizes of the benchmark value.
    func sizes() async throws -> (payload: Int, envelope: Int) {
        switch valueKind {
        case "bytes": return try await sizes(Self.blob())
        case "fast": return try await sizes(FastBenchValue(Self.value()))
        default: return try await sizes(Self.value())
        }
    }

    private func sizes<V: Codable & Sendable>(_ value: V) async throws -> (payload: Int, envelope: Int) {
        let cache = try makeCache()
        let connection = try await RedisConnection.connect(cache.configuration.redis)
        _ = try cache.setSync("bench:item:0", value: value, ttl: ttl, on: connection)
        let stored = try connection.sendSync(["GET", RedisArgument(cache.layout.valueKey("bench:item:0"))]).bytes ?? []
        await connection.close()
        await cache.close()
        return (try L2BinaryCodec().encode(value).count, stored.count)
    }

    /// A blob whose binary-codec payload is `payloadSize` bytes (tag, length, bytes).
    static func blob(payloadSize: Int = 100) -> [UInt8] {
        (0..<(payloadSize - 2)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
    }

    /// Runs `mode` and prints `RESULT mode ops/s cpu-µs/op`.
    func run(_ mode: String) async throws {
        switch valueKind {
        case "bytes": try await run(mode, value: Self.blob())
        case "struct": try await run(mode, value: try Self.value())
        case "fast": try await run(mode, value: FastBenchValue(try Self.value()))
        default: fatalError("unknown --value \(valueKind); use struct, fast or bytes")
        }
    }

    private func run<V: Codable & Sendable>(_ mode: String, value: V) async throws {
        let cache = try makeCache()
        let keys = self.keys
        var configuration = cache.configuration.redis
        configuration.commandTimeout = .seconds(5)
        let connection = try await RedisConnection.connect(configuration)
        // Every key present, with the generations this cache will see.
        for start in stride(from: 0, to: keys.count, by: 100) {
            let entries = keys[start..<min(keys.count, start + 100)].map { (key: $0, value: value) }
            let outcomes = try cache.setManySync(entries, ttl: ttl, on: connection)
            guard outcomes.allSatisfy({ $0 == .stored }) else { fatalError("could not store the benchmark keys: \(outcomes)") }
        }
        let rawKeys = keys.map { RedisArgument(cache.layout.valueKey($0)) }
        let generationMGET: [RedisArgument] = ["MGET"] + ["*", "bench:*", "bench:item:*"].map { RedisArgument(cache.layout.generationKey($0)) }

        var index = 0
        func nextKey() -> Int {
            index += 1
            if index == keys.count { index = 0 }
            return index
        }
        func batchKeys() -> [String] { (0..<batch).map { _ in keys[nextKey()] } }

        let operations: Int
        let body: () async throws -> Void
        switch mode {
        case "get-sync":
            operations = 1
            body = {
                guard case .hit = try cache.getSync(keys[nextKey()], as: V.self, on: connection) else { fatalError("not a hit") }
            }
        case "set-sync":
            operations = 1
            body = {
                guard try cache.setSync(keys[nextKey()], value: value, ttl: ttl, on: connection) == .stored else { fatalError("not stored") }
            }
        case "getmany-sync":
            operations = batch
            body = {
                let lookups = try cache.getManySync(batchKeys(), as: V.self, on: connection)
                guard lookups.allSatisfy({ $0.isHit }) else { fatalError("not all hits") }
            }
        case "setmany-sync":
            operations = batch
            body = {
                let outcomes = try cache.setManySync(batchKeys().map { (key: $0, value: value) }, ttl: ttl, on: connection)
                guard outcomes.allSatisfy({ $0.isStored }) else { fatalError("not all stored") }
            }
        case "get-async":
            operations = 1
            body = {
                guard case .hit = try await cache.get(keys[nextKey()], as: V.self) else { fatalError("not a hit") }
            }
        case "set-async":
            operations = 1
            body = {
                guard try await cache.set(keys[nextKey()], value: value, ttl: ttl) == .stored else { fatalError("not stored") }
            }
        case "getmany-async":
            operations = batch
            body = {
                let lookups = try await cache.getMany(batchKeys(), as: V.self)
                guard lookups.allSatisfy({ $0.isHit }) else { fatalError("not all hits") }
            }
        case "setmany-async":
            operations = batch
            body = {
                let outcomes = try await cache.setMany(batchKeys().map { (key: $0, value: value) }, ttl: ttl)
                guard outcomes.allSatisfy({ $0.isStored }) else { fatalError("not all stored") }
            }
        case "raw-get-sync":   // the client stack alone: GET of the stored envelope
            operations = 1
            body = { _ = try connection.sendSync(["GET", rawKeys[nextKey()]]) }
        case "raw-getmget-sync":   // L2's round trip without L2: GET + MGET of the generations, pipelined
            operations = 1
            body = { _ = try connection.pipelineSync([["GET", rawKeys[nextKey()]], generationMGET]) }
        default:
            fatalError("unknown mode \(mode)")
        }
        let calls = max(1, requests / operations)
        for _ in 0..<min(calls, 2_000) { try await body() }   // warm up
        let clock = ContinuousClock()
        let cpuStart = processCPUTime()
        let usageStart = processUsage()
        let start = clock.now
        for _ in 0..<calls { try await body() }
        let wall = microseconds(clock.now - start) / 1e6
        let cpu = processCPUTime() - cpuStart
        let usage = processUsage()
        let ops = Double(calls * operations)
        print(String(format: "RESULT %@-%@ %.0f %.2f", mode, valueKind, ops / wall, cpu * 1e6 / ops))
        // The same CPU time split into user and kernel time (getrusage: coarser, per tick).
        print(String(format: "CPU %@-%@ user %.3f system %.3f", mode, valueKind,
                     (usage.user - usageStart.user) * 1e6 / ops, (usage.system - usageStart.system) * 1e6 / ops))
        await connection.close()
        await cache.close()
    }
}

/// Seconds of user and kernel CPU time used by the whole process (`getrusage`).
func processUsage() -> (user: Double, system: Double) {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return (seconds(usage.ru_utime), seconds(usage.ru_stime))
}

/// Seconds of CPU time used by the whole process (all threads: the caller and, for the
/// async modes, the connection's I/O thread).
func processCPUTime() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}
