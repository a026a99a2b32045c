import StrataPostgres
import Synchronization
import Testing

@Suite("Blocking sessions", .timeLimit(.minutes(1)))
struct BlockingSessionTests {
    @Test func statementsRunAndReturnTheirRows() async throws {
        try await withConnection { connection in
            let (sum, names, tag) = try await connection.withBlockingSession { session in
                try session.execute("create temp table t(id int primary key, name text)")
                let inserted = try session.query("insert into t select g, 'n' || g from generate_series(1, 5) g")
                var sum = 0
                for _ in 0..<3 {
                    let rows = try session.preparedQuery("select sum(id)::int from t where id >= $1", 2)
                    sum += try rows[0].decode(Int.self, at: 0)
                }
                let names = try session.query("select name from t where id = any($1::int[]) order by id", ["1", "3"]).map {
                    try $0.decode(String.self, at: 0)
                }
                return (sum, names, inserted.commandTag)
            }
            #expect(sum == 3 * 14)
            #expect(names == ["n1", "n3"])
            #expect(tag == "INSERT 0 5")
            // The connection serves async calls again, with the session's temp table.
            #expect(try await connection.query("select count(*)::int from t")[0].decode(Int.self, at: 0) == 5)
        }
    }

    @Test func aServerErrorIsThrownAndTheSessionGoesOn() async throws {
        try await withConnection { connection in
            let (error, after) = try await connection.withBlockingSession { session -> (PostgresError?, Int) in
                var caught: PostgresError?
                do {
                    try session.query("select 1 / $1::int", 0)
                } catch let error as PostgresError {
                    caught = error
                }
                return (caught, try session.query("select 2")[0].decode(Int.self, at: 0))
            }
            #expect(error?.sqlState == "22012")
            #expect(error?.code == .server)
            #expect(after == 2)
        }
        // An error thrown by the body comes out of withBlockingSession.
        struct Stop: Error {}
        try await withConnection { connection in
            await #expect(throws: Stop.self) {
                try await connection.withBlockingSession { _ in throw Stop() }
            }
            let three = try await connection.query("select 3")[0].decode(Int.self, at: 0)
            #expect(three == 3)
        }
    }

    @Test func aNotificationEndsTheWaitAndATimeoutDoesNot() async throws {
        try await withConnection { listener in
            try await listener.listen("wake")
            let pid = listener.backendPID
            let sender = Task {
                try await Task.sleep(for: .milliseconds(200))
                try await withConnection { try await $0.notify("wake", payload: "ignored") }
            }
            let clock = ContinuousClock()
            let (early, timeoutTook, woken, wakeTook, pending, drained) = try await listener.withBlockingSession { session in
                var start = clock.now
                // nothing sent yet: the wait ends by its timeout
                let early = try session.waitForNotification(timeout: .milliseconds(50))
                let timeoutTook = clock.now - start
                start = clock.now
                let woken = try session.waitForNotification(timeout: .seconds(20))
                let wakeTook = clock.now - start
                // one sent while a statement runs is seen by the next wait at once
                try session.query("select pg_notify('wake', 'x'), pg_notify('wake', 'y'), pg_sleep(0.05)")
                let pending = try session.waitForNotification(timeout: .seconds(20))
                // several count as one
                let drained = try session.waitForNotification(timeout: .milliseconds(20))
                return (early, timeoutTook, woken, wakeTook, pending, drained)
            }
            try await sender.value
            #expect(!early)
            #expect(timeoutTook >= .milliseconds(50))
            #expect(woken)
            #expect(wakeTook < .seconds(10))
            #expect(pending)
            #expect(!drained)
            // After the session, notifications go to the sequence again.
            let collector = NotificationCollector(listener)
            try await withConnection { try await $0.notify("wake", payload: "after") }
            #expect(try await collector.wait(for: 1).map(\.payload) == ["after"])
            #expect(listener.backendPID == pid)
        }
    }

    @Test func sleepIgnoresNotificationsButKeepsThem() async throws {
        try await withConnection { connection in
            try await connection.listen("kept")
            let clock = ContinuousClock()
            let (slept, seen) = try await connection.withBlockingSession { session in
                let start = clock.now
                try session.query("select pg_notify('kept', '')")
                try session.sleep(for: .milliseconds(100))
                let slept = clock.now - start
                return (slept, try session.waitForNotification(timeout: .zero))
            }
            #expect(slept >= .milliseconds(100))
            #expect(seen)
        }
    }

    @Test func interruptEndsWaitsAndCancelsTheRunningStatement() async throws {
        try await withConnection { connection in
            let clock = ContinuousClock()
            let interrupter = Task {
                try await Task.sleep(for: .milliseconds(200))
                connection.interruptBlockingSession()
            }
            let (woken, took, interrupted) = try await connection.withBlockingSession { session in
                let start = clock.now
                let woken = try session.waitForNotification(timeout: .seconds(30))
                return (woken, clock.now - start, session.isInterrupted)
            }
            try await interrupter.value
            #expect(!woken)
            #expect(took < .seconds(10))
            #expect(interrupted)

            // A statement in progress is cancelled on the server; new ones are not started.
            let interrupter2 = Task {
                try await Task.sleep(for: .milliseconds(200))
                connection.interruptBlockingSession()
            }
            let (statement, next) = try await connection.withBlockingSession { session -> ((any Error)?, (any Error)?) in
                var statement: (any Error)?
                do { try session.query("select pg_sleep(30)") } catch { statement = error }
                var next: (any Error)?
                do { try session.query("select 1") } catch { next = error }
                return (statement, next)
            }
            try await interrupter2.value
            #expect((statement as? PostgresError)?.sqlState == "57014")
            #expect(next is CancellationError)
            // The interruption ended with the session.
            #expect(try await connection.withBlockingSession { try $0.query("select 4")[0].decode(Int.self, at: 0) } == 4)
        }
    }

    @Test func callsOfOtherTasksWaitForTheSession() async throws {
        try await withConnection { connection in
            let order = Mutex<[String]>([])
            let other = Task {
                try await Task.sleep(for: .milliseconds(100))
                try await connection.query("select 1")
                order.withLock { $0.append("other") }
            }
            try await connection.withBlockingSession { session in
                try session.sleep(for: .milliseconds(400))
                try session.query("select 2")
                order.withLock { $0.append("session") }
            }
            try await other.value
            #expect(order.withLock { $0 } == ["session", "other"])
        }
    }

    @Test func aLostConnectionFailsTheSessionsCalls() async throws {
        try await withConnection { connection in
            let pid = connection.backendPID
            let killer = Task {
                try await Task.sleep(for: .milliseconds(200))
                _ = try await withConnection { try await $0.query("select pg_terminate_backend($1::int)", Int(pid)) }
            }
            let (waitError, afterwards) = try await connection.withBlockingSession { session -> ((any Error)?, (any Error)?) in
                var waitError: (any Error)?
                do { _ = try session.waitForNotification(timeout: .seconds(20)) } catch { waitError = error }
                var afterwards: (any Error)?
                do { try session.query("select 1") } catch { afterwards = error }
                return (waitError, afterwards)
            }
            try await killer.value
            #expect((waitError as? PostgresError)?.code == .connectionClosed)
            #expect((afterwards as? PostgresError)?.code == .connectionClosed)
            #expect(connection.isClosed)
            await #expect(throws: PostgresError.self) { try await connection.query("select 1") }
        }
    }

    @Test func cancellingTheAwaitingTaskInterruptsTheSession() async throws {
        try await withConnection { connection in
            let ended = Mutex(false)
            let task = Task {
                try await connection.withBlockingSession { session in
                    while !session.isInterrupted { _ = try session.waitForNotification(timeout: .seconds(1)) }
                    ended.withLock { $0 = true }
                }
            }
            try await Task.sleep(for: .milliseconds(200))
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
            // The body saw the interruption and returned: the connection serves again.
            #expect(try await connection.query("select 5")[0].decode(Int.self, at: 0) == 5)
            #expect(ended.withLock { $0 })
        }
    }
}
