import Foundation
import Logging

/// One connection to PostgreSQL over libpq, usable from any task.
///
/// Each connection owns one dedicated OS thread that owns the libpq `PGconn`. Calls
/// are queued to that thread and the calling task suspends (the cooperative thread pool
/// is never blocked while waiting for the server); statements run one at a time, in the
/// order they were called. While no statement runs, the thread still watches the socket,
/// so `NOTIFY`s arrive in ``notifications`` as soon as the server sends them.
///
/// ```swift
/// let connection = try await PostgresConnection.connect("postgresql://strata@127.0.0.1:5432/strata")
/// defer { Task { await connection.close() } }   // or close it explicitly when done
///
/// let rows = try await connection.query("select id, email from users where team = $1 and active = $2", "core", true)
/// for row in rows {
///     print(try row.decode(UUID.self, at: 0), try row.decode(String.self, column: "email"))
/// }
///
/// try await connection.listen("strata_changes")
/// for try await note in connection.notifications { print(note.channel, note.payload) }
/// ```
///
/// Errors are ``PostgresError`` values, except that a cancelled task gets
/// `CancellationError`: a cancelled call returns at once, and if its statement was already
/// running the connection asks the server to cancel it (`PQcancel`); later calls on the
/// connection run once that statement has ended. Whether a cancelled write took effect
/// is unknown, as with any cancellation.
///
/// When the connection is lost, the running and queued calls and every later call fail
/// with code ``PostgresError/Code/connectionClosed`` (the message includes libpq's
/// reason) and ``notifications`` throws that error. Connections do not reconnect.
public final class PostgresConnection: Sendable {
    /// Default logger label.
    public static let defaultLoggerLabel = "strata.postgres"

    let _core: _ConnectionCore
    /// The process id of the server backend serving this connection (`pg_backend_pid()`).
    public let backendPID: Int32
    /// The server version as an integer, e.g. `150004` for 15.4.
    public let serverVersion: Int
    /// `host=... port=... dbname=... user=...` this connection was made to (no password).
    public let target: String
    private let logger: Logger

    private init(core: _ConnectionCore, info: _ConnectInfo, target: String, logger: Logger) {
        self._core = core
        self.backendPID = info.backendPID
        self.serverVersion = info.serverVersion
        self.target = target
        self.logger = logger
    }

    deinit {
        // Dropping the last reference closes the connection and ends its thread.
        _core.requestClose()
    }

    /// Opens a connection.
    ///
    /// - Parameters:
    ///   - urlOrConninfo: `postgresql://user:password@host:port/database?sslmode=disable&...`
    ///     or `host=... port=... dbname=... user=...`. Unset parts fall back to libpq's
    ///     environment variables (`PGHOST`, `PGPASSWORD`, ...) and defaults.
    ///   - connectTimeout: how long to try before failing with code ``PostgresError/Code/timeout``.
    ///   - logger: receives connection events and the server's NOTICE/WARNING messages.
    /// - Throws: ``PostgresError`` with code ``PostgresError/Code/invalidConnectionString``
    ///   (nothing was attempted), ``PostgresError/Code/connectionFailed`` or
    ///   ``PostgresError/Code/timeout``; `CancellationError` if the task is cancelled.
    public static func connect(
        _ urlOrConninfo: String,
        connectTimeout: Duration = .seconds(10),
        logger: Logger = Logger(label: PostgresConnection.defaultLoggerLabel)
    ) async throws -> PostgresConnection {
        let options = try _ConnectionString.parse(urlOrConninfo)
        let target = _ConnectionString.target(options)
        try Task.checkCancellation()
        let core = try _ConnectionCore()
        let completion = _Completion<_ConnectInfo>()
        var threadLogger = logger
        threadLogger[metadataKey: "postgres.target"] = "\(target)"
        let loopLogger = threadLogger
        let info = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<_ConnectInfo, any Error>) in
                guard completion.install(continuation) else { return }
                let thread = Thread {
                    _ConnectionLoop(core: core, logger: loopLogger).run(
                        connectionString: urlOrConninfo, target: target, timeout: connectTimeout, completion: completion)
                }
                thread.name = "strata-postgres"
                thread.start()
            }
        } onCancel: {
            if completion.cancel() { core.requestClose() }
        }
        var connectionLogger = threadLogger
        connectionLogger[metadataKey: "postgres.pid"] = "\(info.backendPID)"
        return PostgresConnection(core: core, info: info, target: target, logger: connectionLogger)
    }

    /// Runs one statement with parameters `$1`, `$2`, ... and returns its rows.
    ///
    /// Parameters are sent separately from the SQL (never interpolated), in text format;
    /// `nil` is NULL. Uses the extended query protocol, so `sql` must be a single statement.
    ///
    /// ```swift
    /// let rows = try await connection.query("select name from users where id = $1 and deleted_at is null", userID)
    /// ```
    @discardableResult
    public func query(_ sql: String, _ parameters: (any PostgresEncodable & Sendable)?...) async throws -> PostgresRows {
        try await query(sql, parameters: parameters)
    }

    /// Runs one statement with an array of parameters; see ``query(_:_:)``.
    @discardableResult
    public func query(_ sql: String, parameters: [(any PostgresEncodable & Sendable)?]) async throws -> PostgresRows {
        let (values, types) = try Self._encode(parameters)
        return try await _rows(.query(sql: sql, parameters: values, types: types))
    }

    /// Runs one statement as a prepared statement of this connection: the server parses and
    /// plans `sql` on its first use here and afterwards only binds and executes it, which
    /// saves the planning of statements that run again and again (a worker's polling
    /// queries). Otherwise as ``query(_:_:)``.
    ///
    /// The connection keeps one server-side statement per distinct `sql` and parameter types
    /// for its lifetime, so pass a fixed SQL text, never one built from values. If the
    /// statement is gone (`DEALLOCATE ALL`, `DISCARD ALL`) or a schema change altered its
    /// result columns, it is prepared anew once, transparently (inside a transaction block,
    /// which the failed call aborted, the error is thrown and the next call prepares anew).
    ///
    /// ```swift
    /// let rows = try await connection.preparedQuery("select seq from strata.change_log where seq > $1 order by seq limit 100", cursor)
    /// ```
    @discardableResult
    public func preparedQuery(_ sql: String, _ parameters: (any PostgresEncodable & Sendable)?...) async throws -> PostgresRows {
        try await preparedQuery(sql, parameters: parameters)
    }

    /// Runs one prepared statement with an array of parameters; see ``preparedQuery(_:_:)``.
    @discardableResult
    public func preparedQuery(_ sql: String, parameters: [(any PostgresEncodable & Sendable)?]) async throws -> PostgresRows {
        let (values, types) = try Self._encode(parameters)
        return try await _rows(.prepared(sql: sql, parameters: values, types: types))
    }

    /// Runs one or more `;`-separated statements with the simple query protocol, without
    /// parameters, discarding any rows. Several statements run in one implicit transaction
    /// unless they contain their own `BEGIN`/`COMMIT`.
    ///
    /// ```swift
    /// try await connection.execute("create temp table t(id int primary key); insert into t values (1)")
    /// ```
    public func execute(_ sql: String) async throws {
        _ = try await _run(.simple(sql: sql))
    }

    /// Starts listening on a channel. The name is quoted, so it is case-sensitive:
    /// `listen("Jobs")` receives `NOTIFY "Jobs"` and `pg_notify('Jobs', ...)`, not `NOTIFY Jobs`.
    public func listen(_ channel: String) async throws {
        try await execute("LISTEN " + Self.quoteIdentifier(channel))
    }

    /// Stops listening on a channel (quoted like ``listen(_:)``).
    public func unlisten(_ channel: String) async throws {
        try await execute("UNLISTEN " + Self.quoteIdentifier(channel))
    }

    /// Sends a notification (`pg_notify(channel, payload)`).
    public func notify(_ channel: String, payload: String = "") async throws {
        try await query("select pg_notify($1, $2)", channel, payload)
    }

    /// The notifications this connection receives, buffered without bound from the
    /// moment it connected. Single-consumer; see ``PostgresNotificationSequence``.
    public var notifications: PostgresNotificationSequence {
        PostgresNotificationSequence(_base: _core.notifications)
    }

    /// Closes the connection: fails queued and running calls with
    /// ``PostgresError/Code/connectionClosed``, finishes ``notifications``, and returns
    /// once the connection's thread has called `PQfinish` and ended. Idempotent.
    public func close() async {
        _core.requestClose()
        await _core.waitForExit()
    }

    /// Runs `body` on the connection's own thread, with the connection to itself: the
    /// body's statements and waits block that thread, and no task of the cooperative pool
    /// is involved until the body returns. For a loop that talks to the server all the time
    /// (a queue consumer, the outbox worker), this saves the hand-off to the connection's
    /// thread and back that every ``query(_:_:)`` costs.
    ///
    /// Calls of other tasks on this connection wait until the body returns. While it runs,
    /// notifications are not delivered to ``notifications``: the body sees them with
    /// ``PostgresBlockingSession/waitForNotification(timeout:)``.
    ///
    /// The body must return when the session is interrupted (``interruptBlockingSession()``,
    /// ``close()``, or this task's cancellation): then waits return at once, a statement in
    /// progress is cancelled on the server, and new statements throw `CancellationError`.
    /// If the connection is lost, the session's calls throw
    /// ``PostgresError/Code/connectionClosed``.
    ///
    /// ```swift
    /// try await connection.listen("jobs")
    /// try await connection.withBlockingSession { session in
    ///     while !session.isInterrupted {
    ///         let jobs = try session.preparedQuery("select id from jobs where state = 'new' limit 100")
    ///         if jobs.isEmpty { _ = try session.waitForNotification(timeout: .seconds(1)) }
    ///     }
    /// }
    /// ```
    public func withBlockingSession<T: Sendable>(_ body: @escaping @Sendable (PostgresBlockingSession) throws -> T) async throws -> T {
        let outcome = _SessionOutcome<T>()
        _ = try await _run(.session { session in
            outcome.set(Result { try body(session) })
        })
        guard let result = outcome.take() else {
            throw PostgresError.closed("the connection was closed before the session ran")
        }
        return try result.get()
    }

    /// Interrupts the blocking session running on this connection, or the next one if none
    /// runs: see ``withBlockingSession(_:)``. Callable from any thread or task.
    public func interruptBlockingSession() {
        _core.interruptSession()
    }

    /// Whether ``close()`` was called or the connection was lost.
    public var isClosed: Bool { _core.isClosed }

    /// Quotes an SQL identifier: `a"b` becomes `"a""b"`.
    public static func quoteIdentifier(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    // MARK: - Internals

    static func _encode(_ parameters: [(any PostgresEncodable & Sendable)?]) throws -> ([String?], [UInt32]) {
        var values: [String?] = []
        var types: [UInt32] = []
        values.reserveCapacity(parameters.count)
        types.reserveCapacity(parameters.count)
        for (index, parameter) in parameters.enumerated() {
            guard let parameter else {
                values.append(nil)
                types.append(0)
                continue
            }
            let text: String?
            do {
                text = try parameter.encodePostgresText()
            } catch let error as PostgresError {
                var error = error
                error.message = "parameter $\(index + 1): \(error.message)"
                throw error
            } catch {
                throw PostgresError(code: .encoding, message: "parameter $\(index + 1): \(error)")
            }
            if let text, text.utf8.contains(0) {
                throw PostgresError(
                    code: .encoding,
                    message: "parameter $\(index + 1) contains a NUL byte, which PostgreSQL text cannot hold",
                    hint: "send binary data as [UInt8] (bytea)")
            }
            values.append(text)
            types.append(type(of: parameter).postgresDataType.rawValue)
        }
        return (values, types)
    }

    /// Runs a request that must answer with a result.
    private func _rows(_ kind: _Request.Kind) async throws -> PostgresRows {
        guard let result = try await _run(kind) else {
            throw PostgresError(code: .protocolViolation, message: "the server sent no result")
        }
        return PostgresRows(result)
    }

    private func _run(_ kind: _Request.Kind) async throws -> _ResultBox? {
        try Task.checkCancellation()
        let request = _Request(kind)
        let core = _core
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<_ResultBox?, any Error>) in
                if request.completion.install(continuation) { core.enqueue(request) }
            }
        } onCancel: {
            if request.completion.cancel() { core.cancel(request) }
        }
    }
}
