import Metrics
import StrataL2
import StrataMem
import Synchronization

/// Counters of a ``TieredCache``, per layer.
public struct TieredCacheStatistics: Sendable, Hashable, CustomStringConvertible {
    /// L1 hits and misses (the L1 cache's own counters).
    public var l1Hits = 0
    public var l1Misses = 0
    /// L2 lookups that found a valid value.
    public var l2Hits = 0
    /// L2 lookups that found none (absent, invalidated, corrupt or forged).
    public var l2Misses = 0
    /// L2 lookups skipped: Redis failing or the breaker open.
    public var l2Skipped = 0
    /// Write-backs L2 refused because the key was invalidated after the miss (stale-set
    /// protection); the value went to the caller but into no layer.
    public var l2WritesRefused = 0
    /// Loader calls (L3: an SQL function or the application's own query).
    public var loads = 0
    /// Loader calls that threw.
    public var loadFailures = 0
    /// Loader calls abandoned after the policy's `loadTimeout`.
    public var loadTimeouts = 0
    /// Stale values served by fail-safe policies.
    public var staleServed = 0
    /// Requests of fail-closed kinds sent straight to the loader because the invalidation
    /// source was unhealthy.
    public var failClosedBypasses = 0
    /// Loaded values not stored in L1 because an invalidation touched the key during the load.
    public var discardedByInvalidation = 0
    /// Requests that waited for another caller's load of the same key (single flight).
    public var joinedFlights = 0

    public init() {}

    public var description: String {
        "L1 \(l1Hits) hits / \(l1Misses) misses; L2 \(l2Hits) hits / \(l2Misses) misses / \(l2Skipped) skipped, \(l2WritesRefused) writes refused; "
            + "loads \(loads) (\(loadFailures) failed, \(loadTimeouts) timed out); stale served \(staleServed); "
            + "fail-closed bypasses \(failClosedBypasses); discarded by invalidation \(discardedByInvalidation); joined flights \(joinedFlights)"
    }
}

/// One layer's figures since the previous sample, as `strata.record_performance` takes them.
public struct LayerPerformance: Sendable, Hashable {
    public var requests = 0
    public var hits = 0
    public var misses = 0
    public var errors = 0
    public var evictions = 0
    /// Current memory (L1 only; bytes as the L1 weigher estimates them).
    public var memoryBytes: Int?
    /// Latencies of this layer's operations (L1: a sample of hits).
    public var latency = LatencyHistogram()

    public init() {}

    public mutating func merge(_ other: LayerPerformance) {
        requests += other.requests
        hits += other.hits
        misses += other.misses
        errors += other.errors
        evictions += other.evictions
        if let bytes = other.memoryBytes { memoryBytes = (memoryBytes ?? 0) + bytes }
        latency.merge(other.latency)
    }
}

/// What a cache reports to ``PerformanceReporter``.
public protocol PerformanceSampling: AnyObject, Sendable {
    /// The figures per layer (`l1`, `l2`, `l3`) since the previous call.
    func takePerformanceSample() -> [String: LayerPerformance]
}

/// Atomic counters, latency histograms and swift-metrics of one tiered cache.
final class _TieredCounters: Sendable {
    enum Event: Int, CaseIterable {
        case l2Hit, l2Miss, l2Skipped, l2WriteRefused, load, loadFailure, loadTimeout, staleServed
        case failClosedBypass, discarded, joined

        var metric: (label: String, layer: String?) {
            switch self {
            case .l2Hit: ("strata_tiered_hits", "l2")
            case .l2Miss: ("strata_tiered_misses", "l2")
            case .l2Skipped: ("strata_tiered_errors", "l2")
            case .l2WriteRefused: ("strata_tiered_writes_refused", "l2")
            case .load: ("strata_tiered_loads", "l3")
            case .loadFailure: ("strata_tiered_errors", "l3")
            case .loadTimeout: ("strata_tiered_timeouts", "l3")
            case .staleServed: ("strata_tiered_stale_served", nil)
            case .failClosedBypass: ("strata_tiered_fail_closed_bypasses", nil)
            case .discarded: ("strata_tiered_discarded_by_invalidation", nil)
            case .joined: ("strata_tiered_joined_flights", nil)
            }
        }
    }

    struct _State {
        var values = [Int](repeating: 0, count: Event.allCases.count)
        var l1Latency = LatencyHistogram()
        var l2Latency = LatencyHistogram()
        var l3Latency = LatencyHistogram()
        // What the previous performance sample saw.
        var reportedValues = [Int](repeating: 0, count: Event.allCases.count)
        var reportedL1 = L1Statistics()
    }

    private let state = Mutex(_State())
    private let counters: [Counter]
    private let l1Hits: Counter
    private let l1Misses: Counter
    private let l2Timer: Metrics.Timer
    private let l3Timer: Metrics.Timer
    private let l1Timer: Metrics.Timer
    private let breakerGauge: Gauge
    private let lastL1 = Mutex(L1Statistics())

    init(name: String, factory: any MetricsFactory) {
        let cache = ("cache", name)
        counters = Event.allCases.map { event in
            let (label, layer) = event.metric
            return Counter(label: label, dimensions: [cache] + (layer.map { [("layer", $0)] } ?? []), factory: factory)
        }
        l1Hits = Counter(label: "strata_tiered_hits", dimensions: [cache, ("layer", "l1")], factory: factory)
        l1Misses = Counter(label: "strata_tiered_misses", dimensions: [cache, ("layer", "l1")], factory: factory)
        l1Timer = Metrics.Timer(label: "strata_tiered_latency", dimensions: [cache, ("layer", "l1")], factory: factory)
        l2Timer = Metrics.Timer(label: "strata_tiered_latency", dimensions: [cache, ("layer", "l2")], factory: factory)
        l3Timer = Metrics.Timer(label: "strata_tiered_latency", dimensions: [cache, ("layer", "l3")], factory: factory)
        breakerGauge = Gauge(label: "strata_tiered_l2_breaker_state", dimensions: [cache], factory: factory)
    }

    func count(_ event: Event, _ amount: Int = 1) {
        state.withLock { $0.values[event.rawValue] += amount }
        counters[event.rawValue].increment(by: Int64(amount))
    }

    func recordL1(nanoseconds: Int64) {
        state.withLock { $0.l1Latency.record(nanoseconds: nanoseconds) }
        l1Timer.recordNanoseconds(nanoseconds)
    }

    func recordL2(nanoseconds: Int64) {
        state.withLock { $0.l2Latency.record(nanoseconds: nanoseconds) }
        l2Timer.recordNanoseconds(nanoseconds)
    }

    func recordL3(nanoseconds: Int64) {
        state.withLock { $0.l3Latency.record(nanoseconds: nanoseconds) }
        l3Timer.recordNanoseconds(nanoseconds)
    }

    func statistics(l1: L1Statistics) -> TieredCacheStatistics {
        let values = state.withLock { $0.values }
        func get(_ event: Event) -> Int { values[event.rawValue] }
        var statistics = TieredCacheStatistics()
        statistics.l1Hits = l1.hits
        statistics.l1Misses = l1.misses
        statistics.l2Hits = get(.l2Hit)
        statistics.l2Misses = get(.l2Miss)
        statistics.l2Skipped = get(.l2Skipped)
        statistics.l2WritesRefused = get(.l2WriteRefused)
        statistics.loads = get(.load)
        statistics.loadFailures = get(.loadFailure)
        statistics.loadTimeouts = get(.loadTimeout)
        statistics.staleServed = get(.staleServed)
        statistics.failClosedBypasses = get(.failClosedBypass)
        statistics.discardedByInvalidation = get(.discarded)
        statistics.joinedFlights = get(.joined)
        return statistics
    }

    /// Pushes the L1 hit/miss deltas and the breaker state to swift-metrics.
    func recordMetrics(l1: L1Statistics, breaker: CircuitBreaker.State?) {
        let (hits, misses) = lastL1.withLock { last -> (Int, Int) in
            defer { last = l1 }
            return (l1.hits - last.hits, l1.misses - last.misses)
        }
        if hits > 0 { l1Hits.increment(by: Int64(hits)) }
        if misses > 0 { l1Misses.increment(by: Int64(misses)) }
        if let breaker {
            switch breaker {
            case .closed: breakerGauge.record(0)
            case .halfOpen: breakerGauge.record(1)
            case .open: breakerGauge.record(2)
            }
        }
    }

    /// Figures per layer since the previous call.
    func takeSample(l1: L1Statistics) -> [String: LayerPerformance] {
        state.withLock { state in
            func delta(_ event: Event) -> Int { state.values[event.rawValue] - state.reportedValues[event.rawValue] }
            var l1Layer = LayerPerformance()
            l1Layer.hits = max(0, l1.hits - state.reportedL1.hits)
            l1Layer.misses = max(0, l1.misses - state.reportedL1.misses)
            l1Layer.requests = l1Layer.hits + l1Layer.misses
            l1Layer.evictions = max(0, l1.evictions - state.reportedL1.evictions)
            l1Layer.memoryBytes = l1.weight
            l1Layer.latency = state.l1Latency
            var l2Layer = LayerPerformance()
            l2Layer.hits = delta(.l2Hit)
            l2Layer.misses = delta(.l2Miss)
            l2Layer.errors = delta(.l2Skipped)
            l2Layer.requests = l2Layer.hits + l2Layer.misses + l2Layer.errors
            l2Layer.latency = state.l2Latency
            var l3Layer = LayerPerformance()
            l3Layer.requests = delta(.load)
            l3Layer.errors = delta(.loadFailure) + delta(.loadTimeout)
            l3Layer.latency = state.l3Latency
            state.reportedValues = state.values
            state.reportedL1 = l1
            state.l1Latency = LatencyHistogram()
            state.l2Latency = LatencyHistogram()
            state.l3Latency = LatencyHistogram()
            return ["l1": l1Layer, "l2": l2Layer, "l3": l3Layer]
        }
    }
}
