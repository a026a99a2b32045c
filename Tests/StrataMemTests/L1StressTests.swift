import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import StrataMem
import Synchronization
import Testing

/// A value that remembers the deadline it was written with.
struct Stamped: Sendable, Equatable {
    var key: Int
    var expiresAt: Int64
}

/// Writers share it; advancing the clock takes it exclusively, so a writer's clock reading
/// equals the cache's own for the same `set` and the stamped deadline is exact.
final class ClockGuard: @unchecked Sendable {
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>
    init() {
        lock = .allocate(capacity: 1)
        lock.initialize(to: pthread_rwlock_t())
        pthread_rwlock_init(lock, nil)
    }
    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }
    func shared<T>(_ body: () -> T) -> T {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return body()
    }
    func exclusive<T>(_ body: () -> T) -> T {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return body()
    }
}

final class Epochs: Sendable {
    private let values = Mutex([Int](repeating: 0, count: 64))
    func bump(_ key: Int) { values.withLock { $0[key] += 1 } }
    func value(_ key: Int) -> Int { values.withLock { $0[key] } }
}

@Suite("L1 under concurrency")
struct L1StressTests {
    @Test func concurrentReadersAndWritersKeepTheInvariants() async {
        let clock = L1ManualClock()
        let maximum = 2_000
        let cache = makeCache(Int.self, Stamped.self, count: maximum, clock: clock, shards: 8) { config in
            config.maximumWeight = 150_000
            config.weigher = { key, _ in 1 + key % 100 }
        }
        let violations = Mutex<[String]>([])
        @Sendable func violation(_ message: String) { violations.withLock { $0.append(message) } }
        let threads = 6
        let clockGuard = ClockGuard()
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            var rng = TestRNG(UInt64(thread + 1))
            for i in 0..<40_000 {
                let key = Int(rng.next() % 5_000)
                switch rng.next() % 20 {
                case 0..<9:
                    let before = clock.now().nanoseconds
                    if let value = cache.get(key) {
                        if value.key != key { violation("wrong value for \(key)") }
                        // Live when read means its deadline was after the read began.
                        if value.expiresAt <= before { violation("expired entry \(key) returned") }
                    }
                case 9..<16:
                    let ttl = Duration.milliseconds(Int64(1 + rng.next() % 3_000))
                    clockGuard.shared {
                        let now = clock.now()
                        cache.set(key, Stamped(key: key, expiresAt: (now + ttl).nanoseconds), ttl: ttl, tags: ["t\(key % 10)"])
                    }
                case 16:
                    cache.invalidate(key: key)
                case 17:
                    if i % 50 == 0 { cache.invalidate(tag: "t\(key % 10)") }
                case 18:
                    if thread == 0 {
                        let step = Duration.milliseconds(Int64(rng.next() % 200))
                        clockGuard.exclusive { clock.advance(by: step) }
                    }
                default:
                    let stats = cache.statistics
                    if stats.entries > maximum { violation("count \(stats.entries) > \(maximum)") }
                    if stats.weight > 150_000 { violation("weight \(stats.weight) > 150000") }
                    if i % 1_000 == 0 { cache.cleanUp() }
                }
            }
        }
        #expect(violations.withLock { $0 }.isEmpty, "\(violations.withLock { Array($0.prefix(5)) })")
        #expect(cache.count <= maximum)
        #expect(cache.weight <= 150_000)
        let stats = cache.statistics
        #expect(stats.hits + stats.misses == stats.requests)
        #expect(stats.hits > 0 && stats.evictionsByExpiry > 0 && stats.evictionsByInvalidation > 0)
    }

    @Test func invalidationDuringConcurrentLoadsAlwaysWins() async throws {
        // Many keys load while invalidations race them; a value loaded before the last
        // invalidation of its key must never be in the cache afterwards.
        let cache = makeCache(Int.self, Int.self, count: 10_000, shards: 4)
        let epochs = Epochs()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var rng = TestRNG(UInt64(worker) + 100)
                    for _ in 0..<2_000 {
                        let key = Int(rng.next() % 64)
                        if rng.next() % 3 == 0 {
                            // Bump the key's epoch, then invalidate: loads that read the old epoch must not be stored.
                            epochs.bump(key)
                            cache.invalidate(key: key)
                        } else {
                            _ = try await cache.get(key) { k in
                                let epoch = epochs.value(k)
                                await Task.yield()
                                return epoch
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let final = (0..<64).map { epochs.value($0) }
        for key in 0..<64 {
            if let cached = cache.get(key) { #expect(cached == final[key], "key \(key): cached epoch \(cached), current \(final[key])") }
        }
    }

    @Test func asyncAndSyncCallersMix() async throws {
        let cache = makeCache(Int.self, Int.self, count: 1_000, shards: 2)
        let calls = CallCounter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in 0..<4 {
                group.addTask {
                    for k in 0..<500 {
                        let v = try await cache.get(k) { key in calls.increment(); return key * 2 }
                        #expect(v == k * 2)
                        if t == 0, let s = cache.get(k) { #expect(s == k * 2) }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(calls.count >= 500 && calls.count <= 2_000)
    }
}
