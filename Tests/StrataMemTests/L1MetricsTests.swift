import StrataMem
import Testing

@Suite("L1 metrics")
struct L1MetricsTests {
    @Test func exportsStatisticsThroughSwiftMetrics() async throws {
        let metrics = RecordingMetrics()
        var config = L1Configuration<String, Int>(maximumCount: 2, policy: .lru)
        config.name = "authz"
        config.metricsFactory = metrics
        let cache = L1Cache(config)
        _ = cache.get("a")
        cache.set("a", 1)
        _ = cache.get("a")
        cache.set("b", 2)
        cache.set("c", 3)
        cache.invalidate(key: "c")
        _ = try await cache.get("d") { _ in 4 }
        await #expect(throws: TestError.self) { try await cache.get("e") { _ in throw TestError(code: 0) } }
        cache.recordMetrics()
        #expect(metrics.counter("strata_l1_hits") == 1)
        #expect(metrics.counter("strata_l1_misses") == 3)
        #expect(metrics.counter("strata_l1_loads") == 2)
        #expect(metrics.counter("strata_l1_load_failures") == 1)
        #expect(metrics.counter("strata_l1_evictions", ("cause", "size")) == 1)
        #expect(metrics.counter("strata_l1_evictions", ("cause", "invalidated")) == 1)
        #expect(metrics.gauge("strata_l1_entries") == 2)
        #expect(metrics.gauge("strata_l1_weight") == 2)
        #expect(metrics.gauge("strata_l1_hit_ratio") == 0.25)
        #expect(metrics.dimensions("strata_l1_hits").contains { $0 == ("cache", "authz") })
        // Deltas, not totals: recording again adds nothing.
        cache.recordMetrics()
        #expect(metrics.counter("strata_l1_hits") == 1)
        _ = cache.get("d")
        cache.recordMetrics()
        #expect(metrics.counter("strata_l1_hits") == 2)
    }
}
