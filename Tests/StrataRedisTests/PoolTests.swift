import StrataRedis
import Synchronization
import StrataTestSupport
import Testing

@Suite("RedisConnectionPool")
struct PoolTests {
    @Test func moreTasksThanConnectionsWaitAndAllSucceed() async throws {
        // 40 tasks, 3 connections. Each task holds its connection in a BLPOP on a gate list
        // that a separate connection fills only once 3 tasks hold connections at the same
        // time, so the overlap is certain, not a matter of timing (a pool that handed out
        // fewer would leave the gate shut and the BLPOPs would time out: the test fails).
        let pool = RedisConnectionPool(configuration: try TestEnvironment.configuration(), maximumConnections: 3)
        let key = TestEnvironment.uniqueKey()
        let gate = key + ":gate"
        let opener = try await RedisConnection.connect(try TestEnvironment.configuration())
        let gauge = Gauge()
        let full = Gate()   // opened by the task that brings the count of held connections to 3
        let clientIDs = try await withThrowingTaskGroup(of: Int64?.self) { group in
            for _ in 0..<40 {
                group.addTask {
                    try await pool.withConnection { connection in
                        let now = gauge.inUse.add(1, ordering: .relaxed).newValue
                        gauge.peak.max(now, ordering: .relaxed)
                        if now == 3 { full.open() }
                        defer { gauge.inUse.subtract(1, ordering: .relaxed) }
                        try await connection.send("INCR", RedisArgument(key))
                        let passed = try await connection.send("BLPOP", RedisArgument(gate), "20")
                        #expect(passed != .null, "the gate never opened: the pool did not give 3 tasks a connection at once")
                        return try await connection.send("CLIENT", "ID").int ?? -1
                    }
                }
            }
            group.addTask {
                await full.wait()
                _ = try await opener.send(["RPUSH", RedisArgument(gate)] + (0..<40).map { RedisArgument($0) })
                return nil
            }
            return try await group.reduce(into: Set<Int64>()) { if let id = $1 { $0.insert(id) } }
        }
        #expect(gauge.peak.load(ordering: .relaxed) == 3)
        #expect(clientIDs.count <= 3)
        #expect(pool.openConnections <= 3)
        #expect(try await pool.send("GET", RedisArgument(key)).int == 40)
        let replies = try await pool.pipeline([["DEL", RedisArgument(key), RedisArgument(gate)], ["EXISTS", RedisArgument(key)]])
        #expect(replies == [.integer(1), .integer(0)])
        await opener.close()
        await pool.close()
    }

    @Test func brokenConnectionIsReplaced() async throws {
        let configuration = try TestEnvironment.configuration()
        let pool = RedisConnectionPool(configuration: configuration, maximumConnections: 1)
        let killer = try await RedisConnection.connect(configuration)
        let firstID = try await pool.send("CLIENT", "ID").int
        let error = await expectRedisError {
            try await pool.withConnection { connection in
                #expect(try await connection.send("CLIENT", "ID").int == firstID)
                #expect(try await killer.send("CLIENT", "KILL", "ID", RedisArgument(Int(firstID ?? 0))) == .integer(1))
                _ = try await connection.send("PING")
            }
        }
        #expect(error?.code == .connectionClosed)
        #expect(pool.openConnections == 0, "the broken connection was discarded")
        let secondID = try await pool.send("CLIENT", "ID").int
        #expect(secondID != nil && secondID != firstID)
        #expect(pool.openConnections == 1)
        await killer.close()
        await pool.close()
    }

    @Test func connectFailureReleasesTheSlot() async throws {
        let port = try freeTCPPort()
        let pool = RedisConnectionPool(configuration: RedisConfiguration(host: "127.0.0.1", port: port), maximumConnections: 1)
        for _ in 0..<3 {
            let error = await expectRedisError { try await pool.send("PING") }
            #expect(error?.code == .connectionFailed)
        }
        #expect(pool.openConnections == 0)
        await pool.close()
    }

    @Test func closedPoolRejectsLeasesAndWakesWaiters() async throws {
        let pool = RedisConnectionPool(configuration: try TestEnvironment.configuration(), maximumConnections: 1)
        let gate = Gate()
        let holding = Task { try await pool.withConnection { connection in
            await gate.wait()
            return try await connection.send("PING")
        } }
        try await waitUntil("the holder leased the only connection") { pool.openConnections == 1 && pool.idleConnections == 0 }
        let waiting = Task { try await pool.send("PING") }
        try await waitUntil("the second lease is queued") { pool.waitingLeases == 1 }
        await pool.close()
        let waiterError = await expectRedisError { _ = try await waiting.value }
        #expect(waiterError?.code == .poolClosed)
        gate.open()
        #expect(try await holding.value == .status("PONG"), "the leased command finishes")
        let after = await expectRedisError { try await pool.send("PING") }
        #expect(after?.code == .poolClosed)
        #expect(pool.openConnections == 0)
    }

    @Test func cancelledWaiterLeavesTheQueue() async throws {
        let pool = RedisConnectionPool(configuration: try TestEnvironment.configuration(), maximumConnections: 1,
                                       connectionWaitTimeout: .seconds(60))
        let gate = Gate()
        let holding = Task { try await pool.withConnection { _ in await gate.wait() } }
        try await waitUntil("the holder leased the only connection") { pool.openConnections == 1 && pool.idleConnections == 0 }
        let waiting = Task { try await pool.send("PING") }
        let other = Task { try await pool.send("ECHO", "second") }
        try await waitUntil("both leases are queued") { pool.waitingLeases == 2 }
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        #expect(pool.waitingLeases == 1, "the cancelled waiter left the queue; the other one stays")
        gate.open()
        try await holding.value
        #expect(try await other.value == .bulk(Array("second".utf8)), "the remaining waiter got the connection")
        #expect(try await pool.send("PING") == .status("PONG"))
        #expect(pool.openConnections == 1)
        await pool.close()
    }

    /// All connections stay leased: a lease gives up after `connectionWaitTimeout` with an
    /// error saying how many connections, how long, and what to change.
    @Test func waitTimesOutWithAClearError() async throws {
        let pool = RedisConnectionPool(configuration: try TestEnvironment.configuration(), maximumConnections: 2,
                                       connectionWaitTimeout: .milliseconds(50))
        let gate = Gate()
        let holders = (0..<2).map { _ in Task { try await pool.withConnection { _ in await gate.wait() } } }
        try await waitUntil("both connections are leased") { pool.openConnections == 2 && pool.idleConnections == 0 }
        let clock = ContinuousClock()
        let start = clock.now
        let error = await expectRedisError { try await pool.send("PING") }
        let waited = clock.now - start
        #expect(error?.code == .poolTimeout)
        #expect(waited >= .milliseconds(50))
        let message = error?.message ?? ""
        #expect(message.contains("became free within 50.0 ms"), "\(message)")
        #expect(message.contains("all 2 connections (maximumConnections 2) stayed in use"), "\(message)")
        #expect(message.contains("Raise maximumConnections"), "\(message)")
        #expect(pool.waitingLeases == 0)
        // The pool still works once the connections come back.
        gate.open()
        for holder in holders { try await holder.value }
        #expect(try await pool.send("PING") == .status("PONG"))
        #expect(pool.openConnections == 2)
        await pool.close()
    }

    /// A connection that comes back before the deadline goes to the waiter (and its timer
    /// is stopped: it never fails the lease afterwards).
    @Test func waiterServedBeforeItsDeadline() async throws {
        let pool = RedisConnectionPool(configuration: try TestEnvironment.configuration(), maximumConnections: 1,
                                       connectionWaitTimeout: .seconds(60))
        let gate = Gate()
        let holding = Task { try await pool.withConnection { _ in await gate.wait() } }
        try await waitUntil("the holder leased the only connection") { pool.openConnections == 1 && pool.idleConnections == 0 }
        let waiting = Task { try await pool.withConnection { connection in try await connection.send("ECHO", "served") } }
        try await waitUntil("the lease is queued") { pool.waitingLeases == 1 }
        gate.open()
        try await holding.value
        #expect(try await waiting.value == .bulk(Array("served".utf8)))
        #expect(pool.waitingLeases == 0)
        await pool.close()
    }
}

/// Polls `condition` (state, not time, decides the outcome); fails after 10 s.
private func waitUntil(_ what: String, _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(10)
    while !condition() {
        guard ContinuousClock.now < deadline else { throw TestSetupError("timed out waiting until \(what)") }
        try await Task.sleep(for: .milliseconds(1))
    }
}

private final class Gauge: Sendable {
    let inUse = Atomic<Int>(0)
    let peak = Atomic<Int>(0)
}
