import Logging
import Synchronization

/// A small pool of ``RedisConnection``s to one server.
///
/// Connections are opened lazily, up to `maximumConnections`. A lease waits (FIFO) while
/// all connections are leased, for at most `connectionWaitTimeout` (then it throws
/// ``RedisError`` `.poolTimeout`); a cancelled waiter leaves the queue at once. A
/// connection that is closed when it comes back (transport error, timeout) is discarded;
/// the next lease opens a fresh one, so a server restart heals by itself.
///
/// ```swift
/// let pool = RedisConnectionPool(configuration: try RedisConfiguration(url: "redis://127.0.0.1:6379"),
///                                maximumConnections: 8, connectionWaitTimeout: .milliseconds(250))
/// let value = try await pool.send("GET", "authz:user:42").bytes
/// let count = try await pool.withConnection { connection in
///     try await connection.send("MULTI")
///     try await connection.send("INCR", "hits")
///     return try await connection.send("EXEC").array?.first?.int
/// }
/// await pool.close()
/// ```
///
/// Inside `withConnection`, do not lease a second connection from the same pool while
/// holding the first: with all connections leased that deadlocks.
public final class RedisConnectionPool: Sendable {
    private enum Lease: Sendable {
        case connection(RedisConnection)
        /// The waiter may open a new connection (a slot was reserved for it).
        case create
    }

    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Lease, any Error>
        /// Fails the waiter with `.poolTimeout` when `connectionWaitTimeout` passes.
        var timer: Task<Void, Never>?
        var since: ContinuousClock.Instant
    }

    private struct State {
        var idle: [RedisConnection] = []
        /// Idle + leased + being opened.
        var total = 0
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
        var closed = false
    }

    /// Configuration used for every connection.
    public let configuration: RedisConfiguration
    /// Upper bound on open connections.
    public let maximumConnections: Int
    /// Longest a lease waits for a connection while all are in use (`nil`: no limit).
    /// Opening a new connection is bounded separately, by the configuration's
    /// `connectTimeout`.
    public let connectionWaitTimeout: Duration?
    private let logger: Logger
    private let state = Mutex(State())

    /// Creates the pool; no connection is opened until the first lease.
    ///
    /// - Parameter connectionWaitTimeout: longest a lease waits while all
    ///   `maximumConnections` are in use before throwing `.poolTimeout`; `nil` waits
    ///   until a connection comes back or the task is cancelled.
    public init(
        configuration: RedisConfiguration,
        maximumConnections: Int = 4,
        connectionWaitTimeout: Duration? = nil,
        logger: Logger = Logger(label: "strata.redis.pool")
    ) {
        precondition(maximumConnections >= 1, "a pool needs at least one connection")
        precondition(connectionWaitTimeout.map { $0 > .zero } ?? true, "connectionWaitTimeout must be positive (or nil)")
        self.configuration = configuration
        self.maximumConnections = maximumConnections
        self.connectionWaitTimeout = connectionWaitTimeout
        self.logger = logger
    }

    deinit {
        let idle = state.withLock { state in
            state.closed = true
            return state.idle
        }
        for connection in idle { Task { await connection.close() } }
    }

    /// Leases a connection for the duration of `body` and returns it afterwards.
    ///
    /// - Throws: what `body` throws; ``RedisError`` `.connectionFailed` when a new
    ///   connection cannot be opened, `.poolClosed` after ``close()``, `.poolTimeout` when
    ///   no connection became free within ``connectionWaitTimeout``; `CancellationError`
    ///   when the task is cancelled while waiting for a connection.
    public func withConnection<T: Sendable>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (RedisConnection) async throws -> T
    ) async throws -> T {
        let connection = try await lease()
        do {
            let result = try await body(connection)
            release(connection)
            return result
        } catch {
            release(connection)
            throw error
        }
    }

    /// ``RedisConnection/send(_:)`` on a leased connection.
    @discardableResult
    public func send(_ command: [RedisArgument]) async throws -> RESPValue {
        try await withConnection { try await $0.send(command) }
    }

    /// ``RedisConnection/send(_:_:)`` on a leased connection.
    @discardableResult
    public func send(_ command: String, _ arguments: RedisArgument...) async throws -> RESPValue {
        let command = [RedisArgument(command)] + arguments
        return try await withConnection { try await $0.send(command) }
    }

    /// ``RedisConnection/pipeline(_:)`` on a leased connection.
    public func pipeline(_ commands: [[RedisArgument]]) async throws -> [RESPValue] {
        try await withConnection { try await $0.pipeline(commands) }
    }

    /// ``RedisConnection/pipeline(_:)-(RedisCommandBuffer)`` on a leased connection.
    public func pipeline(_ commands: RedisCommandBuffer) async throws -> [RESPValue] {
        try await withConnection { try await $0.pipeline(commands) }
    }

    /// ``RedisConnection/rawPipeline(_:)`` on a leased connection.
    public func rawPipeline(_ commands: RedisCommandBuffer) async throws -> RedisRawReplies {
        try await withConnection { try await $0.rawPipeline(commands) }
    }

    /// Closes idle connections, fails waiting leases with `.poolClosed`; leased
    /// connections are closed when they come back. Later leases fail with `.poolClosed`.
    public func close() async {
        let (idle, waiters) = state.withLock { state in
            state.closed = true
            let taken = (state.idle, state.waiters)
            state.total -= state.idle.count
            state.idle = []
            state.waiters = []
            return taken
        }
        for waiter in waiters {
            waiter.timer?.cancel()
            waiter.continuation.resume(throwing: Self.poolClosedError)
        }
        for connection in idle { await connection.close() }
    }

    /// Open connections (idle, leased or being opened), for metrics and tests.
    public var openConnections: Int { state.withLock { $0.total } }

    /// Idle connections, for metrics and tests.
    public var idleConnections: Int { state.withLock { $0.idle.count } }

    /// Leases waiting for a connection, for metrics and tests.
    public var waitingLeases: Int { state.withLock { $0.waiters.count } }

    // MARK: Internals

    private static let poolClosedError = RedisError(code: .poolClosed, message: "the Redis connection pool is closed")

    private enum Decision {
        case lease(Lease)
        case wait
        case closed
    }

    private func lease() async throws -> RedisConnection {
        let (decision, discarded) = state.withLock { state -> (Decision, [RedisConnection]) in
            if state.closed { return (.closed, []) }
            var discarded: [RedisConnection] = []
            while let connection = state.idle.popLast() {
                if connection.isClosed {
                    state.total -= 1
                    discarded.append(connection)
                    continue
                }
                return (.lease(.connection(connection)), discarded)
            }
            if state.total < maximumConnections {
                state.total += 1
                return (.lease(.create), discarded)
            }
            return (.wait, discarded)
        }
        for connection in discarded { await connection.close() }
        let lease: Lease
        switch decision {
        case .closed: throw Self.poolClosedError
        case .lease(let granted): lease = granted
        case .wait: lease = try await waitForLease()
        }
        switch lease {
        case .connection(let connection):
            return connection
        case .create:
            do {
                return try await RedisConnection.connect(configuration, logger: logger)
            } catch {
                releaseSlot()
                throw error
            }
        }
    }

    private func waitForLease() async throws -> Lease {
        let id = state.withLock { state in
            defer { state.nextWaiterID += 1 }
            return state.nextWaiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Lease, any Error>) in
                let rejection: (any Error)? = state.withLock { state in
                    if state.closed { return Self.poolClosedError }
                    if Task.isCancelled { return CancellationError() }
                    // A connection may have come back between the first check and now.
                    if let index = state.idle.lastIndex(where: { !$0.isClosed }) {
                        continuation.resume(returning: .connection(state.idle.remove(at: index)))
                        return nil
                    }
                    if state.total < maximumConnections {
                        state.total += 1
                        continuation.resume(returning: .create)
                        return nil
                    }
                    var waiter = Waiter(id: id, continuation: continuation, timer: nil, since: .now)
                    if let timeout = connectionWaitTimeout {
                        // Started under the lock: it can only look for the waiter once it is queued.
                        waiter.timer = Task { [weak self] in
                            do { try await Task.sleep(for: timeout) } catch { return }
                            self?.expire(id)
                        }
                    }
                    state.waiters.append(waiter)
                    return nil
                }
                if let rejection { continuation.resume(throwing: rejection) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.timer?.cancel()
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// `50.0 ms`.
    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let tenths = seconds * 10_000 + attoseconds / 100_000_000_000_000
        return "\(tenths / 10).\(tenths % 10) ms"
    }

    /// The waiter's timeout passed while it was still queued: fail it with `.poolTimeout`.
    private func expire(_ id: UInt64) {
        let expired = state.withLock { state -> (Waiter, Int, Int)? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            let waiter = state.waiters.remove(at: index)
            return (waiter, state.total, state.waiters.count)
        }
        guard let (waiter, total, stillWaiting) = expired else { return }
        let waited = ContinuousClock.now - waiter.since
        let error = RedisError(code: .poolTimeout, message: "no connection to \(configuration.endpoint) became free within "
            + "\(Self.milliseconds(connectionWaitTimeout ?? waited)) (waited \(Self.milliseconds(waited))): all \(total) connections (maximumConnections \(maximumConnections)) "
            + "stayed in use and \(stillWaiting) other lease(s) are waiting. Raise maximumConnections or the wait timeout, "
            + "or find what holds connections (slow commands, slow work inside withConnection)")
        logger.debug("redis pool wait timed out", metadata: ["waited": "\(waited)", "connections": "\(total)"])
        waiter.continuation.resume(throwing: error)
    }

    private func release(_ connection: RedisConnection) {
        enum Outcome { case handedOver(Waiter, Lease), kept, dropped }
        let outcome = state.withLock { state -> Outcome in
            if state.closed {
                state.total -= 1
                return .dropped
            }
            if connection.isClosed {
                if state.waiters.isEmpty {
                    state.total -= 1
                    return .dropped
                }
                // Keep the slot and let the first waiter open a fresh connection.
                return .handedOver(state.waiters.removeFirst(), .create)
            }
            if state.waiters.isEmpty {
                state.idle.append(connection)
                return .kept
            }
            return .handedOver(state.waiters.removeFirst(), .connection(connection))
        }
        switch outcome {
        case .handedOver(let waiter, let lease):
            waiter.timer?.cancel()
            waiter.continuation.resume(returning: lease)
        case .kept:
            break
        case .dropped:
            if connection.isClosed {
                logger.debug("redis pool discarded a closed connection")
            }
            Task { await connection.close() }
        }
    }

    /// A reserved slot was not used (connect failed): pass it on or give it back.
    private func releaseSlot() {
        let waiter = state.withLock { state -> Waiter? in
            if !state.closed, !state.waiters.isEmpty { return state.waiters.removeFirst() }
            state.total -= 1
            return nil
        }
        waiter?.timer?.cancel()
        waiter?.continuation.resume(returning: .create)
    }
}
