import Logging
import StrataPostgres
import Synchronization

/// What an ``L3ConnectionPool`` needs.
public struct L3PoolConfiguration: Sendable {
    /// `postgresql://user@host:port/database` (or a libpq conninfo string).
    public var url: String
    /// Connections opened at most (opened lazily).
    public var maximumConnections: Int = 4
    /// Bound on opening one connection.
    public var connectTimeout: Duration = .seconds(2)
    /// How long a call waits for a free connection before failing.
    public var acquireTimeout: Duration = .seconds(1)
    /// Bound on one statement: enforced by the client (the call returns and the statement
    /// is cancelled) and by the server (`statement_timeout` of each session).
    public var queryTimeout: Duration = .seconds(2)
    public var logger = Logger(label: "strata.l3")

    public init(url: String) { self.url = url }
}

/// Why an L3 call failed before reaching PostgreSQL's answer.
public struct L3PoolError: Error, CustomStringConvertible, Sendable, Hashable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable { case acquireTimedOut, queryTimedOut, closed, invalidConfiguration }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// Every connection stayed busy for the acquire timeout.
        public static let acquireTimedOut = Code(.acquireTimedOut)
        /// The statement ran longer than the query timeout (it was cancelled).
        public static let queryTimedOut = Code(.queryTimedOut)
        /// The pool was closed.
        public static let closed = Code(.closed)
        /// A configuration value is invalid.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "L3PoolError(\(code)): \(message)" }
}

/// A small bounded pool of PostgreSQL connections for L3 lookups, with timeouts on
/// acquiring a connection and on each statement.
///
/// ```swift
/// let pool = try L3ConnectionPool(configuration: L3PoolConfiguration(url: "postgresql://app@127.0.0.1/strata"))
/// let rows = try await pool.query("select strata.check_access($1, $2, $3, $4)", Int64(42), "project", Int64(19), "read")
/// await pool.close()
/// ```
///
/// A connection that timed out or was lost is closed and replaced on demand; callers
/// waiting for a connection are served in order.
public final class L3ConnectionPool: Sendable {
    public let configuration: L3PoolConfiguration

    enum Grant: Sendable {
        case connection(PostgresConnection)
        /// A slot freed up: open a new connection.
        case open
    }

    struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Grant, any Error>
    }

    struct State {
        var idle: [PostgresConnection] = []
        var total = 0
        var waiters: [Waiter] = []
        var nextWaiter: UInt64 = 0
        var closed = false
    }

    private let state = Mutex(State())
    private let logger: Logger

    /// - Throws: ``L3PoolError`` `.invalidConfiguration`.
    public init(configuration: L3PoolConfiguration) throws(L3PoolError) {
        guard configuration.maximumConnections >= 1 else {
            throw L3PoolError(code: .invalidConfiguration, message: "maximumConnections must be at least 1, got \(configuration.maximumConnections)")
        }
        for (name, value) in [("connectTimeout", configuration.connectTimeout), ("acquireTimeout", configuration.acquireTimeout),
                              ("queryTimeout", configuration.queryTimeout)] where value <= .zero {
            throw L3PoolError(code: .invalidConfiguration, message: "\(name) must be positive, got \(value)")
        }
        self.configuration = configuration
        self.logger = configuration.logger
    }

    /// Runs one statement (parameters `$1`, `$2`, ...) on a pooled connection.
    @discardableResult
    public func query(_ sql: String, _ parameters: (any PostgresEncodable & Sendable)?...) async throws -> PostgresRows {
        try await query(sql, parameters: parameters)
    }

    /// Runs one statement with an array of parameters.
    @discardableResult
    public func query(_ sql: String, parameters: [(any PostgresEncodable & Sendable)?]) async throws -> PostgresRows {
        let connection = try await acquire()
        do {
            let rows = try await _withTimeout(configuration.queryTimeout) {
                try await connection.query(sql, parameters: parameters)
            }
            release(connection, reusable: true)
            return rows
        } catch is _TimedOut {
            release(connection, reusable: false)
            throw L3PoolError(code: .queryTimedOut,
                              message: "the statement did not finish within \(DurationText.format(configuration.queryTimeout)) and was cancelled: \(sql.prefix(120))")
        } catch {
            release(connection, reusable: !connection.isClosed && !(error is CancellationError))
            throw error
        }
    }

    /// Closes idle connections and fails waiting and later calls; connections in use are
    /// closed when they come back.
    public func close() async {
        let (idle, waiters) = state.withLock { state -> ([PostgresConnection], [Waiter]) in
            state.closed = true
            defer { state.idle = []; state.waiters = [] }
            state.total -= state.idle.count
            return (state.idle, state.waiters)
        }
        for waiter in waiters {
            waiter.continuation.resume(throwing: L3PoolError(code: .closed, message: "the L3 connection pool was closed"))
        }
        for connection in idle { await connection.close() }
    }

    /// Connections open now (idle or in use).
    public var openConnections: Int { state.withLock { $0.total } }

    // MARK: Internals

    func acquire() async throws -> PostgresConnection {
        enum Step { case ready(PostgresConnection), open, wait(UInt64) }
        let step = try state.withLock { state throws -> Step in
            if state.closed { throw L3PoolError(code: .closed, message: "the L3 connection pool was closed") }
            if let connection = state.idle.popLast() { return .ready(connection) }
            if state.total < configuration.maximumConnections {
                state.total += 1
                return .open
            }
            state.nextWaiter += 1
            return .wait(state.nextWaiter)
        }
        switch step {
        case .ready(let connection):
            return connection
        case .open:
            return try await open()
        case .wait(let id):
            switch try await wait(id) {
            case .connection(let connection): return connection
            case .open: return try await open()
            }
        }
    }

    private func wait(_ id: UInt64) async throws -> Grant {
        let timeout = configuration.acquireTimeout
        let maximum = configuration.maximumConnections
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Grant, any Error>) in
                let enqueued = state.withLock { state -> Bool in
                    if state.closed { return false }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return true
                }
                guard enqueued else {
                    continuation.resume(throwing: L3PoolError(code: .closed, message: "the L3 connection pool was closed"))
                    return
                }
                Task {
                    try? await Task.sleep(for: timeout)
                    self.removeWaiter(id)?.resume(throwing: L3PoolError(
                        code: .acquireTimedOut,
                        message: "all \(maximum) L3 connections stayed busy for \(DurationText.format(timeout)); raise maximumConnections or acquireTimeout, or look for slow statements"))
                }
            }
        } onCancel: {
            self.removeWaiter(id)?.resume(throwing: CancellationError())
        }
    }

    private func removeWaiter(_ id: UInt64) -> CheckedContinuation<Grant, any Error>? {
        state.withLock { state in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index).continuation
        }
    }

    private func open() async throws -> PostgresConnection {
        do {
            let connection = try await PostgresConnection.connect(
                configuration.url, connectTimeout: configuration.connectTimeout, logger: logger)
            let milliseconds = max(1, configuration.queryTimeout.nanosecondsClamped / 1_000_000)
            try await connection.execute("set statement_timeout = \(milliseconds)")
            return connection
        } catch {
            slotFreed()
            throw error
        }
    }

    /// A slot became free (a connection failed to open or was discarded): let the first
    /// waiter open one.
    private func slotFreed() {
        let waiter = state.withLock { state -> Waiter? in
            if !state.waiters.isEmpty, !state.closed { return state.waiters.removeFirst() }
            state.total -= 1
            return nil
        }
        waiter?.continuation.resume(returning: .open)
    }

    func release(_ connection: PostgresConnection, reusable: Bool) {
        guard reusable, !connection.isClosed else {
            Task { await connection.close() }
            slotFreed()
            return
        }
        let (waiter, closeIt) = state.withLock { state -> (Waiter?, Bool) in
            if state.closed {
                state.total -= 1
                return (nil, true)
            }
            if !state.waiters.isEmpty { return (state.waiters.removeFirst(), false) }
            state.idle.append(connection)
            return (nil, false)
        }
        if let waiter { waiter.continuation.resume(returning: .connection(connection)) }
        if closeIt { Task { await connection.close() } }
    }
}
