import Foundation
import StrataPostgres
import Testing

@Suite("Threading, cancellation and connection loss", .timeLimit(.minutes(1)))
struct ConcurrencyTests {
    @Test func concurrentQueriesOnOneConnectionAreSerialized() async throws {
        try await withConnection { connection in
            try await connection.execute("create temp table log(n int8)")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<200 {
                    group.addTask {
                        let rows = try await connection.query("select $1::int8 * 2, pg_backend_pid()", i)
                        #expect(try rows[0].decode(Int.self, at: 0) == i * 2)
                        try await connection.query("insert into log values ($1)", i)
                    }
                }
                try await group.waitForAll()
            }
            let row = try await connection.query("select count(*), count(distinct n), sum(n) from log")[0]
            #expect(try row.decode(Int.self, at: 0) == 200)
            #expect(try row.decode(Int.self, at: 1) == 200)
            #expect(try row.decode(Int.self, at: 2) == (0..<200).reduce(0, +))
        }
    }

    @Test func callsRunInTheOrderTheyWereMade() async throws {
        try await withConnection { connection in
            try await connection.execute("create temp table seq(n int8, at timestamptz default clock_timestamp())")
            // Started from one task without awaiting in between: FIFO order.
            async let a: PostgresRows = connection.query("insert into seq(n) select 1 from pg_sleep(0.05)")
            try await Task.sleep(for: .milliseconds(10))
            async let b: PostgresRows = connection.query("insert into seq(n) values (2)")
            try await Task.sleep(for: .milliseconds(10))
            async let c: PostgresRows = connection.query("insert into seq(n) values (3)")
            _ = try await (a, b, c)
            let rows = try await connection.query("select n from seq order by at")
            #expect(try rows.map { try $0.decode(Int.self, at: 0) } == [1, 2, 3])
        }
    }

    @Test func cancellingARunningQueryCancelsItOnTheServer() async throws {
        try await withConnection { connection in
            let task = Task { try await connection.query("select pg_sleep(10)") }
            try await Task.sleep(for: .milliseconds(200))
            let (result, elapsed) = await measure {
                task.cancel()
                return await task.result
            }
            guard case .failure(let error) = result else {
                Issue.record("the query should have been cancelled")
                return
            }
            #expect(error is CancellationError, "got \(error)")
            #expect(elapsed < .seconds(8), "cancelled before pg_sleep(10) ended")
            // The server statement was cancelled too: the next call does not wait 10 s.
            let (value, next) = try await measure { try await connection.query("select 5")[0].decode(Int.self, at: 0) }
            #expect(value == 5)
            #expect(next < .seconds(8), "the follow-up query waited \(next) (pg_sleep(10) still running?)")
            #expect(!connection.isClosed)
        }
    }

    @Test func cancellingAQueuedCallRemovesIt() async throws {
        // The first call blocks on an advisory lock that a second connection holds, so the
        // second call is certainly queued behind it when it is cancelled (no timing involved).
        let holder = try await TestDatabase.connect()
        defer { Task { await holder.close() } }
        let lockKey = Int.random(in: 1...Int(Int32.max))
        try await holder.query("select pg_advisory_lock($1)", lockKey)
        try await withConnection { connection in
            try await connection.execute("create temp table q(n int)")
            let blocked = Task { try await connection.query("select pg_advisory_lock($1)", lockKey) }
            // Wait until the blocked call is really waiting for the lock on the server.
            var waiting = false
            for _ in 0..<500 where !waiting {
                let rows = try await holder.query(
                    "select count(*) from pg_locks where locktype = 'advisory' and not granted and pid = $1",
                    Int(connection.backendPID))
                waiting = try rows[0].decode(Int.self, at: 0) > 0
                if !waiting { try await Task.sleep(for: .milliseconds(10)) }
            }
            #expect(waiting, "the first call never reached the lock")
            let queued = Task { try await connection.query("insert into q values (1)") }
            queued.cancel()
            #expect(await queued.result.failure is CancellationError)
            try await holder.query("select pg_advisory_unlock($1)", lockKey)
            _ = try await blocked.value
            #expect(try await connection.query("select count(*) from q")[0].decode(Int.self, at: 0) == 0)
            try await connection.query("select pg_advisory_unlock($1)", lockKey)
        }
    }

    @Test func terminatedBackendFailsPendingCallsAndEndsNotifications() async throws {
        let victim = try await TestDatabase.connect()
        let collector = NotificationCollector(victim)
        try await victim.listen("victim")
        let pending = Task { try await victim.query("select pg_sleep(30)") }
        let queued = Task {
            try await Task.sleep(for: .milliseconds(50))
            return try await victim.query("select 1")
        }
        try await Task.sleep(for: .milliseconds(200))
        try await withConnection { admin in
            let row = try await admin.query("select pg_terminate_backend($1)", victim.backendPID)[0]
            #expect(try row.decode(Bool.self, at: 0))
        }
        let (result, elapsed) = await measure { await pending.result }
        let error = try #require(result.failure as? PostgresError, "got \(result)")
        #expect(error.code == .connectionClosed)
        #expect(error.sqlState == "57P01")
        #expect(error.description.contains("terminating connection due to administrator command"), "\(error)")
        #expect(elapsed < .seconds(20))
        let queuedError = try #require(await queued.result.failure as? PostgresError)
        #expect(queuedError.code == .connectionClosed)

        let end = try await collector.waitForEnd()
        guard case .failed(let failure) = end, let closed = failure as? PostgresError else {
            Issue.record("notifications should end with an error, got \(String(describing: end))")
            return
        }
        #expect(closed.code == .connectionClosed)
        #expect(victim.isClosed)
        let later = try #require(await catching { try await victim.query("select 1") }.failure as? PostgresError)
        #expect(later.code == .connectionClosed)
        await victim.close()  // still fine after loss
    }

    @Test func terminatedIdleBackendIsNoticedWithoutAQuery() async throws {
        let victim = try await TestDatabase.connect()
        let collector = NotificationCollector(victim)
        try await withConnection { admin in
            _ = try await admin.query("select pg_terminate_backend($1)", victim.backendPID)
        }
        let end = try await collector.waitForEnd()
        guard case .failed(let failure) = end else {
            Issue.record("notifications should end with an error, got \(String(describing: end))")
            return
        }
        let error = try #require(failure as? PostgresError)
        #expect(error.code == .connectionClosed)
        #expect(error.sqlState == "57P01")
        #expect(error.message.contains("terminating connection due to administrator command"), "\(error)")
        #expect(victim.isClosed)
        await victim.close()
    }

    @Test func waitingOnTheServerDoesNotBlockTheCooperativePool() async throws {
        // More queries than the cooperative pool has threads wait on the server for an
        // advisory lock that only async work on that pool releases: it sees them all waiting
        // (pg_locks) and then unlocks. An implementation that blocked a pool thread per
        // waiting query would leave that work no thread; the waiters' lock_timeout then ends
        // the deadlock with errors, and the test fails instead of hanging. No clock is read.
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let count = max(6, cores * 3)
        let lockKey: Int64 = 0x5713_0001
        let control = try await TestDatabase.connect()
        _ = try await control.query("select pg_advisory_lock($1)", lockKey)
        var waiters: [PostgresConnection] = []
        for _ in 0..<count {
            let connection = try await TestDatabase.connect()
            try await connection.execute("set lock_timeout = '30s'")
            waiters.append(connection)
        }
        let pids = waiters.map { Int64($0.backendPID) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for connection in waiters {
                group.addTask {
                    _ = try await connection.query("select pg_advisory_lock_shared($1), pg_advisory_unlock_shared($1)", lockKey)
                }
            }
            group.addTask {
                // Other async work, on the cooperative pool, while every waiter is blocked on the server.
                var waiting = 0
                while waiting < count {
                    try await Task.sleep(for: .milliseconds(5))
                    let rows = try await control.query(
                        "select count(*)::int8 from pg_locks where locktype = 'advisory' and not granted and pid = any($1)", pids)
                    waiting = Int(try rows[0].decode(Int64.self, at: 0))
                }
                _ = try await control.query("select pg_advisory_unlock($1)", lockKey)
            }
            try await group.waitForAll()
        }
        for connection in waiters { await connection.close() }
        await control.close()
    }

    @Test func manySequentialCallsThenCloseNeverLoseAWakeUp() async throws {
        let connection = try await TestDatabase.connect()
        for i in 0..<2000 {
            let value = try await connection.query("select $1::int4", Int32(i))[0].decode(Int32.self, at: 0)
            if value != Int32(i) {
                Issue.record("query \(i) returned \(value)")
                break
            }
        }
        let (_, elapsed) = await measure { await connection.close() }
        #expect(elapsed < .seconds(20))
    }

    @Test func droppingTheLastReferenceClosesTheConnection() async throws {
        var connection: PostgresConnection? = try await TestDatabase.connect()
        let pid = connection!.backendPID
        _ = try await connection!.query("select 1")
        connection = nil
        try await withConnection { observer in
            let deadline = ContinuousClock.now + .seconds(5)
            var alive = true
            while alive, ContinuousClock.now < deadline {
                alive = try await observer.query("select count(*) from pg_stat_activity where pid = $1", pid)[0].decode(Int.self, at: 0) > 0
                if alive { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(!alive, "backend \(pid) is still connected after the connection was released")
        }
    }
}
