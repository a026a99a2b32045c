import Metrics
import StrataMem
import Synchronization

/// A count-bounded cache with a manual clock and no metrics.
func makeCache<K: Hashable & Sendable, V: Sendable>(
    _ key: K.Type = K.self, _ value: V.Type = V.self,
    count: Int? = 100, weight: Int? = nil, ttl: Duration? = nil, policy: L1Policy = .adaptiveTinyLFU,
    clock: L1ManualClock = L1ManualClock(), shards: Int? = nil,
    configure: (inout L1Configuration<K, V>) -> Void = { _ in }
) -> L1Cache<K, V> {
    var config = L1Configuration<K, V>(maximumCount: count, maximumWeight: weight, defaultTTL: ttl, policy: policy, clock: clock)
    config.metricsEnabled = false
    config.shardCount = shards
    configure(&config)
    return L1Cache(config)
}

/// A deterministic generator for workloads.
struct TestRNG: RandomNumberGenerator {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

final class CallCounter: Sendable {
    private let value = Mutex(0)
    func increment() { value.withLock { $0 += 1 } }
    var count: Int { value.withLock { $0 } }
}

/// Spins (yielding) until `condition` holds; fails after many rounds instead of hanging.
func eventually(_ rounds: Int = 100_000, _ condition: () -> Bool) async -> Bool {
    for _ in 0..<rounds {
        if condition() { return true }
        await Task.yield()
    }
    return condition()
}

struct TestError: Error, Equatable {
    var code: Int
}

/// Records what the cache reports through swift-metrics.
final class RecordingMetrics: MetricsFactory {
    final class Handler: CounterHandler, RecorderHandler, TimerHandler, FloatingPointCounterHandler, MeterHandler, Sendable {
        let label: String
        let dimensions: [(String, String)]
        let total = Mutex<Double>(0)
        let last = Mutex<Double>(0)
        init(label: String, dimensions: [(String, String)]) {
            self.label = label
            self.dimensions = dimensions
        }
        func increment(by amount: Int64) { total.withLock { $0 += Double(amount) } }
        func increment(by amount: Double) { total.withLock { $0 += amount } }
        func reset() { total.withLock { $0 = 0 } }
        func record(_ value: Int64) { last.withLock { $0 = Double(value) } }
        func record(_ value: Double) { last.withLock { $0 = value } }
        func recordNanoseconds(_ duration: Int64) {}
        func set(_ value: Int64) { last.withLock { $0 = Double(value) } }
        func set(_ value: Double) { last.withLock { $0 = value } }
        func decrement(by: Double) {}
    }

    let handlers = Mutex<[Handler]>([])

    private func make(_ label: String, _ dimensions: [(String, String)]) -> Handler {
        let h = Handler(label: label, dimensions: dimensions)
        handlers.withLock { $0.append(h) }
        return h
    }
    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { make(label, dimensions) }
    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler { make(label, dimensions) }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler { make(label, dimensions) }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { make(label, dimensions) }
    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler { make(label, dimensions) }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
    func destroyMeter(_ handler: any MeterHandler) {}

    func counter(_ label: String, _ extra: (String, String)? = nil) -> Double {
        handlers.withLock { hs in
            hs.filter { h in h.label == label && (extra == nil || h.dimensions.contains { $0 == extra! }) }
                .reduce(0) { $0 + $1.total.withLock { $0 } }
        }
    }
    func gauge(_ label: String) -> Double {
        handlers.withLock { hs in hs.last { $0.label == label }?.last.withLock { $0 } ?? -1 }
    }
    func dimensions(_ label: String) -> [(String, String)] {
        handlers.withLock { hs in hs.first { $0.label == label }?.dimensions ?? [] }
    }
}
