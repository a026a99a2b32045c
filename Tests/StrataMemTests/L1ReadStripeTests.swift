import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@testable import StrataMem
import Synchronization
import Testing

/// A hit takes its thread's read stripe (a busy flag) and checks that no writer is in the
/// segment; a writer sets the segment's `writing` flag and waits until no stripe is busy.
/// These tests hold stripes and the replay lock by hand, as a reader in the middle of a hit
/// or a replay would, and order the other side against them by waiting for the flags the
/// cache itself sets.
@Suite("L1 read stripes")
struct L1ReadStripeTests {
    @Test func everySegmentHasSeveralReadStripes() {
        // Whatever the number of segments, so that readers of a large cache do not share one.
        for shards in [1, 4, 64] {
            let cache = makeCache(Int.self, Int.self, count: 100_000, shards: shards)
            #expect(cache._readers >= 2 && cache._readers & (cache._readers - 1) == 0)
        }
    }

    @Test func aWriterWaitsForABusyReaderAndReplaysItsBufferFirst() {
        let cache = makeCache(Int.self, Int.self, count: 100, policy: .lru, shards: 1)
        for k in 0..<100 { cache.set(k, k) }
        // Buffered in this thread's stripe, not yet replayed: exact LRU must still see them.
        for k in 0..<10 { #expect(cache.get(k) == k) }
        let segment = cache._segment(L1Cache<Int, Int>._hash(0))
        let stripe = cache._testStripe(segment)
        // Be a reader in the middle of a hit.
        #expect(cache._busy(stripe).pointee.compareExchange(expected: 0, desired: 1, ordering: .sequentiallyConsistent).exchanged)
        let done = Flag()
        let writer = TestThread {
            for k in 100..<110 { cache.set(k, k) }  // evicts 10 entries
            done.set()
        }
        // The writer announces itself, then must wait for this reader.
        while cache._writing(segment).pointee.load(ordering: .sequentiallyConsistent) == 0 { sched_yield() }
        for _ in 0..<1_000 { sched_yield() }
        #expect(!done.isSet, "a writer changed the segment while a reader held its stripe")
        cache._busy(stripe).pointee.store(0, ordering: .releasing)
        writer.join()
        #expect(done.isSet)
        for k in 0..<10 { #expect(cache.contains(k), "buffered read of \(k) was not replayed before the evictions") }
        for k in 10..<20 { #expect(!cache.contains(k), "unread key \(k) survived") }
        #expect(cache.statistics.hits == 10)
    }

    @Test func aReaderWhoseStripeIsBusyMovesToAnotherOne() {
        let cache = makeCache(Int.self, Int.self, count: 10_000, shards: 4)
        for k in 0..<100 { cache.set(k, k) }
        let segment = cache._segment(L1Cache<Int, Int>._hash(7))
        let before = _ReadStripe.threadIndex(cache._threadKey)
        let stripe = cache._testStripe(segment)
        // Another reader shares this thread's stripe.
        #expect(cache._busy(stripe).pointee.compareExchange(expected: 0, desired: 1, ordering: .sequentiallyConsistent).exchanged)
        #expect(cache.get(7) == 7)
        #expect(cache.get(-1) == nil)
        let after = _ReadStripe.threadIndex(cache._threadKey)
        #expect(after & cache._readerMask != before & cache._readerMask, "the thread did not move to another stripe")
        cache._busy(stripe).pointee.store(0, ordering: .releasing)
        let stats = cache.statistics
        #expect(stats.hits == 1 && stats.misses == 1)
    }

    @Test func aReaderThatFindsEveryStripeBusyTakesTheExclusivePath() {
        let cache = makeCache(Int.self, Int.self, count: 100, shards: 1)
        cache.set(1, 1)
        let segment = cache._segment(L1Cache<Int, Int>._hash(1))
        for r in 0..<cache._readers {
            #expect(cache._busy(segment + r * _ReadStripe.stride).pointee.compareExchange(
                expected: 0, desired: 1, ordering: .sequentiallyConsistent).exchanged)
        }
        let result = Mutex<Int?>(nil)
        let reader = TestThread { result.withLock { $0 = cache.get(1) } }
        // The reader gives up on the stripes and waits, as a writer, for them to be free.
        while cache._writing(segment).pointee.load(ordering: .sequentiallyConsistent) == 0 { sched_yield() }
        for r in 0..<cache._readers {
            cache._busy(segment + r * _ReadStripe.stride).pointee.store(0, ordering: .releasing)
        }
        reader.join()
        #expect(result.withLock { $0 } == 1)
        #expect(cache.statistics.hits == 1)
    }

    @Test func hitsDroppedByAFullBufferNeverLoseAWriteOrAnInvalidation() {
        let cache = makeCache(Int.self, Int.self, count: 100, policy: .lru, shards: 1)
        for k in 0..<100 { cache.set(k, k) }
        let segment = cache._segment(L1Cache<Int, Int>._hash(0))
        // Another reader is replaying: this thread's full buffer cannot be replayed, and
        // the hits after the 48th are dropped (counted, not replayed).
        #expect(cache._replayLock(segment).pointee.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged)
        for k in 0..<60 { #expect(cache.get(k) == k) }
        let counters = (cache._testStripe(segment) + _ReadStripe.countersOffset).assumingMemoryBound(to: _ReadCounters.self)
        #expect(counters.pointee.count == _ReadStripe.capacity)
        #expect(counters.pointee.dropped == 60 - _ReadStripe.capacity)
        // Writes and invalidations do not go through the buffers and always apply.
        #expect(cache.invalidate(key: 5))
        #expect(cache.get(5) == nil)
        cache.set(7, 70)
        #expect(cache.get(7) == 70)
        cache._replayLock(segment).pointee.store(0, ordering: .releasing)
        // The 48 buffered hits were replayed by the invalidation, before it changed anything:
        // keys 0..<48 are the most recent, so 39 evictions take keys 48..<87.
        for k in 100..<140 { cache.set(k, k) }
        for k in 0..<48 where k != 5 { #expect(cache.contains(k), "buffered read of \(k) was lost") }
        #expect(!cache.contains(5))
        let stats = cache.statistics
        #expect(stats.hits == 61)
        #expect(stats.misses == 1)
    }

    @Test func aBufferOfSaturatedEntriesIsEmptiedWithoutTheReplayLock() {
        let cache = makeCache(Int.self, Int.self, count: 1_000, shards: 1)
        for k in 0..<100 { cache.set(k, k) }
        // Key 0 becomes hot: its sketch counters and pending hits saturate.
        for _ in 0..<200 { #expect(cache.get(0) == 0) }
        let segment = cache._segment(L1Cache<Int, Int>._hash(0))
        let state = cache._state(segment)
        let node = state.pointee.find(0, UInt32(truncatingIfNeeded: L1Cache<Int, Int>._hash(0)))
        #expect(_Flags.saturated(state.pointee.flagBytes[Int(node)]))
        let counters = (cache._testStripe(segment) + _ReadStripe.countersOffset).assumingMemoryBound(to: _ReadCounters.self)
        // Another reader is replaying. Hits of the hot key need no replay: the full buffer is
        // emptied without the replay lock, and nothing is dropped.
        #expect(cache._replayLock(segment).pointee.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged)
        let start = counters.pointee.count
        let hot = 2 * _ReadStripe.capacity + 5
        for _ in 0..<hot { #expect(cache.get(0) == 0) }
        #expect(counters.pointee.count == (start + hot) % _ReadStripe.capacity)
        #expect(counters.pointee.dropped == 0)
        // A cold key's hits do need a replay: its buffer stays full and later hits are dropped.
        let cold = _ReadStripe.capacity - counters.pointee.count + 5
        for _ in 0..<cold { #expect(cache.get(1) == 1) }
        #expect(counters.pointee.count == _ReadStripe.capacity)
        #expect(counters.pointee.dropped == 5)
        cache._replayLock(segment).pointee.store(0, ordering: .releasing)
        #expect(cache.statistics.hits == 200 + hot + cold)
    }

    @Test(arguments: [1, 8])
    func readersNeverSeeAValueOlderThanTheLastCompletedWrite(shards: Int) {
        // Writers own keys and publish, after each `set(k, v)` returns, 2v, and after each
        // `invalidate(key: k)` returns, 2v + 1. A reader that saw 2v must then read v or
        // later (or nothing, if an invalidation is running); one that saw 2v + 1 must not
        // read v or earlier. More threads than read stripes, so stripes are shared and
        // readers get preempted while holding them.
        let keys = 256
        let cache = makeCache(Int.self, Int.self, count: 100_000, shards: shards)
        let published = Mutex([Int](repeating: 0, count: keys))
        let violations = Mutex<[String]>([])
        let writers = 2
        let threads = 2 * cache._readers + writers
        let running = (0..<threads).map { thread in TestThread {
            var rng = TestRNG(UInt64(thread) &+ 99)
            if thread < writers {
                var version = [Int](repeating: 0, count: keys)
                for _ in 0..<30_000 {
                    let key = Int(rng.next() % UInt64(keys / writers)) * writers + thread
                    if rng.next() % 4 == 0 {
                        cache.invalidate(key: key)
                        published.withLock { $0[key] = 2 * version[key] + 1 }
                    } else {
                        version[key] += 1
                        cache.set(key, version[key])
                        published.withLock { $0[key] = 2 * version[key] }
                    }
                }
            } else {
                for _ in 0..<30_000 {
                    let key = Int(rng.next() % UInt64(keys))
                    let seen = published.withLock { $0[key] }
                    guard let value = cache.get(key) else { continue }
                    if seen % 2 == 0 ? value < seen / 2 : value <= seen / 2 {
                        violations.withLock { $0.append("key \(key): read \(value) after \(seen % 2 == 0 ? "set" : "invalidation after") \(seen / 2)") }
                    }
                }
            }
        } }
        for thread in running { thread.join() }
        #expect(violations.withLock { $0 }.isEmpty, "\(violations.withLock { Array($0.prefix(5)) })")
        let stats = cache.statistics
        #expect(stats.evictionsBySize == 0)
        #expect(stats.hits > 0)
    }
}

/// Runs `body` on a thread of its own (not a pool's, which these tests' waits could exhaust).
final class TestThread: Sendable {
    private let finished = DispatchSemaphore(value: 0)
    init(_ body: @escaping @Sendable () -> Void) {
        let finished = finished
        Thread {
            body()
            finished.signal()
        }.start()
    }
    func join() { finished.wait() }
}

final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

extension L1Cache {
    /// The read stripe the calling thread would take first in `segment`.
    func _testStripe(_ segment: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
        segment + (_ReadStripe.threadIndex(_threadKey) & _readerMask) * _ReadStripe.stride
    }
}
