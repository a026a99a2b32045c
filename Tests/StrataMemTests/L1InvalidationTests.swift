import StrataMem
import Testing

struct AuthzKey: PrefixInvalidatable {
    var team: Int
    var project: Int
    var invalidationKey: String { "authz:team:\(team):project:\(project)" }
}

@Suite("L1 invalidation")
struct L1InvalidationTests {
    @Test func byKey() {
        let cache = makeCache(String.self, Int.self)
        cache.set("a", 1)
        #expect(cache.invalidate(key: "a"))
        #expect(!cache.invalidate(key: "a"))
        #expect(cache.get("a") == nil)
    }

    @Test func byPrefixOnStringKeys() {
        let cache = makeCache(String.self, Int.self, count: 10_000, shards: 4)
        for team in 0..<10 {
            for project in 0..<20 { cache.set("authz:team:\(team):project:\(project)", team * 100 + project) }
        }
        cache.set("authz:team:70:project:1", 1)
        #expect(cache.invalidate(prefix: "authz:team:7:") == 20)
        #expect(cache.get("authz:team:7:project:3") == nil)
        #expect(cache.get("authz:team:70:project:1") == 1)
        #expect(cache.get("authz:team:6:project:3") == 603)
        // A prefix that ends inside a component.
        #expect(cache.invalidate(prefix: "authz:team:6:project:1") == 11)  // 1, 10...19
        #expect(cache.get("authz:team:6:project:2") == 602)
        #expect(cache.invalidate(prefix: "nothing") == 0)
        #expect(cache.invalidate(prefix: "authz:team:6:project:2") == 1)
        // The empty prefix means everything.
        let before = cache.count
        #expect(cache.invalidate(prefix: "") == before)
        #expect(cache.count == 0)
    }

    @Test func byPrefixOnCustomKeys() {
        let cache = makeCache(AuthzKey.self, Bool.self, count: 1000)
        for team in 1...3 {
            for project in 1...5 { cache.set(AuthzKey(team: team, project: project), true) }
        }
        #expect(cache.invalidate(prefix: "authz:team:2:") == 5)
        #expect(cache.get(AuthzKey(team: 2, project: 1)) == nil)
        #expect(cache.get(AuthzKey(team: 3, project: 1)) == true)
        // Re-inserting after an invalidation works and is indexed again.
        cache.set(AuthzKey(team: 2, project: 1), false)
        #expect(cache.invalidate(prefix: "authz:team:2:project:1") == 1)
    }

    @Test func prefixIndexFollowsEvictionAndExpiry() {
        let clock = L1ManualClock()
        let cache = makeCache(String.self, Int.self, count: 50, clock: clock)
        for i in 0..<1000 { cache.set("p:\(i % 7):\(i)", i, ttl: i % 2 == 0 ? .seconds(5) : nil) }
        clock.advance(by: .seconds(10))
        cache.cleanUp()
        let live = (0..<1000).filter { cache.contains("p:\($0 % 7):\($0)") }
        // Only live entries are counted by a prefix invalidation.
        #expect(cache.invalidate(prefix: "p:") == live.count)
        #expect(cache.count == 0)
    }

    @Test func byTag() {
        let cache = makeCache(String.self, Int.self, count: 1000, shards: 4)
        for i in 0..<100 { cache.set("k\(i)", i, tags: i % 2 == 0 ? ["even", "all"] : ["all"]) }
        cache.set("untagged", 0)
        #expect(cache.invalidate(tag: "even") == 50)
        #expect(cache.get("k2") == nil)
        #expect(cache.get("k3") == 3)
        #expect(cache.invalidate(tag: "even") == 0)
        #expect(cache.invalidate(tag: "all") == 50)
        #expect(cache.get("untagged") == 0)
        // Replacing an entry replaces its tags.
        cache.set("x", 1, tags: ["old"])
        cache.set("x", 2, tags: ["new"])
        #expect(cache.invalidate(tag: "old") == 0)
        #expect(cache.invalidate(tag: "new") == 1)
    }

    @Test func byTagWrittenBefore() {
        let clock = L1ManualClock()
        let cache = makeCache(String.self, Bool.self, clock: clock)
        cache.set("allow-old", true, tags: ["allow"])
        cache.set("deny-old", false, tags: ["deny"])
        clock.advance(by: .seconds(5))
        let outage = clock.now()
        clock.advance(by: .seconds(1))
        cache.set("allow-new", true, tags: ["allow"])
        #expect(cache.invalidate(tag: "allow", writtenBefore: outage) == 1)
        #expect(cache.get("allow-old") == nil)
        #expect(cache.get("allow-new") == true)
        #expect(cache.get("deny-old") == false)
    }

    @Test func all() {
        let cache = makeCache(String.self, Int.self, count: 10_000, shards: 4)
        for i in 0..<500 { cache.set("k\(i)", i, ttl: .seconds(60), tags: ["t"]) }
        #expect(cache.invalidateAll() == 500)
        #expect(cache.count == 0)
        #expect(cache.weight == 0)
        #expect(cache.invalidate(tag: "t") == 0)
        #expect(cache.invalidate(prefix: "k") == 0)
        // Still fully usable afterwards.
        for i in 0..<500 { cache.set("k\(i)", i) }
        #expect(cache.get("k499") == 499)
        #expect(cache.invalidate(prefix: "k4") == 111)
        #expect(cache.statistics.evictionsByInvalidation == 611)
    }
}
