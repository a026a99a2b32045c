import Strata
import StrataCore
import StrataL2
import StrataMem
import StrataRedis
import StrataTestSupport
import Testing

/// The stale-set race, forced deterministically with the hook between load and write: an
/// invalidation that happens after the loader read the truth keeps the loaded value out
/// of every layer.
@Suite struct StaleSetTests {
    static let policy = CachePolicy(kind: "profile", l1TTL: .seconds(60), l2TTL: .seconds(300))

    /// Builds a cache whose hook runs `invalidate` once, after the first load.
    func makeCache(_ name: String, namespace: String, source: ScriptedInvalidationSource?,
               invalidate: @escaping @Sendable (String) async throws -> Void) throws -> TieredCache<String> {
        let once = LockedBox(false)
        let hooks = TieredCacheHooks(afterLoad: { key in
            guard !once.value else { return }
            once.set(true)
            try? await invalidate(key)
        })
        return try TieredCache<String>(configuration: quietConfiguration(name), l2: try makeL2(namespace: namespace),
                                       invalidationSource: source, hooks: hooks)
    }

    @Test func exactInvalidationAsTheWorkerDoesIt() async throws {
        let namespace = uniqueNamespace("staleexact")
        let redis = try await connectRedis()
        let source = ScriptedInvalidationSource()
        let truth = CountingLoader("old")
        // The worker's order: UNLINK in Redis, then the message to every L1.
        let cache = try makeCache("exact", namespace: namespace, source: source) { key in
            truth.set("new")
            try await redis.send(["UNLINK", RedisArgument(namespace + "v:" + key), RedisArgument(namespace + "l:" + key)])
            source.publish(keys: [key])
        }
        let key = CacheKey("profile", 7)
        #expect(try await cache.get(key, policy: Self.policy) { truth.load() } == "old", "the caller gets what it loaded")
        #expect(!cache.l1Contains(key), "the stale value never lands in L1")
        #expect(try await !redis.exists(namespace + "v:" + key.text), "nor in L2")
        #expect(cache.statistics.l2WritesRefused == 1)
        #expect(try await cache.get(key, policy: Self.policy) { truth.load() } == "new")
        #expect(truth.calls == 2)
        #expect(cache.l1Contains(key))
    }

    @Test func prefixInvalidationAsTheWorkerDoesIt() async throws {
        let namespace = uniqueNamespace("staleprefix")
        let redis = try await connectRedis()
        let source = ScriptedInvalidationSource()
        let truth = CountingLoader("old")
        let cache = try makeCache("prefix", namespace: namespace, source: source) { _ in
            truth.set("new")
            try await redis.send(["INCR", RedisArgument(namespace + "g:team:7:*")])
            source.publish(prefixes: ["team:7:*"])
        }
        let key = CacheKey("team", 7, "members")
        #expect(try await cache.get(key, policy: Self.policy) { truth.load() } == "old")
        #expect(!cache.l1Contains(key))
        #expect(cache.statistics.l2WritesRefused == 1)
        #expect(try await cache.get(key, policy: Self.policy) { truth.load() } == "new")
    }

    /// L2 refuses the write-back before the L1 message arrives: the value stays out of L1
    /// anyway (the refusal proves the key was invalidated).
    @Test func l2RefusalKeepsTheValueOutOfL1BeforeTheMessageArrives() async throws {
        let namespace = uniqueNamespace("stalenomsg")
        let redis = try await connectRedis()
        let truth = CountingLoader("old")
        let cache = try makeCache("nomsg", namespace: namespace, source: ScriptedInvalidationSource()) { key in
            truth.set("new")
            try await redis.send(["UNLINK", RedisArgument(namespace + "v:" + key), RedisArgument(namespace + "l:" + key)])
        }
        let key = CacheKey("profile", 8)
        #expect(try await cache.get(key, policy: Self.policy) { truth.load() } == "old")
        #expect(!cache.l1Contains(key))
        #expect(try await cache.get(key, policy: Self.policy) { truth.load() } == "new")
    }

    /// Without L2: the L1 message alone fences the load.
    @Test func l1MessageFencesTheLoad() async throws {
        let source = ScriptedInvalidationSource()
        let truth = CountingLoader("old")
        let once = LockedBox(false)
        let cache = try TieredCache<String>(
            configuration: quietConfiguration("l1fence"), invalidationSource: source,
            hooks: TieredCacheHooks(afterLoad: { key in
                guard !once.value else { return }
                once.set(true)
                truth.set("new")
                source.publish(keys: [key])
            }))
        let key = CacheKey("profile", 9)
        #expect(try await cache.get(key, policy: Self.policy) { truth.load() } == "old")
        #expect(!cache.l1Contains(key))
        #expect(cache.statistics.discardedByInvalidation == 1)
        #expect(try await cache.get(key, policy: Self.policy) { truth.load() } == "new")
    }

    /// A `set` while a load is in flight wins over the load.
    @Test func setWinsOverAnInFlightLoad() async throws {
        let namespace = uniqueNamespace("staleset")
        let cache = try TieredCache<String>(configuration: quietConfiguration("set"), l2: try makeL2(namespace: namespace))
        let other = try TieredCache<String>(configuration: quietConfiguration("other"), l2: try makeL2(namespace: namespace))
        let gate = Gate()
        let key = CacheKey("profile", 10)
        let loading = Task { try await cache.get(key, policy: Self.policy) { await gate.wait(); return "loaded-before-set" } }
        try await eventually("the load is running") { gate.parkedCount == 1 }
        try await cache.set(key, "set", policy: Self.policy)
        gate.open()
        #expect(try await loading.value == "loaded-before-set")
        #expect(try await cache.get(key, policy: Self.policy) { "reloaded" } == "set")
        #expect(try await other.get(key, policy: Self.policy) { "reloaded" } == "set", "L2 kept the set value (its write removed the lease)")
    }
}
