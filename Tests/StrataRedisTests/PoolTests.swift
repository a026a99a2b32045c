import StrataRedis
import Synchronization
import Testing

@Suite("RedisConnectionPool")
struct PoolTests {
    @Test func moreTasksThanConnectionsWaitAndAllSucceed() async throws {
        let pool = RedisConnectionPool(configuration: try TestEnvironment.configuration(), maximumConnections: 3)
        let key = TestEnvironment.uniqueKey()
        let gauge = Gauge()
        let clientIDs = try await withThrowingTaskGroup(of: Int64.self) { group in
            for _ in 0..<40 {
                group.addTask {
                    try await pool.withConnection { connection in
                        let now = gauge.inUse.add(1, ordering: .relaxed).newValue
                        gauge.peak.max(now, ordering: .relaxed)
                        defer { gauge.inUse.subtract(1, ordering: .relaxed) }
                        try await connection.send("INCR", RedisArgument(key))
                        _ = try await connection.send("BLPOP", RedisArgument(key + ":none"), "0.01")  // hold it ~10 ms
                        return try await connection.send("CLIENT", "ID").int ?? -1
                    }
                }
            }
            return try await group.reduce(into: Set<Int64>()) { $0.insert($1) }
        }
        #expect(gauge.peak.load(ordering: .relaxed) <= 3)
        #expect(gauge.peak.load(ordering: .relaxed) >= 2, "tasks should have overlapped")
        #expect(clientIDs.count <= 3)
        #expect(pool.openConnections <= 3)
        #expect(try await pool.send("GET", RedisArgument(key)).int == 40)
        let replies = try await pool.pipeline([["DEL", RedisArgument(key)], ["EXISTS", RedisArgument(key)]])
        #expect(replies == [.integer(1), .integer(0)])
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
        let holding = Task {
            try await pool.withConnection { connection in
                try await connection.send("BLPOP", RedisArgument(TestEnvironment.uniqueKey()), "0.5")
            }
        }
        try await waitUntilLeased(pool)
        let waiting = Task { try await pool.send("PING") }
        try await Task.sleep(for: .milliseconds(50))
        await pool.close()
        let waiterError = await expectRedisError { _ = try await waiting.value }
        #expect(waiterError?.code == .poolClosed)
        #expect(try await holding.value == .null, "the leased command finishes")
        let after = await expectRedisError { try await pool.send("PING") }
        #expect(after?.code == .poolClosed)
        #expect(pool.openConnections == 0)
    }

    @Test func cancelledWaiterLeavesTheQueue() async throws {
        let pool = RedisConnectionPool(configuration: try TestEnvironment.configuration(), maximumConnections: 1)
        let holding = Task {
            try await pool.withConnection { connection in
                try await connection.send("BLPOP", RedisArgument(TestEnvironment.uniqueKey()), "0.5")
            }
        }
        try await waitUntilLeased(pool)
        let waiting = Task { try await pool.send("PING") }
        try await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        _ = try await holding.value
        #expect(try await pool.send("PING") == .status("PONG"))
        await pool.close()
    }
}

/// Waits until the pool's only connection is open and leased.
private func waitUntilLeased(_ pool: RedisConnectionPool) async throws {
    for _ in 0..<500 {
        if pool.openConnections == 1 && pool.idleConnections == 0 { return }
        try await Task.sleep(for: .milliseconds(2))
    }
    throw TestSetupError("the holding task never leased the connection")
}

private final class Gauge: Sendable {
    let inUse = Atomic<Int>(0)
    let peak = Atomic<Int>(0)
}
