import Logging
import ServiceLifecycle
import StrataPostgres

/// Writes the caches' figures to `strata.record_performance(...)` every `interval`, one
/// row per layer (`l1`, `l2`, `l3`): requests, hits, misses, latency p50/p95/p99 (µs),
/// evictions, L1 memory, errors. Also pushes each cache's swift-metrics.
///
/// ```swift
/// let reporter = PerformanceReporter(instance: "api-1", pool: l3Pool, caches: [authorization, profiles])
/// let group = ServiceGroup(services: [subscriber, reporter], logger: logger)
/// try await group.run()
/// ```
///
/// A sample that cannot be written is kept and merged into the next one (counts add up,
/// histograms merge), so an outage of PostgreSQL loses no counts.
public struct PerformanceReporter: Service {
    public let instance: String
    public let interval: Duration
    let pool: L3ConnectionPool
    let caches: [any PerformanceSampling]
    let logger: Logger

    public init(instance: String, interval: Duration = .seconds(10), pool: L3ConnectionPool,
                caches: [any PerformanceSampling], logger: Logger = Logger(label: "strata.performance")) {
        self.instance = instance
        self.interval = interval
        self.pool = pool
        self.caches = caches
        self.logger = logger
    }

    public func run() async throws {
        var pending: [String: LayerPerformance] = [:]
        let interval = self.interval
        while !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                break
            }
            pending = await report(merging: pending)
        }
        // One last sample on a graceful shutdown (a cancelled task could not write it).
        if !Task.isCancelled { _ = await report(merging: pending) }
    }

    /// Takes a sample of every cache, merges it into `pending` and writes it; returns what
    /// could not be written.
    public func report(merging pending: [String: LayerPerformance] = [:]) async -> [String: LayerPerformance] {
        var sample = pending
        for cache in caches {
            if let tiered = cache as? any _MetricsRecording { tiered.recordMetrics() }
            for (layer, figures) in cache.takePerformanceSample() { sample[layer, default: LayerPerformance()].merge(figures) }
        }
        var unwritten: [String: LayerPerformance] = [:]
        for layer in ["l1", "l2", "l3"] {
            guard let figures = sample[layer], figures.requests > 0 || figures.errors > 0 else { continue }
            do {
                try await write(layer, figures)
            } catch {
                logger.warning("could not write a performance sample; it will be merged into the next one",
                               metadata: ["layer": "\(layer)", "error": "\(error)"])
                unwritten[layer] = figures
            }
        }
        return unwritten
    }

    func write(_ layer: String, _ figures: LayerPerformance) async throws {
        func microseconds(_ q: Double) -> Double? { figures.latency.percentile(q).map { Double($0) / 1000 } }
        try await pool.query(
            "select strata.record_performance($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            instance, layer, Int64(figures.requests), Int64(figures.hits), Int64(figures.misses),
            microseconds(0.50), microseconds(0.95), microseconds(0.99),
            Int64(figures.evictions), figures.memoryBytes.map { Int64($0) }, Int64(figures.errors))
    }
}

/// Caches whose swift-metrics the reporter pushes on each sample.
protocol _MetricsRecording: Sendable {
    func recordMetrics()
}

extension TieredCache: _MetricsRecording {}
extension AuthorizationCache: _MetricsRecording {}
