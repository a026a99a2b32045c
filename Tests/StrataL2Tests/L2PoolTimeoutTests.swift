@testable import StrataL2
import StrataRedis
import Synchronization
import StrataTestSupport
import Testing

@Suite("L2 with every pooled connection in use")
struct L2PoolTimeoutTests {
    /// The pool's only connection is held; lookups and writes give up after
    /// connectionWaitTimeout with a message saying what to raise, instead of hanging.
    @Test func busyPoolSkipsInsteadOfHanging() async throws {
        let cache = try makeCache("pool") {
            $0.maximumConnections = 1
            $0.connectionWaitTimeout = .milliseconds(50)
        }
        let gate = Gate()
        let holder = Task { try await cache.pool.withConnection { _ in await gate.wait() } }
        try await waitUntil("the holder leased the only connection") { cache.pool.openConnections == 1 && cache.pool.idleConnections == 0 }

        guard case .skipped(.redisFailure(let message)) = try await cache.get("app:user:1", as: Int.self) else {
            Issue.record("expected a skipped lookup")
            return
        }
        #expect(message.contains("poolTimeout"), "\(message)")
        #expect(message.contains("became free within 50.0 ms"), "\(message)")
        #expect(message.contains("maximumConnections 1"), "\(message)")
        let write = try await cache.set("app:user:1", value: 1, ttl: .seconds(60))
        #expect(write.isSkipped)
        let many = try await cache.getMany(["app:user:1", "app:user:2"], as: Int.self)
        let allSkipped = many.allSatisfy { $0.isSkipped }
        #expect(allSkipped)
        let loaded = try await cache.load("app:user:3", as: Int.self, ttl: .seconds(60)) { 3 }
        #expect(loaded.value == 3 && loaded.source.isSkippedWrite)
        await #expect(throws: RedisError.self) { try await cache.invalidate(key: "app:user:1") }   // invalidations throw
        let statistics = cache.statistics
        #expect(statistics.poolTimeouts == 4 && statistics.redisFailures == 4)

        gate.open()
        try await holder.value
        #expect(try await cache.set("app:user:1", value: 1, ttl: .seconds(60)) == .stored)
        #expect(try await cache.get("app:user:1", as: Int.self).value == 1)
        #expect(cache.pool.waitingLeases == 0)
        await cache.close()
    }

    @Test func nonPositiveTimeoutsAreRejected() throws {
        for configure in [{ (c: inout L2Configuration) in c.connectionWaitTimeout = .zero },
                          { (c: inout L2Configuration) in c.commandTimeout = .milliseconds(-1) }] {
            let error = #expect(throws: L2Error.self) { try makeCache("pool", configure) }
            #expect(error?.code == .invalidConfiguration)
        }
    }
}

extension L2LoadSource {
    var isSkippedWrite: Bool {
        if case .loaded(write: .skipped) = self { return true }
        return false
    }
}

extension L2WriteOutcome {
    var isSkipped: Bool {
        if case .skipped = self { return true }
        return false
    }
}

/// Polls `condition` (state, not time, decides the outcome); fails after 10 s.
func waitUntil(_ what: String, _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(10)
    while !condition() {
        guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting until \(what)") }
        try await Task.sleep(for: .milliseconds(1))
    }
}

