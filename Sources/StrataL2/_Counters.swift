import Metrics
import Synchronization

/// Atomic counters behind ``L2Statistics`` plus the `strata_l2_*` swift-metrics counters.
final class _Counters: @unchecked Sendable {   // `values` points to atomics only, never reassigned
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

    /// One atomic per event (counting costs no lock on the lookup path).
    private let values: UnsafeMutablePointer<Atomic<Int>>
    private let metrics: [Counter]
    private let rejectedByReason: [String: Counter]

    init(name: String, factory: any MetricsFactory) {
        let cache = [("cache", name)]
        values = .allocate(capacity: Event.allCases.count)
        for index in 0..<Event.allCases.count { (values + index).initialize(to: Atomic(0)) }
        metrics = Event.allCases.map { Counter(label: $0.label, dimensions: cache, factory: factory) }
        var byReason: [String: Counter] = [:]
        for reason in [_Envelope.Rejection.truncated, .badMagic, .unknownVersion, .checksum, .forged, .unknownKey,
                       .protectionMismatch, .codecMismatch, .decompression, .undecodable, .wrongType] {
            byReason[reason.rawValue] = Counter(label: "strata_l2_rejected_by_reason", dimensions: cache + [("reason", reason.rawValue)], factory: factory)
        }
        rejectedByReason = byReason
    }

    deinit {
        values.deinitialize(count: Event.allCases.count)
        values.deallocate()
    }

    func count(_ event: Event, _ amount: Int = 1) {
        values[event.rawValue].wrappingAdd(amount, ordering: .relaxed)
        metrics[event.rawValue].increment(by: Int64(amount))
    }

    /// Adds the hits and misses of one lookup or batch.
    func count(_ tally: _LookupTally) {
        if tally.hits > 0 { count(.hit, tally.hits) }
        if tally.misses > 0 { count(.miss, tally.misses) }
        if tally.staleMisses > 0 { count(.staleMiss, tally.staleMisses) }
    }

    func rejected(_ reason: _Envelope.Rejection) {
        count(.rejected)
        rejectedByReason[reason.rawValue]?.increment()
    }

    func snapshot() -> L2Statistics {
        func get(_ event: Event) -> Int { values[event.rawValue].load(ordering: .relaxed) }
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

/// Hits and misses counted while a lookup or a batch is interpreted, added to the counters
/// once at its end (a batch of 16 costs three counter updates, not 16). Stale misses are
/// misses too.
struct _LookupTally {
    var hits = 0
    var misses = 0
    var staleMisses = 0
}
