import Logging
import Metrics
import StrataMem
import Synchronization

/// The current health, readable without a lock (one atomic load per fail-closed hit).
final class _HealthCell: Sendable {
    /// `Int64.min` for healthy, otherwise the `since` instant's nanoseconds.
    private let bits: Atomic<Int64>

    init(_ health: InvalidationHealth) { bits = Atomic(Self.encode(health)) }

    var value: InvalidationHealth {
        let raw = bits.load(ordering: .acquiring)
        return raw == .min ? .healthy : .unhealthy(since: L1Instant(nanoseconds: raw))
    }

    func store(_ health: InvalidationHealth) { bits.store(Self.encode(health), ordering: .releasing) }

    private static func encode(_ health: InvalidationHealth) -> Int64 {
        switch health {
        case .healthy: return .min
        case .unhealthy(let since): return max(since.nanoseconds, Int64.min + 1)
        }
    }
}

/// What a subscriber does to its targets, as its state machine decides.
enum _TargetAction: Equatable, Sendable {
    /// Report unhealthy (if healthy now; an earlier `since` is kept).
    case markUnhealthy(since: L1Instant)
    /// `invalidateAll(writtenBefore:)` on every target.
    case dropAll(writtenBefore: L1Instant)
    /// Exact keys and prefixes to every target.
    case apply(keys: [String], prefixes: [String])
    /// Report healthy.
    case markHealthy
}

/// A subscriber's targets, health and counters, and its protocol state `Machine`, behind
/// one lock. Every call to a target happens under that lock, so targets see calls in
/// the order the subscriber decided them, even when a watchdog and the reading task act
/// at the same time. Targets must therefore not call back into the source (other than
/// reading ``InvalidationSource/health``, which takes no lock).
final class _Fanout<Machine: Sendable>: Sendable {
    struct State: Sendable {
        var machine: Machine
        var targets: [any L1InvalidationTarget] = []
        var statistics = InvalidationStatistics()
        /// True until `run()` first starts.
        var pristine = true
        let cell: _HealthCell
        let metrics: _InvalidationMetrics?

        /// The targets' clock: the first target's, or the system's monotonic clock (the
        /// default clock of every `L1Cache`) while there is none.
        func now() -> L1Instant { targets.first?.now() ?? L1SystemClock().now() }

        var health: InvalidationHealth { cell.value }

        mutating func perform(_ actions: [_TargetAction]) {
            for action in actions {
                switch action {
                case .markUnhealthy(let since):
                    guard case .healthy = cell.value else { continue }
                    setHealth(.unhealthy(since: since))
                case .dropAll(let instant):
                    for target in targets { target.invalidateAll(writtenBefore: instant) }
                    statistics.fullDrops += 1
                    metrics?.drops.increment()
                case .apply(let keys, let prefixes):
                    if !keys.isEmpty {
                        for target in targets { target.invalidate(keys: keys) }
                        statistics.keysApplied += keys.count
                        metrics?.keys.increment(by: Int64(keys.count))
                    }
                    if !prefixes.isEmpty {
                        for target in targets { target.invalidate(prefixes: prefixes) }
                        statistics.prefixesApplied += prefixes.count
                        metrics?.prefixes.increment(by: Int64(prefixes.count))
                    }
                case .markHealthy:
                    guard case .unhealthy = cell.value else { continue }
                    setHealth(.healthy)
                    statistics.recoveries += 1
                }
            }
        }

        private mutating func setHealth(_ health: InvalidationHealth) {
            cell.store(health)
            metrics?.healthy.record(health.isHealthy ? 1 : 0)
            for target in targets { target.invalidationHealthChanged(health) }
        }
    }

    let cell: _HealthCell
    private let state: Mutex<State>

    init(machine: Machine, metrics: _InvalidationMetrics?) {
        // Unhealthy from the start: nothing is proven before the subscriber runs.
        let cell = _HealthCell(.unhealthy(since: L1SystemClock().now()))
        self.cell = cell
        metrics?.healthy.record(0)
        state = Mutex(State(machine: machine, cell: cell, metrics: metrics))
    }

    var health: InvalidationHealth { cell.value }

    var statistics: InvalidationStatistics { state.withLock { $0.statistics } }

    func withLock<T>(_ body: (inout State) throws -> T) rethrows -> T {
        try state.withLock { try body(&$0) }
    }

    func addTarget(_ target: any L1InvalidationTarget) {
        state.withLock { state in
            state.targets.append(target)
            if state.pristine, state.targets.count == 1, case .unhealthy = state.cell.value {
                // The first target's clock becomes the source's clock: restate `since` on it.
                state.cell.store(.unhealthy(since: target.now()))
            }
            target.invalidationHealthChanged(state.cell.value)
        }
    }
}

/// The swift-metrics instruments of a subscriber (docs/invalidation.md).
final class _InvalidationMetrics: Sendable {
    let messages: Counter
    let heartbeats: Counter
    let keys: Counter
    let prefixes: Counter
    let gaps: Counter
    let epochChanges: Counter
    let decodeFailures: Counter
    let timeouts: Counter
    let connectionLosses: Counter
    let reconnects: Counter
    let drops: Counter
    let healthy: Gauge

    init(source: String, name: String, factory: any MetricsFactory) {
        let dims = [("source", source), ("name", name)]
        messages = Counter(label: "strata_invalidation_messages", dimensions: dims, factory: factory)
        heartbeats = Counter(label: "strata_invalidation_heartbeats", dimensions: dims, factory: factory)
        keys = Counter(label: "strata_invalidation_applied", dimensions: dims + [("kind", "key")], factory: factory)
        prefixes = Counter(label: "strata_invalidation_applied", dimensions: dims + [("kind", "prefix")], factory: factory)
        gaps = Counter(label: "strata_invalidation_interruptions", dimensions: dims + [("cause", "gap")], factory: factory)
        epochChanges = Counter(label: "strata_invalidation_interruptions", dimensions: dims + [("cause", "epoch")], factory: factory)
        decodeFailures = Counter(label: "strata_invalidation_interruptions", dimensions: dims + [("cause", "malformed")], factory: factory)
        timeouts = Counter(label: "strata_invalidation_interruptions", dimensions: dims + [("cause", "timeout")], factory: factory)
        connectionLosses = Counter(label: "strata_invalidation_interruptions", dimensions: dims + [("cause", "disconnect")], factory: factory)
        reconnects = Counter(label: "strata_invalidation_reconnects", dimensions: dims, factory: factory)
        drops = Counter(label: "strata_invalidation_full_drops", dimensions: dims, factory: factory)
        healthy = Gauge(label: "strata_invalidation_healthy", dimensions: dims, factory: factory)
    }
}
