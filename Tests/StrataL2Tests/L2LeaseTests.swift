import StrataCore
import StrataL2
import StrataRedis
import Synchronization
import Testing

@Suite("L2 leases: stale-set protection and stampede")
struct L2LeaseTests {
    /// lease → loader → (hook: the worker's exact invalidation) → write-back refused.
    @Test func staleSetRaceExactKey() async throws {
        let namespace = uniqueNamespace("race")
        let layout = L2KeyLayout(namespace: namespace)
        let worker = try await connectRedis()
        let hooks = L2Hooks(beforeWriteBack: { key in
            // Exactly what strata-worker does for an exact key.
            _ = try? await worker.pipeline([["UNLINK", RedisArgument(layout.valueKey(key)), RedisArgument(layout.leaseKey(key))]])
        })
        let cache = try makeCache("race", namespace: namespace, hooks: hooks)
        let loaded = try await cache.load("authz:user:42", as: Decision.self, ttl: .seconds(60)) { .allow }
        #expect(loaded.value == .allow)
        #expect(loaded.source == .loaded(write: .refusedLeaseLost))
        #expect(try await !worker.exists(layout.valueKey("authz:user:42")))
        #expect(try await !worker.exists(layout.leaseKey("authz:user:42")))
        #expect(cache.statistics.writesRefused == 1)
        await cache.close(); await worker.close()
    }

    /// lease → loader → (hook: the worker's prefix invalidation) → write-back refused.
    @Test func staleSetRacePrefix() async throws {
        let namespace = uniqueNamespace("racep")
        let layout = L2KeyLayout(namespace: namespace)
        let worker = try await connectRedis()
        let hooks = L2Hooks(beforeWriteBack: { _ in
            _ = try? await worker.send(["INCR", RedisArgument(layout.generationKey("authz:team:7:*"))])
        })
        let cache = try makeCache("racep", namespace: namespace, hooks: hooks)
        let loaded = try await cache.load("authz:team:7:project:1", as: Decision.self, ttl: .seconds(60)) { .allow }
        #expect(loaded.source == .loaded(write: .refusedGenerationChanged))
        #expect(try await !worker.exists(layout.valueKey("authz:team:7:project:1")))
        #expect(try await !worker.exists(layout.leaseKey("authz:team:7:project:1")))
        await cache.close(); await worker.close()
    }

    /// The same race through the split API (get with lease, then set after the miss).
    @Test func staleSetRaceSplitAPI() async throws {
        let cache = try makeCache("split")
        let worker = try await connectRedis()
        guard case .miss(let miss) = try await cache.get("authz:user:9", as: Decision.self, lease: true) else {
            Issue.record("expected a miss"); return
        }
        #expect(miss.lease != nil)
        _ = try await worker.pipeline([["UNLINK", RedisArgument(cache.layout.valueKey("authz:user:9")), RedisArgument(cache.layout.leaseKey("authz:user:9"))]])
        #expect(try await cache.set("authz:user:9", value: Decision.allow, ttl: .seconds(60), after: miss) == .refusedLeaseLost)
        #expect(try await cache.get("authz:user:9", as: Decision.self).isMiss)
        // Without interference the same sequence stores.
        guard case .miss(let second) = try await cache.get("authz:user:9", as: Decision.self, lease: true) else { return }
        #expect(try await cache.set("authz:user:9", value: Decision.allow, ttl: .seconds(60), after: second) == .stored)
        #expect(try await cache.get("authz:user:9", as: Decision.self).value == .allow)
        // A miss without lease is fenced by generations.
        guard case .miss(let plain) = try await cache.get("authz:user:10", as: Decision.self) else { return }
        try await cache.invalidate(prefix: "authz:*")
        #expect(try await cache.set("authz:user:10", value: Decision.allow, ttl: .seconds(60), after: plain) == .refusedGenerationChanged)
        await cache.close(); await worker.close()
    }

    /// A plain set during a load replaces the value the lease was taken over: the loader's
    /// older value does not overwrite it, and the loader gives its lease up.
    @Test func setDuringLoadWins() async throws {
        let namespace = uniqueNamespace("setwins")
        let writer = try makeCache("setwins", namespace: namespace)
        let hooks = L2Hooks(beforeWriteBack: { key in _ = try? await writer.set(key, value: Decision.deny, ttl: .seconds(60)) })
        let loader = try makeCache("setwins", namespace: namespace, hooks: hooks)
        let redis = try await connectRedis()
        let loaded = try await loader.load("authz:user:5", as: Decision.self, ttl: .seconds(60)) { .allow }
        #expect(loaded.source == .loaded(write: .refusedLeaseLost))
        #expect(try await writer.get("authz:user:5", as: Decision.self).value == .deny)
        #expect(try await !redis.exists(loader.layout.leaseKey("authz:user:5")))
        await writer.close(); await loader.close(); await redis.close()
    }

    /// The same through a batch: every key a `setMany` (async or blocking) writes during
    /// loads of those keys keeps the batch's value.
    @Test(arguments: [false, true])
    func setManyDuringLoadWins(blocking: Bool) async throws {
        let namespace = uniqueNamespace("setmanywins")
        let writer = try makeCache("setmanywins", namespace: namespace)
        let keys = (0..<4).map { "authz:user:\($0 + 60)" }
        let connection = try await connectRedis()
        let hooks = L2Hooks(beforeWriteBack: { key in
            guard key == keys[0] else { return }
            let entries = keys.map { (key: $0, value: Decision.deny) }
            if blocking {
                _ = try? writer.setManySync(entries, ttl: .seconds(60), on: connection)
            } else {
                _ = try? await writer.setMany(entries, ttl: .seconds(60))
            }
        })
        let loader = try makeCache("setmanywins", namespace: namespace, hooks: hooks)
        let loaded = try await loader.load(keys[0], as: Decision.self, ttl: .seconds(60)) { .allow }
        #expect(loaded.source == .loaded(write: .refusedLeaseLost))
        #expect(try await writer.getMany(keys, as: Decision.self).map(\.value) == keys.map { _ in Decision.deny })
        #expect(try await !connection.exists(loader.layout.leaseKey(keys[0])))
        await writer.close(); await loader.close(); await connection.close()
    }

    /// A value whose generations went stale is loaded again under a lease taken over it: with
    /// nothing in between the loaded value replaces it; a set in between wins.
    @Test func loadOverAStaleValue() async throws {
        let namespace = uniqueNamespace("overstale")
        let writer = try makeCache("overstale", namespace: namespace)
        let interfere = Mutex(false)
        let hooks = L2Hooks(beforeWriteBack: { key in
            if interfere.withLock({ $0 }) { _ = try? await writer.set(key, value: Decision.deny, ttl: .seconds(60)) }
        })
        let loader = try makeCache("overstale", namespace: namespace, hooks: hooks)
        for (key, expected) in [("authz:team:3:user:1", Decision.allow), ("authz:team:3:user:2", Decision.deny)] {
            interfere.withLock { $0 = expected == .deny }
            #expect(try await writer.set(key, value: Decision.deny, ttl: .seconds(60)) == .stored)
            try await writer.invalidate(prefix: "authz:team:3:*")   // the stored value is stale now, still in Redis
            #expect(try await loader.get(key, as: Decision.self).isMiss)
            let loaded = try await loader.load(key, as: Decision.self, ttl: .seconds(60)) { .allow }
            #expect(loaded.source == .loaded(write: expected == .allow ? .stored : .refusedLeaseLost), "\(key)")
            #expect(try await writer.get(key, as: Decision.self).value == expected, "\(key)")
        }
        await writer.close(); await loader.close()
    }

    /// Two instances load the same key at once: the loader runs once, the other waits for its value.
    @Test func stampedeAcrossInstances() async throws {
        let namespace = uniqueNamespace("stampede")
        let first = try makeCache("stampede", namespace: namespace)
        let second = try makeCache("stampede", namespace: namespace) { $0.leaseWaitBudget = .seconds(5) }
        let redis = try await connectRedis()
        let calls = CallCounter()
        let key = "authz:user:77"
        async let a = first.load(key, as: Int.self, ttl: .seconds(60)) {
            calls.increment()
            // Load until the second instance has found the lease held (a fixed delay can run
            // out before it gets there when other tests keep the machine busy).
            let until = ContinuousClock.now + .seconds(5)
            while second.statistics.leaseContentions == 0, ContinuousClock.now < until { try await Task.sleep(for: .milliseconds(5)) }
            return 1
        }
        // Start the second loader once the first holds the lease.
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(5)
        while try await !redis.exists(first.layout.leaseKey(key)), clock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        let b = try await second.load(key, as: Int.self, ttl: .seconds(60)) {
            calls.increment()
            return 2
        }
        let resultA = try await a
        #expect(calls.count == 1)
        #expect(resultA.value == 1 && resultA.source == .loaded(write: .stored))
        #expect(b.value == 1 && b.source == .filledByOtherLoader)
        #expect(second.statistics.leaseContentions == 1)
        await first.close(); await second.close(); await redis.close()
    }

    /// While another instance holds the lease and the wait budget runs out, `contended` may serve a value.
    @Test func contendedFallback() async throws {
        let namespace = uniqueNamespace("contended")
        let holder = try makeCache("contended", namespace: namespace)
        let waiter = try makeCache("contended", namespace: namespace) { $0.leaseWaitBudget = .milliseconds(30) }
        guard case .miss(let miss) = try await holder.get("authz:user:3", as: Int.self, lease: true) else { return }
        #expect(miss.lease != nil)
        let served = try await waiter.load("authz:user:3", as: Int.self, ttl: .seconds(60), contended: { 99 }) { 1 }
        #expect(served.value == 99 && served.source == .servedWhileContended)
        let loaded = try await waiter.load("authz:user:3", as: Int.self, ttl: .seconds(60)) { 7 }
        #expect(loaded.value == 7 && loaded.source == .loaded(write: .skipped(.leaseHeldElsewhere)))
        // A failing loader releases its lease.
        await #expect(throws: TestFailure.self) {
            try await holder.load("authz:user:4", as: Int.self, ttl: .seconds(60)) { throw TestFailure("boom") }
        }
        let redis = try await connectRedis()
        #expect(try await !redis.exists(holder.layout.leaseKey("authz:user:4")))
        await holder.close(); await waiter.close(); await redis.close()
    }
}
