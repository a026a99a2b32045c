import Logging
import Synchronization

/// One connection to Redis over a blocking hiredis context.
///
/// The async methods do the I/O on the calling thread when the connection is free (the
/// usual case: a task holds it alone, leased from a pool): they write without blocking,
/// then wait for the reply in a `recv` under a 1 ms socket receive timeout (rounded up to
/// a scheduler tick by Linux), which a loopback Redis beats by far. A reply that has not
/// arrived by then is read by the connection's dedicated I/O thread, which resumes the
/// task; after such a wait runs out, the next 64 calls do not wait inline at all (a slow
/// or remote server). So a cooperative thread is never blocked for longer than 1 ms plus
/// a tick, and the common round trip costs no thread hand-off. Calls that find the
/// connection busy (another task's command in flight) queue on the I/O thread. Commands
/// from one task run in order.
///
/// ```swift
/// let connection = try await RedisConnection.connect(RedisConfiguration(url: "redis://127.0.0.1:6379"))
/// defer { Task { await connection.close() } }
/// try await connection.send("SET", "greeting", "hello")
/// let value = try await connection.send("GET", "greeting").string        // "hello"
/// let replies = try await connection.pipeline([["INCR", "n"], ["INCR", "n"]])
/// ```
///
/// Failure handling: a server error reply to ``send(_:)`` is thrown as a ``RedisError``
/// with the server's prefix (`WRONGTYPE`, ...) and the connection stays usable. A
/// transport error or a command timeout closes the connection (its reply stream can no
/// longer be trusted); that call and every later one fail with ``isClosed`` `true`.
/// Cancelling the calling task does not interrupt a command already sent or queued.
public final class RedisConnection: Sendable {
    private let context: Mutex<_RedisContext>
    private let ioThread: _IOThread
    private let closed = Atomic<Bool>(false)
    /// The configuration this connection was opened with.
    public let configuration: RedisConfiguration
    private let logger: Logger

    private init(context: _RedisContext, ioThread: _IOThread, configuration: RedisConfiguration, logger: Logger) {
        self.context = Mutex(context)
        self.ioThread = ioThread
        self.configuration = configuration
        self.logger = logger
    }

    deinit {
        ioThread.stop()
    }

    /// Connects, authenticates (`AUTH [username] password` when a password is set) and
    /// selects the database (when not 0).
    ///
    /// - Throws: ``RedisError``: `.connectionFailed` (refused, unreachable, connect
    ///   timeout), `.server` with prefix `WRONGPASS`/`ERR` for a rejected `AUTH` or
    ///   `SELECT`, `.invalidConfiguration`.
    public static func connect(
        _ configuration: RedisConfiguration,
        logger: Logger = Logger(label: "strata.redis")
    ) async throws -> RedisConnection {
        let logger = {
            var logger = logger
            logger[metadataKey: "redis.endpoint"] = "\(configuration.endpoint)"
            return logger
        }()
        try configuration.validate()
        let ioThread = try _IOThread(name: "strata-redis")
        let connection: RedisConnection
        do {
            connection = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<RedisConnection, any Error>) in
                let accepted = ioThread.submit {
                    do throws(RedisError) {
                        let context = try _RedisContext.connect(configuration)
                        try context.armShortReceiveTimeout()
                        continuation.resume(returning: RedisConnection(context: context, ioThread: ioThread, configuration: configuration, logger: logger))
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
                precondition(accepted, "a new I/O thread refused work")
            }
        } catch {
            ioThread.stop()
            logger.debug("redis connect failed", metadata: ["error": "\(error)"])
            throw error
        }
        logger.debug("redis connected", metadata: ["redis.database": "\(configuration.database)"])
        return connection
    }

    /// Whether the connection is closed, by ``close()`` or after a transport error or
    /// timeout. A closed connection never reopens.
    public var isClosed: Bool { closed.load(ordering: .acquiring) }

    // MARK: Async

    /// Sends one command and returns its reply.
    ///
    /// - Throws: ``RedisError``: `.server` (with ``RedisError/prefix``) for an error reply;
    ///   `.timeout`, `.connectionClosed`, `.protocolError` for transport failures (the
    ///   connection is closed afterwards); `.invalidArgument` for an empty command.
    @discardableResult
    public func send(_ command: [RedisArgument]) async throws -> RESPValue {
        if command.isEmpty { throw RedisError(code: .invalidArgument, message: "a Redis command needs at least its name") }
        let reply = try await exchange(.arguments([command])).values[0]
        if case .error(let error) = reply { throw error }
        return reply
    }

    /// Sends `command` with `arguments`: `try await connection.send("SET", "k", "v", "EX", 60)`.
    @discardableResult
    public func send(_ command: String, _ arguments: RedisArgument...) async throws -> RESPValue {
        try await send([RedisArgument(command)] + arguments)
    }

    /// Writes all commands in one go and reads their replies (one round trip).
    ///
    /// Server error replies are returned in place as ``RESPValue/error(_:)``, not thrown;
    /// a transport failure throws and closes the connection (then some of the commands
    /// may have been executed by the server).
    public func pipeline(_ commands: [[RedisArgument]]) async throws -> [RESPValue] {
        if commands.isEmpty { return [] }
        return try await exchange(.arguments(commands)).values
    }

    /// ``pipeline(_:)`` of commands formatted already (one reply per command).
    public func pipeline(_ commands: RedisCommandBuffer) async throws -> [RESPValue] {
        if commands.count == 0 { return [] }
        return try await exchange(.formatted(commands)).values
    }

    /// ``pipeline(_:)-(RedisCommandBuffer)`` whose replies stay as received: their bytes in
    /// one array with an index (``RedisRawReplies``), no ``RESPValue`` or `[UInt8]` per
    /// reply. For reading many bulk strings in place.
    public func rawPipeline(_ commands: RedisCommandBuffer) async throws -> RedisRawReplies {
        if commands.count == 0 { return RedisRawReplies(expected: 0) }
        return try await exchange(.formatted(commands), raw: true).raw!
    }

    /// Closes the connection. Commands queued before still run; later ones fail with
    /// `.connectionClosed`. Idempotent.
    public func close() async {
        let wasOpen = !closed.exchange(true, ordering: .acquiringAndReleasing)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let accepted = ioThread.submit {
                self.context.withLock { context in
                    context.settleOwed()
                    context.close()
                }
                continuation.resume()
            }
            if !accepted { continuation.resume() }
        }
        ioThread.stop()
        if wasOpen { logger.debug("redis connection closed") }
    }

    // MARK: Sync

    /// Blocking variant of ``send(_:)`` for callers on their own threads (benchmarks,
    /// dedicated worker threads). It does the I/O on the calling thread, serialized with
    /// the connection's I/O thread by a lock. Never call it from a Swift concurrency task:
    /// it blocks the thread for a network round trip.
    ///
    /// Writes use `send(MSG_NOSIGNAL)`: a connection the server closed gives
    /// `.connectionClosed`, never `SIGPIPE`.
    ///
    /// ```swift
    /// let reply = try connection.sendSync(["GET", "authz:user:42"])
    /// ```
    @discardableResult
    public func sendSync(_ command: [RedisArgument]) throws -> RESPValue {
        let reply = try runSync { context throws(RedisError) in try context.command(command) }
        if case .error(let error) = reply { throw error }
        return reply
    }

    /// Blocking variant of ``send(_:_:)``; see ``sendSync(_:)``.
    @discardableResult
    public func sendSync(_ command: String, _ arguments: RedisArgument...) throws -> RESPValue {
        try sendSync([RedisArgument(command)] + arguments)
    }

    /// Blocking variant of ``pipeline(_:)``; see ``sendSync(_:)``.
    public func pipelineSync(_ commands: [[RedisArgument]]) throws -> [RESPValue] {
        try runSync { context throws(RedisError) in try context.pipeline(.arguments(commands)).values }
    }

    /// Blocking variant of ``pipeline(_:)-(RedisCommandBuffer)``; see ``sendSync(_:)``.
    public func pipelineSync(_ commands: RedisCommandBuffer) throws -> [RESPValue] {
        try runSync { context throws(RedisError) in try context.pipeline(.formatted(commands)).values }
    }

    /// Blocking variant of ``rawPipeline(_:)``; see ``sendSync(_:)``.
    public func rawPipelineSync(_ commands: RedisCommandBuffer) throws -> RedisRawReplies {
        try runSync { context throws(RedisError) in try context.pipeline(.formatted(commands), raw: true).raw! }
    }

    // MARK: Internals

    private enum InlineAttempt {
        /// Another call holds the context or is owed replies: queue on the I/O thread.
        case busy
        case done(Result<_PipelineReplies, RedisError>, brokenBy: RedisError?)
        case owed(_OwedReplies)
    }

    /// Runs `commands` (one round trip) inline on the calling thread when the connection
    /// is free, finishing on the I/O thread when a reply is slow; through the I/O thread
    /// when the connection is busy.
    private func exchange(_ commands: _Pipeline, raw: Bool = false) async throws -> _PipelineReplies {
        if isClosed { throw closedError() }
        let attempt = context.withLockIfAvailable { context -> InlineAttempt in
            if context.owed != nil { return .busy }
            switch context.exchangeInline(commands, raw: raw) {
            case .done(let result):
                return .done(result, brokenBy: context.isOpen ? nil : context.failure)
            case .owed(let owed):
                // Queued while the lock is held, so nothing else reaches the socket before
                // the owed replies are read (every other user settles them first).
                let accepted = ioThread.submit { _ = self.perform { _ throws(RedisError) in () } }
                if !accepted {
                    // Closing: read them here, bounded by the command timeout.
                    context.settleOwed()
                }
                return .owed(owed)
            }
        } ?? .busy
        switch attempt {
        case .done(let result, let failure):
            if let failure { markBroken(failure) }
            return try result.get()
        case .owed(let owed):
            do {
                return try await owed.value()
            } catch let error as RedisError where error.code == .timeout || error.code == .connectionClosed || error.code == .protocolError {
                // The reader resumed this task under the context's lock, before it could
                // mark the connection closed; a transport error always breaks it.
                markBroken(error)
                throw error
            }
        case .busy:
            return try await run { context throws(RedisError) in try context.pipeline(commands, raw: raw) }
        }
    }

    private func run<T: Sendable>(_ operation: @escaping @Sendable (_RedisContext) throws(RedisError) -> T) async throws -> T {
        if isClosed { throw closedError() }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let accepted = ioThread.submit {
                let result = self.perform(operation)
                continuation.resume(with: result)
            }
            if !accepted { continuation.resume(throwing: self.closedError()) }
        }
    }

    private func runSync<T: Sendable>(_ operation: (_RedisContext) throws(RedisError) -> T) throws(RedisError) -> T {
        if isClosed { throw closedError() }
        return try perform(operation).get()
    }

    private func perform<T: Sendable>(_ operation: (_RedisContext) throws(RedisError) -> T) -> Result<T, RedisError> {
        let (result, failure): (Result<T, RedisError>, RedisError?) = context.withLock { context in
            // Replies owed to an inline exchange come first on the socket.
            context.settleOwed()
            let result = Result<T, RedisError> { () throws(RedisError) -> T in try operation(context) }
            return (result, context.isOpen ? nil : context.failure)
        }
        if let failure { markBroken(failure) }
        return result
    }

    private func markBroken(_ failure: RedisError) {
        if !closed.exchange(true, ordering: .acquiringAndReleasing) {
            logger.warning("redis connection broken and closed", metadata: ["error": "\(failure)"])
        }
    }

    private func closedError() -> RedisError {
        let failure = context.withLock { $0.failure }
        if let failure {
            return RedisError(code: .connectionClosed, message: "the connection to \(configuration.endpoint) is closed after an earlier failure (\(failure)); open a new one")
        }
        return RedisError(code: .connectionClosed, message: "the connection to \(configuration.endpoint) is closed")
    }
}
