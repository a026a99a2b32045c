import Strata
import StrataCore
import StrataL2
import StrataMem
import StrataPostgres
import StrataRedis
import StrataTestSupport
import Testing

/// Reads through the layers and promotion into the faster ones, against real Redis and
/// PostgreSQL (the loader is an SQL query).
@Suite struct TieredPromotionTests {
    static let policy = CachePolicy(kind: "profile", l1TTL: .seconds(60), l2TTL: .seconds(300))

    @Test func promotesL3IntoL2AndL1() async throws {
        let namespace = uniqueNamespace("promote")
        let pool = try L3ConnectionPool(configuration: L3PoolConfiguration(url: TestEnvironment.postgresURL))
        let a = try TieredCache<String>(configuration: quietConfiguration("a"), l2: try makeL2(namespace: namespace))
        let b = try TieredCache<String>(configuration: quietConfiguration("b"), l2: try makeL2(namespace: namespace))
        let redis = try await connectRedis()
        let key = CacheKey("profile", 42)
        let calls = CountingLoader(0)
        let load: @Sendable () async throws -> String = {
            _ = calls.load()
            return try await pool.query("select 'from-l3:' || $1::text", Int64(42))[0].decode(String.self, at: 0)
        }

        #expect(try await a.get(key, policy: Self.policy, loader: load) == "from-l3:42")
        #expect(calls.calls == 1)
        #expect(a.l1Contains(key))
        #expect(try await redis.exists(namespace + "v:" + key.text), "the loaded value was written back to L2")

        // Another instance: L2 hit, promoted into its L1; no load.
        #expect(try await b.get(key, policy: Self.policy, loader: load) == "from-l3:42")
        #expect(calls.calls == 1)
        #expect(b.l1Contains(key))
        #expect(b.statistics.l2Hits == 1)

        // L1 hit.
        let before = a.statistics.l1Hits
        #expect(try await a.get(key, policy: Self.policy, loader: load) == "from-l3:42")
        #expect(a.statistics.l1Hits == before + 1)
        #expect(calls.calls == 1)
        await pool.close()
    }

    @Test func l1ExpiryFallsBackToL2() async throws {
        let clock = L1ManualClock()
        let cache = try TieredCache<String>(configuration: quietConfiguration("expiry", clock: clock),
                                            l2: try makeL2(namespace: uniqueNamespace("expiry")))
        let calls = CountingLoader("v1")
        let key = CacheKey("config", "theme")
        #expect(try await cache.get(key, policy: Self.policy) { calls.load() } == "v1")
        clock.advance(by: .seconds(61))
        #expect(!cache.l1Contains(key), "past its L1 TTL")
        calls.set("v2")
        #expect(try await cache.get(key, policy: Self.policy) { calls.load() } == "v1", "L2 (300 s) still holds it")
        #expect(calls.calls == 1)
        #expect(cache.l1Contains(key), "promoted back into L1")
    }

    @Test func layersCanBeTurnedOffPerPolicy() async throws {
        let namespace = uniqueNamespace("layers")
        let cache = try TieredCache<String>(configuration: quietConfiguration("layers"), l2: try makeL2(namespace: namespace))
        let redis = try await connectRedis()
        let calls = CountingLoader("x")
        let l2Only = CachePolicy(kind: "l2only", l1TTL: nil, l2TTL: .seconds(60))
        let l1Only = CachePolicy(kind: "l1only", l1TTL: .seconds(60), l2TTL: nil)
        _ = try await cache.get(CacheKey("a"), policy: l2Only) { calls.load() }
        _ = try await cache.get(CacheKey("a"), policy: l2Only) { calls.load() }
        #expect(calls.calls == 1 && !cache.l1Contains(CacheKey("a")) && cache.statistics.l2Hits == 1)
        _ = try await cache.get(CacheKey("b"), policy: l1Only) { calls.load() }
        _ = try await cache.get(CacheKey("b"), policy: l1Only) { calls.load() }
        #expect(calls.calls == 2 && cache.l1Contains(CacheKey("b")))
        #expect(try await !redis.exists(namespace + "v:b"))
    }

    @Test func negativeResultsAreCachedOnlyWithANegativeTTL() async throws {
        let namespace = uniqueNamespace("negative")
        let a = try TieredCache<String>(configuration: quietConfiguration("a"), l2: try makeL2(namespace: namespace))
        let b = try TieredCache<String>(configuration: quietConfiguration("b"), l2: try makeL2(namespace: namespace))
        let calls = CountingLoader<String?>(nil)
        var policy = Self.policy
        #expect(try await a.find(CacheKey("user", 1), policy: policy) { calls.load() } == nil)
        #expect(try await a.find(CacheKey("user", 1), policy: policy) { calls.load() } == nil)
        #expect(calls.calls == 2, "absent is not cached without a negative TTL")

        policy.negativeTTL = .seconds(30)
        #expect(try await a.find(CacheKey("user", 2), policy: policy) { calls.load() } == nil)
        #expect(try await a.find(CacheKey("user", 2), policy: policy) { calls.load() } == nil)
        #expect(try await b.find(CacheKey("user", 2), policy: policy) { calls.load() } == nil)
        #expect(calls.calls == 3, "absent cached in L1 and L2")
        #expect(b.statistics.l2Hits == 1)
    }

    @Test func oneLoadPerKeyHoweverManyCallers() async throws {
        let cache = try TieredCache<String>(configuration: quietConfiguration("flight"),
                                            l2: try makeL2(namespace: uniqueNamespace("flight")))
        let calls = CountingLoader("loaded")
        try await Self.twentyCallersWhileTheFirstLoads(cache, CacheKey("hot"), policy: Self.policy, calls: calls,
                                                       "19 callers joined the first one's load")
        #expect(calls.calls == 1)
    }

    /// Twenty callers get `key` at once; the one that loads waits at a gate until the 19
    /// others have joined its load (`joined` describes that wait); all get "loaded".
    static func twentyCallersWhileTheFirstLoads(_ cache: TieredCache<String>, _ key: CacheKey, policy: CachePolicy,
                                                calls: CountingLoader<String>, _ joined: String) async throws {
        let gate = Gate()
        try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    try await cache.get(key, policy: policy) {
                        await gate.wait()
                        return calls.load()
                    }
                }
            }
            try await eventually(joined) { cache.statistics.joinedFlights == 19 && gate.parkedCount == 1 }
            gate.open()
            for try await value in group { #expect(value == "loaded") }
        }
    }

    @Test func l2OnlyKindsLookUpL2BeforeJoiningAFlight() async throws {
        // A kind without L1 or fail-safe copy stores nothing in this process: an L2 hit
        // takes no flight, and a miss still loads once however many callers want it.
        // Twenty callers share the pool's 4 connections: on a machine busy with other tests a
        // short wait would skip L2 (and load), which is right but not what this counts.
        let l2 = try makeL2(namespace: uniqueNamespace("l2first")) {
            $0.connectionWaitTimeout = .seconds(30)
            $0.commandTimeout = .seconds(30)
        }
        let cache = try TieredCache<String>(configuration: quietConfiguration("l2first"), l2: l2)
        let policy = CachePolicy(kind: "l2only", l1TTL: nil, l2TTL: .seconds(60))
        let calls = CountingLoader("loaded")
        let key = CacheKey("hot")
        try await Self.twentyCallersWhileTheFirstLoads(cache, key, policy: policy, calls: calls,
                                                       "19 callers missed in L2 and joined the first one's load")
        #expect(calls.calls == 1)
        #expect(!cache.l1Contains(key))
        let hitsBefore = cache.statistics.l2Hits
        try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<20 { group.addTask { try await cache.get(key, policy: policy) { "not loaded again" } } }
            for try await value in group { #expect(value == "loaded") }
        }
        #expect(cache.statistics.l2Hits == hitsBefore + 20, "every caller read L2 itself")
        #expect(cache.statistics.joinedFlights == 19)
        #expect(calls.calls == 1)
        // An invalidated key misses in L2 and is loaded again.
        try await l2.invalidate(key: key.text)
        calls.set("v2")
        #expect(try await cache.get(key, policy: policy) { calls.load() } == "v2")
        #expect(calls.calls == 2)
    }

    @Test func instancesWaitForTheLeaseHolder() async throws {
        let namespace = uniqueNamespace("lease")
        let a = try TieredCache<String>(configuration: quietConfiguration("a"), l2: try makeL2(namespace: namespace))
        let b = try TieredCache<String>(configuration: quietConfiguration("b"), l2: try makeL2(namespace: namespace) {
            $0.leaseWaitBudget = .seconds(30)
        })
        let gate = Gate()
        let calls = CountingLoader("from-a")
        let key = CacheKey("hot", "across")
        let first = Task { try await a.get(key, policy: Self.policy) { await gate.wait(); return calls.load() } }
        try await eventually("a holds the lease and loads") { gate.parkedCount == 1 }
        let second = Task { try await b.get(key, policy: Self.policy) { "from-b" } }
        try await eventually("b missed and waits for the lease holder") { b.statistics.l2Misses == 1 }
        gate.open()
        #expect(try await first.value == "from-a")
        #expect(try await second.value == "from-a", "b took a's value from L2 instead of loading")
        #expect(calls.calls == 1)
    }

    @Test func getManyAsksEachLayerOnce() async throws {
        let namespace = uniqueNamespace("many")
        let a = try TieredCache<String>(configuration: quietConfiguration("a"), l2: try makeL2(namespace: namespace))
        let b = try TieredCache<String>(configuration: quietConfiguration("b"), l2: try makeL2(namespace: namespace))
        let keys = (1...4).map { CacheKey("item", $0) }
        _ = try await a.get(keys[0], policy: Self.policy) { "one" }             // a's L1 (and L2)
        _ = try await b.get(keys[1], policy: Self.policy) { "two" }             // L2 only, for a
        let batches = CountingLoader(0)
        let asked = LockedBox<[CacheKey]>([])
        let values = try await a.getMany(keys + [keys[2]], policy: Self.policy) { missing in
            _ = batches.load()
            asked.set(missing)
            return [keys[2]: "three"]                                                 // keys[3]: absent
        }
        #expect(values == [keys[0]: "one", keys[1]: "two", keys[2]: "three"])
        #expect(batches.calls == 1)
        #expect(Set(asked.value) == [keys[2], keys[3]])
        #expect(a.l1Contains(keys[1]) && a.l1Contains(keys[2]))
        // keys[2] reached L2 through its lease: b reads it without loading.
        #expect(try await b.get(keys[2], policy: Self.policy) { "reloaded" } == "three")
    }
}

final class LockedBox<T: Sendable>: Sendable {
    private let state: Mutex<T>
    init(_ value: T) { state = Mutex(value) }
    var value: T { state.withLock { $0 } }
    func set(_ value: T) { state.withLock { $0 = value } }
}

import Synchronization
