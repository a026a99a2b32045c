import Foundation
import StrataPostgres
import Synchronization
import Testing

/// The integration tests need a real server; they fail (never skip) without one.
struct MissingTestDatabase: Error, CustomStringConvertible {
    var description: String {
        "STRATA_TEST_PG_URL is not set. Start a server (STRATA_HOME=... STRATA_PG_PORT=55450 scripts/pg.sh start) "
            + "and run with STRATA_TEST_PG_URL=postgresql://postgres@127.0.0.1:55450/strata"
    }
}

enum TestDatabase {
    static func url() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["STRATA_TEST_PG_URL"], !url.isEmpty else {
            throw MissingTestDatabase()
        }
        return url
    }

    /// The URL's parts, for building conninfo strings and bad URLs.
    static func components() throws -> (host: String, port: Int, user: String, database: String) {
        let url = try url()
        guard let parts = URLComponents(string: url), let host = parts.host else {
            Issue.record("STRATA_TEST_PG_URL is not a URL: \(url)")
            throw MissingTestDatabase()
        }
        let database = String(parts.path.drop(while: { $0 == "/" }))
        return (host, parts.port ?? 5432, parts.user ?? "postgres", database.isEmpty ? "postgres" : database)
    }

    static func connect() async throws -> PostgresConnection {
        try await PostgresConnection.connect(try url(), connectTimeout: .seconds(5))
    }
}

/// Runs `body` with a fresh connection and closes it afterwards.
func withConnection<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
    let connection = try await TestDatabase.connect()
    do {
        let result = try await body(connection)
        await connection.close()
        return result
    } catch {
        await connection.close()
        throw error
    }
}

/// Collects a connection's notifications in a background task (iterating only once, as
/// the sequence is single-consumer), so tests can wait for them with a deadline.
final class NotificationCollector: Sendable {
    enum End: Sendable {
        case finished
        case failed(any Error)
    }

    private let state = Mutex<(received: [PostgresNotification], end: End?)>(([], nil))

    init(_ connection: PostgresConnection) {
        let notifications = connection.notifications
        Task { [self] in
            do {
                for try await notification in notifications {
                    self.state.withLock { $0.received.append(notification) }
                }
                self.state.withLock { $0.end = .finished }
            } catch {
                self.state.withLock { $0.end = .failed(error) }
            }
        }
    }

    var received: [PostgresNotification] { state.withLock { $0.received } }
    var end: End? { state.withLock { $0.end } }

    /// Waits until `count` notifications arrived; returns them, or what arrived by the deadline.
    @discardableResult
    func wait(for count: Int, timeout: Duration = .seconds(5)) async throws -> [PostgresNotification] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let received = self.received
            if received.count >= count { return received }
            try await Task.sleep(for: .milliseconds(5))
        }
        return received
    }

    /// Waits until the sequence ended.
    func waitForEnd(timeout: Duration = .seconds(5)) async throws -> End? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let end { return end }
            try await Task.sleep(for: .milliseconds(5))
        }
        return end
    }
}

/// Measures how long `body` takes.
func measure<T>(_ body: () async throws -> T) async rethrows -> (T, Duration) {
    let start = ContinuousClock.now
    let result = try await body()
    return (result, ContinuousClock.now - start)
}
