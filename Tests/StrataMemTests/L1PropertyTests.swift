import PropertyBased
import StrataMem
import Testing

/// A simple model of the cache without a size bound: a dictionary with deadlines and tags.
struct Model {
    struct Entry {
        var value: Int
        var expiresAt: Int64
        var tags: Set<String>
    }
    var entries: [String: Entry] = [:]
    var now: Int64 = 0

    func get(_ key: String) -> Int? {
        guard let e = entries[key], e.expiresAt > now else { return nil }
        return e.value
    }
}

/// Decodes one generated integer into an operation on both the cache and the model.
func apply(_ code: Int, cache: L1Cache<String, Int>, clock: L1ManualClock, model: inout Model) -> (String, Int?, Int?)? {
    let key = "k:\(code % 5):\((code / 5) % 7)"
    let op = (code / 35) % 10
    let tag = "t\((code / 350) % 3)"
    switch op {
    case 0, 1, 2:
        let ttl = (code / 1050) % 3 == 0 ? nil : Int64((code / 1050) % 5 + 1)
        cache.set(key, code, ttl: ttl.map { .seconds($0) }, tags: [tag])
        model.entries[key] = .init(value: code, expiresAt: ttl.map { model.now + $0 * 1_000_000_000 } ?? .max, tags: [tag])
    case 3:
        cache.invalidate(key: key)
        model.entries[key] = nil
    case 4:
        cache.invalidate(tag: tag)
        model.entries = model.entries.filter { !$0.value.tags.contains(tag) }
    case 5:
        let prefix = String(key.prefix((code / 1050) % (key.count + 1)))
        cache.invalidate(prefix: prefix)
        model.entries = model.entries.filter { !$0.key.hasPrefix(prefix) }
    case 6:
        clock.advance(by: .seconds(1))
        model.now += 1_000_000_000
        if code % 2 == 0 { cache.cleanUp() }
    case 7:
        if code % 20 == 0 {
            cache.invalidateAll()
            model.entries = [:]
        }
    default:
        let actual = cache.get(key)
        let expected = model.get(key)
        if actual != expected { return (key, actual, expected) }
    }
    return nil
}

@Suite("L1 against a model")
struct L1PropertyTests {
    @Test func unboundedCacheBehavesLikeTheModel() async {
        await propertyCheck(count: 200, input: Gen.int(in: 0...1_000_000).array(of: 1...300)) { codes in
            let clock = L1ManualClock()
            let start = clock.now().nanoseconds
            let cache = makeCache(String.self, Int.self, count: 10_000, clock: clock)
            var model = Model(now: start)
            for code in codes {
                if let (key, actual, expected) = apply(code, cache: cache, clock: clock, model: &model) {
                    Issue.record("get(\(key)) = \(String(describing: actual)), model says \(String(describing: expected))")
                    return
                }
            }
            // Every key agrees at the end, and the cache holds no more live entries than the model.
            for a in 0..<5 {
                for b in 0..<7 {
                    let key = "k:\(a):\(b)"
                    #expect(cache.get(key) == model.get(key))
                }
            }
        }
    }

    @Test func boundedCacheNeverReturnsAWrongValue() async {
        await propertyCheck(count: 200, input: Gen.int(in: 0...1_000_000).array(of: 1...400), Gen.int(in: 1...8)) { codes, capacity in
            let clock = L1ManualClock()
            let cache = makeCache(String.self, Int.self, count: capacity, clock: clock)
            var model = Model(now: clock.now().nanoseconds)
            for code in codes {
                // The bounded cache may have evicted what the model holds, but what it returns is right.
                let key = "k:\(code % 5):\((code / 5) % 7)"
                if (code / 35) % 10 >= 8 {
                    if let actual = cache.get(key) { #expect(actual == model.get(key)) }
                } else {
                    _ = apply(code, cache: cache, clock: clock, model: &model)
                }
                #expect(cache.count <= capacity)
            }
        }
    }

    @Test func weightBoundHoldsForAnyWeights() async {
        await propertyCheck(count: 100, input: Gen.int(in: 1...400).array(of: 1...200)) { weights in
            let cache = makeCache(Int.self, Int.self, count: nil, weight: 1_000) { $0.weigher = { _, v in v } }
            for (i, w) in weights.enumerated() {
                cache.set(i % 37, w)
                #expect(cache.weight <= 1_000)
                #expect(cache.statistics.weight == cache.weight)
            }
        }
    }
}
