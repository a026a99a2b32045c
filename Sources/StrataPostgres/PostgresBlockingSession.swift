import Synchronization

/// Blocking use of a connection from its own thread: see
/// ``PostgresConnection/withBlockingSession(_:)``.
///
/// Valid only inside the body it was passed to, and only on that thread.
public final class PostgresBlockingSession {
    private var loop: _ConnectionLoop?

    init(loop: _ConnectionLoop) { self.loop = loop }

    func _end() { loop = nil }

    private func live() -> _ConnectionLoop {
        guard let loop else { preconditionFailure("a PostgresBlockingSession was used after its body returned") }
        return loop
    }

    /// Whether the session should end: ``PostgresConnection/interruptBlockingSession()`` or
    /// ``PostgresConnection/close()`` was called, or the awaiting task was cancelled.
    public var isInterrupted: Bool { live().sessionInterrupted }

    /// Runs one statement with parameters; as ``PostgresConnection/query(_:_:)``.
    @discardableResult
    public func query(_ sql: String, _ parameters: (any PostgresEncodable & Sendable)?...) throws -> PostgresRows {
        try query(sql, parameters: parameters)
    }

    /// Runs one statement with an array of parameters; as ``PostgresConnection/query(_:parameters:)``.
    @discardableResult
    public func query(_ sql: String, parameters: [(any PostgresEncodable & Sendable)?]) throws -> PostgresRows {
        let (values, types) = try PostgresConnection._encode(parameters)
        return try rows(.query(sql: sql, parameters: values, types: types))
    }

    /// Runs one prepared statement of the connection; as ``PostgresConnection/preparedQuery(_:_:)``
    /// (the connection's prepared statements are shared with its async calls).
    @discardableResult
    public func preparedQuery(_ sql: String, _ parameters: (any PostgresEncodable & Sendable)?...) throws -> PostgresRows {
        try preparedQuery(sql, parameters: parameters)
    }

    /// Runs one prepared statement with an array of parameters.
    @discardableResult
    public func preparedQuery(_ sql: String, parameters: [(any PostgresEncodable & Sendable)?]) throws -> PostgresRows {
        let (values, types) = try PostgresConnection._encode(parameters)
        return try rows(.prepared(sql: sql, parameters: values, types: types))
    }

    /// Runs statements with the simple query protocol; as ``PostgresConnection/execute(_:)``.
    public func execute(_ sql: String) throws {
        _ = try live().runBlocking(.simple(sql: sql))
    }

    /// Waits for a notification on a channel the connection listens to. Returns `true` when
    /// one arrived since the previous wait (at once if one arrived meanwhile, e.g. during a
    /// statement; several count as one), `false` after `timeout` or when the session is
    /// interrupted. Payloads are not kept: a notification here means "look again".
    public func waitForNotification(timeout: Duration) throws -> Bool {
        try live().waitBlocking(timeout: timeout, forNotification: true)
    }

    /// Sleeps for `duration`, returning early only when the session is interrupted.
    /// Notifications that arrive meanwhile are kept for the next ``waitForNotification(timeout:)``.
    public func sleep(for duration: Duration) throws {
        _ = try live().waitBlocking(timeout: duration, forNotification: false)
    }

    private func rows(_ kind: _Request.Kind) throws -> PostgresRows {
        guard let result = try live().runBlocking(kind) else {
            throw PostgresError(code: .protocolViolation, message: "the server sent no result")
        }
        return PostgresRows(result)
    }
}

/// The result of a session's body, handed from the connection's thread to the caller.
final class _SessionOutcome<T: Sendable>: Sendable {
    private let value = Mutex<Result<T, any Error>?>(nil)
    func set(_ result: Result<T, any Error>) { value.withLock { $0 = result } }
    func take() -> Result<T, any Error>? { value.withLock { $0.take() } }
}
