import Metrics
import Synchronization

/// Atomic counters behind ``L2Statistics`` plus the `strata_l2_*` swift-metrics counters.
final class _Counters: Sendable {
    enum Event: Int, CaseIterable {
        case hit, miss, staleMiss, rejected, skippedCircuitOpen, redisFailure, write, writeRefused
        case leaseGranted, leaseContention, load, breakerOpening, poolTimeout

        var label: String {
            switch self {
            case .hit: "strata_l2_hits"
            case .miss: "strata_l2_misses"
            case .staleMiss: "strata_l2_stale_misses"
            case .rejected: "strata_l2_rejected"
            case .skippedCircuitOpen: "strata_l2_skipped"
            case .redisFailure: "strata_l2_redis_failures"
            case .write: "strata_l2_writes"
            case .writeRefused: "strata_l2_writes_refused"
            case .leaseGranted: "strata_l2_leases"
            case .leaseContention: "strata_l2_lease_contentions"
            case .load: "strata_l2_loads"
            case .breakerOpening: "strata_l2_breaker_openings"
            case .poolTimeout: "strata_l2_pool_timeouts"
            }
        }
    }

    private let values: Mutex<[Int]>
    private let metrics: [Counter]
    private let rejectedByReason: [String: Counter]

    init(name: String, factory: any MetricsFactory) {
        let cache = [("cache", name)]
        values = Mutex(Array(repeating: 0, count: Event.allCases.count))
        metrics = Event.allCases.map { Counter(label: $0.label, dimensions: cache, factory: factory) }
        var byReason: [String: Counter] = [:]
        for reason in [_Envelope.Rejection.truncated, .badMagic, .unknownVersion, .checksum, .forged, .unknownKey,
                       .protectionMismatch, .codecMismatch, .decompression, .undecodable, .wrongType] {
            byReason[reason.rawValue] = Counter(label: "strata_l2_rejected_by_reason", dimensions: cache + [("reason", reason.rawValue)], factory: factory)
        }
        rejectedByReason = byReason
    }

    func count(_ event: Event, _ amount: Int = 1) {
        values.withLock { $0[event.rawValue] += amount }
        metrics[event.rawValue].increment(by: Int64(amount))
    }

    func rejected(_ reason: _Envelope.Rejection) {
        count(.rejected)
        rejectedByReason[reason.rawValue]?.increment()
    }

    func snapshot() -> L2Statistics {
        let all = values.withLock { $0 }
        func get(_ event: Event) -> Int { all[event.rawValue] }
        var statistics = L2Statistics()
        statistics.hits = get(.hit)
        statistics.misses = get(.miss)
        statistics.staleMisses = get(.staleMiss)
        statistics.rejected = get(.rejected)
        statistics.skippedCircuitOpen = get(.skippedCircuitOpen)
        statistics.redisFailures = get(.redisFailure)
        statistics.writes = get(.write)
        statistics.writesRefused = get(.writeRefused)
        statistics.leasesGranted = get(.leaseGranted)
        statistics.leaseContentions = get(.leaseContention)
        statistics.loads = get(.load)
        statistics.breakerOpenings = get(.breakerOpening)
        statistics.poolTimeouts = get(.poolTimeout)
        return statistics
    }
}
