import Synchronization

/// Counters the worker's services update and the refresh scheduler drains into
/// `strata.record_performance(instance, 'worker', ...)` every sample interval.
///
/// ```swift
/// let statistics = WorkerStatistics()
/// statistics.recordBatch(rows: 120, keys: 300, applyLatency: .microseconds(850))
/// let sample = statistics.drain()        // counts since the previous drain
/// ```
public final class WorkerStatistics: Sendable {
    /// What happened since the previous `drain()`.
    public struct Sample: Sendable, Equatable {
        /// Outbox rows applied (the worker's "requests").
        public var rows: Int64 = 0
        /// Keys and prefixes invalidated in Redis.
        public var keys: Int64 = 0
        public var batches: Int64 = 0
        /// Failed invalidation sessions and failed refreshes.
        public var errors: Int64 = 0
        public var refreshes: Int64 = 0
        /// Time Redis took to apply each batch, in microseconds (at most
        /// `WorkerStatistics.maximumLatencySamples`, evenly thinned beyond that).
        public var applyLatenciesUs: [Double] = []

        public init() {}

        public var isEmpty: Bool { self == Sample() }

        /// The p-th percentile (0...1) of the apply latencies, nearest rank; nil without samples.
        public func latencyPercentile(_ p: Double) -> Double? {
            guard !applyLatenciesUs.isEmpty else { return nil }
            let sorted = applyLatenciesUs.sorted()
            let rank = Int((p * Double(sorted.count)).rounded(.up)) - 1
            return sorted[min(max(rank, 0), sorted.count - 1)]
        }

        /// Adds `other`'s counts and latencies (a sample that could not be written).
        public mutating func merge(_ other: Sample) {
            rows += other.rows
            keys += other.keys
            batches += other.batches
            errors += other.errors
            refreshes += other.refreshes
            for latency in other.applyLatenciesUs { Self.add(latency, to: &applyLatenciesUs) }
        }

        static func add(_ latency: Double, to samples: inout [Double]) {
            if samples.count >= WorkerStatistics.maximumLatencySamples {
                // Keep every other sample: a bounded, still representative reservoir.
                samples = samples.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
            }
            samples.append(latency)
        }
    }

    /// Latency samples kept between two drains.
    public static let maximumLatencySamples = 4096

    private let state = Mutex(Sample())

    public init() {}

    /// One batch applied to Redis: its outbox rows, keys + prefixes, and how long Redis took.
    public func recordBatch(rows: Int, keys: Int, applyLatency: Duration) {
        let us = Double(applyLatency.components.seconds) * 1e6 + Double(applyLatency.components.attoseconds) / 1e12
        state.withLock { sample in
            sample.rows += Int64(rows)
            sample.keys += Int64(keys)
            sample.batches += 1
            Sample.add(us, to: &sample.applyLatenciesUs)
        }
    }

    /// An invalidation session or a refresh failed.
    public func recordFailure() {
        state.withLock { $0.errors += 1 }
    }

    /// A refresh ended (any outcome but `skipped`).
    public func recordRefresh() {
        state.withLock { $0.refreshes += 1 }
    }

    /// Returns the counts since the previous drain and starts over.
    public func drain() -> Sample {
        state.withLock { sample in
            let current = sample
            sample = Sample()
            return current
        }
    }

    /// The counts since the previous drain, without resetting them.
    public var current: Sample { state.withLock { $0 } }
}
