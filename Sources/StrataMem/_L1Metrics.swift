import Metrics
import Synchronization

/// Pushes the cache's statistics to swift-metrics as deltas of `strata_l1_*` counters and
/// current values of gauges, each with a `cache` dimension.
final class _L1Metrics: Sendable {
    let hits: Counter
    let misses: Counter
    let loads: Counter
    let loadFailures: Counter
    let loadsDiscarded: Counter
    let evictionsSize: Counter
    let evictionsExpiry: Counter
    let evictionsInvalidation: Counter
    let entries: Gauge
    let weight: Gauge
    let hitRatio: Gauge
    let last = Mutex<L1Statistics>(L1Statistics())

    init(name: String, factory: any MetricsFactory) {
        let cache = [("cache", name)]
        hits = Counter(label: "strata_l1_hits", dimensions: cache, factory: factory)
        misses = Counter(label: "strata_l1_misses", dimensions: cache, factory: factory)
        loads = Counter(label: "strata_l1_loads", dimensions: cache, factory: factory)
        loadFailures = Counter(label: "strata_l1_load_failures", dimensions: cache, factory: factory)
        loadsDiscarded = Counter(label: "strata_l1_loads_discarded", dimensions: cache, factory: factory)
        evictionsSize = Counter(label: "strata_l1_evictions", dimensions: cache + [("cause", "size")], factory: factory)
        evictionsExpiry = Counter(label: "strata_l1_evictions", dimensions: cache + [("cause", "expired")], factory: factory)
        evictionsInvalidation = Counter(label: "strata_l1_evictions", dimensions: cache + [("cause", "invalidated")], factory: factory)
        entries = Gauge(label: "strata_l1_entries", dimensions: cache, factory: factory)
        weight = Gauge(label: "strata_l1_weight", dimensions: cache, factory: factory)
        hitRatio = Gauge(label: "strata_l1_hit_ratio", dimensions: cache, factory: factory)
    }

    /// Takes a snapshot with `snapshot` and reports what changed since the previous one.
    func record(_ snapshot: () -> L1Statistics) {
        last.withLock { previous in
            let now = snapshot()
            func push(_ counter: Counter, _ delta: Int) { if delta > 0 { counter.increment(by: Int64(delta)) } }
            push(hits, now.hits - previous.hits)
            push(misses, now.misses - previous.misses)
            push(loads, now.loadSuccesses + now.loadFailures - previous.loadSuccesses - previous.loadFailures)
            push(loadFailures, now.loadFailures - previous.loadFailures)
            push(loadsDiscarded, now.loadsDiscarded - previous.loadsDiscarded)
            push(evictionsSize, now.evictionsBySize - previous.evictionsBySize)
            push(evictionsExpiry, now.evictionsByExpiry - previous.evictionsByExpiry)
            push(evictionsInvalidation, now.evictionsByInvalidation - previous.evictionsByInvalidation)
            entries.record(now.entries)
            weight.record(now.weight)
            hitRatio.record(now.hitRatio)
            previous = now
        }
    }
}
