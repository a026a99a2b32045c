import CHiredis

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One blocking hiredis context. Not thread-safe: its owner serializes all access
/// (``RedisConnection`` through a mutex and its I/O thread, ``RedisSubscriber`` by
/// confining it to one thread).
///
/// hiredis connects and sets the socket timeouts; commands are formatted as RESP here and
/// written with `send(MSG_NOSIGNAL)`, and their replies parsed by ``_ReplyReader``. Two
/// ways to run them: the blocking calls (``command(_:)``, ``pipeline(_:)``: write all,
/// then read, each `send`/`recv` bounded by the command timeout), and
/// ``exchangeInline(_:raw:)`` for callers that must not block long (Swift tasks): it writes
/// without blocking and waits at most ``inlineReplyWait`` for each reply; what has not
/// arrived by then is left in ``owed`` for the next blocking user to finish
/// (``settleOwed()``). While ``owed`` is set, nothing else may use the socket first.
/// The subscriber's calls (``append(_:)``, ``readReply()``, ``bufferedReply()``,
/// ``readFromSocket()``) go through hiredis's own buffers and reader instead.
///
/// Any transport or protocol error frees the hiredis context at once; later calls fail
/// fast with ``RedisError/Code-swift.struct/connectionClosed`` naming the cause.
///
/// `@unchecked Sendable` so it can live in a `Mutex`; the invariant above is what makes
/// that sound.
final class _RedisContext: @unchecked Sendable {
    private var raw: UnsafeMutablePointer<redisContext>?
    /// Why the context was closed, when it broke (not for a plain `close()`).
    private(set) var failure: RedisError?
    let endpoint: RedisConfiguration.Endpoint
    private(set) var readTimeout: Duration?

    // Reused argv buffers: a command costs no allocations here once they are big enough.
    private var argv: UnsafeMutablePointer<UnsafePointer<CChar>?>
    private var argvLengths: UnsafeMutablePointer<Int>
    private var argCapacity: Int
    private var scratch: UnsafeMutableRawPointer
    private var scratchCapacity: Int
    private static let retainedScratch = 64 * 1024

    /// Commands formatted as RESP, not yet written (from `outputStart` to `outputCount`).
    /// Written by this type with `send(MSG_NOSIGNAL)`, not by hiredis; only ``append(_:)``
    /// (the subscriber's path) goes through hiredis's own output buffer.
    private var output: UnsafeMutablePointer<UInt8>
    private var outputCapacity: Int
    private var outputCount = 0
    private var outputStart = 0
    /// Replies to the commands written by this type are parsed here; hiredis's reader
    /// serves only the subscriber's calls (``readReply()``, ``bufferedReply()``,
    /// ``readFromSocket()``).
    private var reader = _ReplyReader()

    /// Replies a caller still waits for, left by ``exchangeInline(_:raw:)``.
    private(set) var owed: _OwedReplies?
    /// Inline exchanges left that only check for a ready reply, without waiting: set after
    /// an inline wait ran out (a slow or remote server), so that a cooperative thread is
    /// blocked for at most ``inlineReplyWait`` once per `inlineWaitBackoff` calls.
    private var inlineWaitSkips = 0
    private static let inlineWaitBackoff = 64
    /// The least ``exchangeInline(_:raw:)`` waits for a reply on the calling thread before it
    /// hands over. It waits in a blocking `recv` under the socket's receive timeout
    /// (``armShortReceiveTimeout()``), which Linux counts in scheduler ticks, so the
    /// longest wait is this plus one tick (1 ms at HZ=1000, 4 ms at HZ=250). A loopback
    /// Redis answers in tens of microseconds.
    static let inlineReplyWait = Duration.milliseconds(1)
    /// Whether the socket's receive timeout is the short one: blocking reads then wait
    /// for the rest of the command timeout in `poll`.
    private var shortReceiveTimeout = false
    /// Output buffers larger than this are written by the I/O thread, not inline.
    private static let inlineWriteLimit = 64 * 1024

    private init(raw: UnsafeMutablePointer<redisContext>, endpoint: RedisConfiguration.Endpoint) {
        self.raw = raw
        self.endpoint = endpoint
        argCapacity = 8
        argv = .allocate(capacity: argCapacity)
        argvLengths = .allocate(capacity: argCapacity)
        scratchCapacity = 1024
        scratch = .allocate(byteCount: scratchCapacity, alignment: 8)
        outputCapacity = 4096
        output = .allocate(capacity: outputCapacity)
    }

    deinit {
        if let raw { redisFree(raw) }
        argv.deallocate()
        argvLengths.deallocate()
        scratch.deallocate()
        output.deallocate()
    }

    var isOpen: Bool { raw != nil }

    /// The socket, for `poll()`; -1 when closed.
    var fileDescriptor: Int32 { raw?.pointee.fd ?? -1 }

    // MARK: Connecting

    /// Connects, sets the handshake timeout, sends `AUTH` and `SELECT`, then arms the
    /// command timeout. Server error replies to `AUTH`/`SELECT` are thrown with their
    /// prefix (`WRONGPASS`, `ERR`); everything else as `.connectionFailed`.
    static func connect(_ configuration: RedisConfiguration) throws(RedisError) -> _RedisContext {
        try configuration.validate()
        let timeout = timeval(configuration.connectTimeout)
        let endpoint = configuration.endpoint
        let connected: UnsafeMutablePointer<redisContext>?
        switch endpoint {
        case .tcp(let host, let port):
            connected = redisConnectWithTimeout(host, Int32(port), timeout)
        case .unixSocket(let path):
            connected = redisConnectUnixWithTimeout(path, timeout)
        }
        guard let connected else {
            throw RedisError(code: .connectionFailed, message: "cannot connect to \(endpoint): hiredis could not allocate a context")
        }
        if connected.pointee.err != 0 {
            let reason = Self.errorString(connected)
            redisFree(connected)
            throw RedisError(code: .connectionFailed, message: "cannot connect to \(endpoint): \(reason). Is the server running and is the address right?")
        }
        let context = _RedisContext(raw: connected, endpoint: endpoint)
        do throws(RedisError) {
            try context.setTimeout(configuration.connectTimeout)
            if let password = configuration.password {
                var auth: [RedisArgument] = ["AUTH"]
                if let username = configuration.username { auth.append(RedisArgument(username)) }
                auth.append(RedisArgument(password))
                if case .error(let error) = try context.command(auth) { throw error }
            }
            if configuration.database != 0 {
                if case .error(let error) = try context.command(["SELECT", RedisArgument(configuration.database)]) { throw error }
            }
            try context.setTimeout(configuration.commandTimeout)
        } catch {
            context.close()
            if error.code == .server { throw error }
            throw RedisError(code: .connectionFailed, message: "handshake with \(endpoint) failed: \(error.message)")
        }
        return context
    }

    /// Sets the socket read/write timeout (`nil`: none).
    func setTimeout(_ duration: Duration?) throws(RedisError) {
        let context = try open()
        if redisSetTimeout(context, duration.map(timeval.init) ?? timeval(tv_sec: 0, tv_usec: 0)) != REDIS_OK {
            throw fail(context)
        }
        readTimeout = duration
        shortReceiveTimeout = false
    }

    /// Sets the socket's receive timeout to ``inlineReplyWait`` (the send timeout stays
    /// the command timeout), so that ``exchangeInline(_:raw:)`` can wait in one blocking
    /// `recv` instead of `poll` + `recv`. Blocking reads then wait out the command
    /// timeout in `poll` when a `recv` times out. For ``RedisConnection`` only (the
    /// subscriber reads through hiredis, which would take the short timeout as an error).
    func armShortReceiveTimeout() throws(RedisError) {
        let context = try open()
        var value = timeval(Self.inlineReplyWait)
        if setsockopt(context.pointee.fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size)) != 0 {
            throw failRead(errno)
        }
        shortReceiveTimeout = true
    }

    /// Frees the hiredis context. Idempotent. Replies still owed to a caller fail with
    /// `.connectionClosed`.
    func close() {
        if let raw {
            redisFree(raw)
            self.raw = nil
        }
        outputStart = 0
        outputCount = 0
        reader.reset()
        if let owed {
            self.owed = nil
            owed.complete(.failure(closedError()))
        }
    }

    // MARK: Commands

    /// Sends one command and reads its reply. Server error replies are returned as
    /// `.error`, transport failures thrown (and the context closed).
    func command(_ arguments: [RedisArgument]) throws(RedisError) -> RESPValue {
        if arguments.isEmpty {
            throw RedisError(code: .invalidArgument, message: "a Redis command needs at least its name")
        }
        let context = try open()
        format(arguments)
        try writeBlocking(context)
        var replies = _PipelineReplies(expected: 1, raw: false)
        try receive(into: &replies, context)
        return replies.values[0]
    }

    /// Writes all commands in one go, then reads one reply per command (as
    /// ``RedisRawReplies`` when `raw`).
    func pipeline(_ commands: _Pipeline, raw: Bool = false) throws(RedisError) -> _PipelineReplies {
        var replies = _PipelineReplies(expected: commands.count, raw: raw)
        if commands.count == 0 { return replies }
        try commands.validate()
        let context = try open()
        format(commands)
        try writeBlocking(context)
        while !replies.isComplete { try receive(into: &replies, context) }
        return replies
    }

    /// Queues a command in hiredis's output buffer (sent by the next read).
    func append(_ arguments: [RedisArgument]) throws(RedisError) {
        try append(arguments, to: try open())
    }

    /// Flushes pending output and blocks until one reply arrives.
    func readReply() throws(RedisError) -> RESPValue {
        try readReply(try open())
    }

    /// A reply already parsed from received bytes, without any I/O; `nil` if none.
    func bufferedReply() throws(RedisError) -> RESPValue? {
        let context = try open()
        var reply: UnsafeMutableRawPointer?
        if redisGetReplyFromReader(context, &reply) != REDIS_OK { throw fail(context) }
        guard let reply else { return nil }
        defer { freeReplyObject(reply) }
        return RESPValue(reply.assumingMemoryBound(to: redisReply.self))
    }

    /// One `read()` from the socket into hiredis's reader (call when `poll()` says
    /// readable, so it does not block).
    func readFromSocket() throws(RedisError) {
        let context = try open()
        if redisBufferRead(context) != REDIS_OK { throw fail(context) }
    }

    // MARK: Inline exchange

    enum InlineOutcome {
        /// All replies read (or the exchange failed) on the calling thread.
        case done(Result<_PipelineReplies, RedisError>)
        /// Some replies had not arrived within the inline wait: ``owed`` holds the rest,
        /// for ``settleOwed()``.
        case owed(_OwedReplies)
    }

    /// Writes `commands` without blocking and reads their replies, waiting at most
    /// ``inlineReplyWait`` for each; the caller must hold the context exclusively and
    /// ``owed`` must be `nil`. What is not done by then (output the socket did not take,
    /// replies not yet received) is left in ``owed``.
    ///
    /// Writes use `send(MSG_NOSIGNAL | MSG_DONTWAIT)`, so a closed peer gives `EPIPE`, never
    /// `SIGPIPE`, on the calling thread.
    func exchangeInline(_ commands: _Pipeline, raw: Bool = false) -> InlineOutcome {
        precondition(owed == nil, "an inline exchange while replies are owed")
        let context: UnsafeMutablePointer<redisContext>
        var replies = _PipelineReplies(expected: commands.count, raw: raw)
        do throws(RedisError) {
            if commands.count == 0 { return .done(.success(replies)) }
            try commands.validate()
            context = try open()
        } catch {
            return .done(.failure(error))
        }
        format(commands)
        let flushed: Bool
        do throws(RedisError) { flushed = try flushWithoutBlocking(context) } catch { return .done(.failure(error)) }
        if flushed {
            var wait = shortReceiveTimeout
            if inlineWaitSkips > 0 {
                inlineWaitSkips -= 1
                wait = false
            }
            var waitStarted: ContinuousClock.Instant?
            while !replies.isComplete {
                do throws(_ReplyReader.ProtocolError) {
                    if try replies.take(from: &reader) { continue }
                } catch {
                    return .done(.failure(failProtocol(error)))
                }
                // Blocking: returns with data, or after the short receive timeout.
                switch reader.receive(from: context.pointee.fd, flags: wait ? 0 : Int32(MSG_DONTWAIT)) {
                case .received: continue
                case .closed: return .done(.failure(failClosedByServer()))
                case .failed(let code): return .done(.failure(failRead(code)))
                case .wouldBlock: break
                }
                if wait {
                    // The timeout runs in scheduler ticks and may end early: wait on until
                    // inlineReplyWait has really passed.
                    let now = ContinuousClock.now
                    let started = waitStarted ?? now
                    waitStarted = started
                    if now - started < Self.inlineReplyWait { continue }
                    inlineWaitSkips = Self.inlineWaitBackoff
                }
                break
            }
            if replies.isComplete { return .done(.success(replies)) }
        }
        let owed = _OwedReplies(received: replies)
        self.owed = owed
        return .owed(owed)
    }

    /// Reads the replies ``owed`` to an earlier ``exchangeInline(_:raw:)`` (blocking, bounded
    /// by the command timeout) and hands them over. A no-op when nothing is owed.
    func settleOwed() {
        guard let owed else { return }
        self.owed = nil
        do throws(RedisError) {
            let context = try open()
            try writeBlocking(context)
            var replies = owed.received
            while !replies.isComplete { try receive(into: &replies, context) }
            owed.complete(.success(replies))
        } catch {
            owed.complete(.failure(error))
        }
    }

    /// Sends the formatted output with `send(MSG_DONTWAIT | MSG_NOSIGNAL)`; `true` when
    /// all of it went out. Large outputs are left to the blocking writer.
    private func flushWithoutBlocking(_ context: UnsafeMutablePointer<redisContext>) throws(RedisError) -> Bool {
        if outputCount - outputStart > Self.inlineWriteLimit { return false }
        while outputStart < outputCount {
            let sent = send(context.pointee.fd, output + outputStart, outputCount - outputStart, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
            if sent > 0 {
                outputStart += sent
                continue
            }
            let code = errno
            if sent < 0 && code == EINTR { continue }
            if sent < 0 && (code == EAGAIN || code == EWOULDBLOCK) { return false }
            throw failWrite(code, timedOut: false)
        }
        resetOutput()
        return true
    }

    /// Sends all formatted output, blocking (bounded by the socket's send timeout, the
    /// command timeout). `MSG_NOSIGNAL`: a closed peer gives `EPIPE`, never `SIGPIPE`.
    private func writeBlocking(_ context: UnsafeMutablePointer<redisContext>) throws(RedisError) {
        while outputStart < outputCount {
            let sent = send(context.pointee.fd, output + outputStart, outputCount - outputStart, Int32(MSG_NOSIGNAL))
            if sent > 0 {
                outputStart += sent
                continue
            }
            let code = errno
            if sent < 0 && code == EINTR { continue }
            throw failWrite(code, timedOut: sent < 0 && (code == EAGAIN || code == EWOULDBLOCK))
        }
        resetOutput()
    }

    private func resetOutput() {
        outputStart = 0
        outputCount = 0
        if outputCapacity > Self.retainedScratch {
            output.deallocate()
            outputCapacity = 4096
            output = .allocate(capacity: outputCapacity)
        }
    }

    /// Appends the commands of a pipeline as RESP.
    private func format(_ commands: _Pipeline) {
        switch commands {
        case .arguments(let commands):
            for command in commands { format(command) }
        case .formatted(let buffer):
            let count = buffer.bytes.count
            reserveOutput(count)
            buffer.bytes.withUnsafeBufferPointer { (output + outputCount).update(from: $0.baseAddress!, count: count) }
            outputCount += count
        }
    }

    /// Appends `arguments` as one RESP command (`*N`, then `$len` and the bytes of each).
    private func format(_ arguments: [RedisArgument]) {
        var needed = 16
        for argument in arguments { needed += argument.bytes.count + 24 }
        reserveOutput(needed)
        var at = outputCount
        output[at] = UInt8(ascii: "*")
        at = Self.writeDecimal(arguments.count, to: output, at: at + 1)
        for argument in arguments {
            output[at] = UInt8(ascii: "$")
            let count = argument.bytes.count
            at = Self.writeDecimal(count, to: output, at: at + 1)
            if count > 0 {
                argument.bytes.withUnsafeBufferPointer { source in
                    (output + at).update(from: source.baseAddress!, count: count)
                }
                at += count
            }
            output[at] = 13
            output[at + 1] = 10
            at += 2
        }
        outputCount = at
    }

    private func reserveOutput(_ extra: Int) {
        guard outputCount + extra > outputCapacity else { return }
        let capacity = max(outputCapacity * 2, outputCount + extra)
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        grown.update(from: output, count: outputCount)
        output.deallocate()
        output = grown
        outputCapacity = capacity
    }

    /// Writes `value` (≥ 0) in decimal followed by CRLF; returns the index after it.
    @inline(__always)
    private static func writeDecimal(_ value: Int, to buffer: UnsafeMutablePointer<UInt8>, at start: Int) -> Int {
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        var remaining = value
        var index = start + digits - 1
        while index >= start {
            buffer[index] = UInt8(truncatingIfNeeded: 48 + remaining % 10)
            remaining /= 10
            index -= 1
        }
        buffer[start + digits] = 13
        buffer[start + digits + 1] = 10
        return start + digits + 2
    }

    /// Reads the next reply to a command written by this type into `replies`: blocks in
    /// `recv` up to the socket's receive timeout (the command timeout) for each chunk.
    private func receive(into replies: inout _PipelineReplies, _ context: UnsafeMutablePointer<redisContext>) throws(RedisError) {
        while true {
            do throws(_ReplyReader.ProtocolError) {
                if try replies.take(from: &reader) { return }
            } catch {
                throw failProtocol(error)
            }
            switch reader.receive(from: context.pointee.fd, flags: 0) {
            case .received: continue
            case .wouldBlock:
                if shortReceiveTimeout {
                    // The short inline timeout passed: wait out the command timeout.
                    var descriptor = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
                    let ready = poll(&descriptor, 1, Self.pollMilliseconds(readTimeout))
                    if ready != 0 { continue }   // readable, hung up, or interrupted: recv again
                }
                let limit = readTimeout.map { " within \($0)" } ?? ""
                throw failWith(RedisError(code: .timeout, message: "no reply from \(endpoint)\(limit); the connection was closed because its replies can no longer be matched to commands"))
            case .closed: throw failClosedByServer()
            case .failed(let code): throw failRead(code)
            }
        }
    }

    /// `poll`'s timeout for `duration`: whole milliseconds, rounded up; -1 for none.
    private static func pollMilliseconds(_ duration: Duration?) -> Int32 {
        guard let duration else { return -1 }
        let (seconds, attoseconds) = duration.components
        let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: max(1, milliseconds))
    }

    private func failClosedByServer() -> RedisError {
        failWith(RedisError(code: .connectionClosed, message: "\(endpoint) closed the connection (Server closed the connection)"))
    }

    private func failRead(_ code: Int32) -> RedisError {
        failWith(RedisError(code: .connectionClosed, message: "I/O error on the connection to \(endpoint): \(String(cString: strerror(code))); the connection was closed"))
    }

    private func failProtocol(_ error: _ReplyReader.ProtocolError) -> RedisError {
        failWith(RedisError(code: .protocolError, message: "protocol error from \(endpoint): \(error.reason); the connection was closed"))
    }

    /// Remembers why the context broke and closes it.
    private func failWith(_ error: RedisError) -> RedisError {
        failure = error
        close()
        return error
    }

    private func failWrite(_ code: Int32, timedOut: Bool) -> RedisError {
        let reason = String(cString: strerror(code))
        let error: RedisError
        if timedOut {
            let limit = readTimeout.map { " within \($0)" } ?? ""
            error = RedisError(code: .timeout, message: "could not send to \(endpoint)\(limit) (the server is not reading); the connection was closed")
        } else if code == EPIPE || code == ECONNRESET {
            error = RedisError(code: .connectionClosed, message: "\(endpoint) closed the connection (\(reason))")
        } else {
            error = RedisError(code: .connectionClosed, message: "I/O error on the connection to \(endpoint): \(reason); the connection was closed")
        }
        failure = error
        close()
        return error
    }

    // MARK: Internals

    private func closedError() -> RedisError {
        if let failure {
            return RedisError(code: .connectionClosed, message: "the connection to \(endpoint) is closed after an earlier failure (\(failure)); open a new one")
        }
        return RedisError(code: .connectionClosed, message: "the connection to \(endpoint) is closed")
    }

    private func open() throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        if let raw { return raw }
        throw closedError()
    }

    private func append(_ arguments: [RedisArgument], to context: UnsafeMutablePointer<redisContext>) throws(RedisError) {
        let argc = try prepare(arguments)
        if redisAppendCommandArgv(context, argc, argv, argvLengths) != REDIS_OK {
            throw fail(context)
        }
    }

    private func readReply(_ context: UnsafeMutablePointer<redisContext>) throws(RedisError) -> RESPValue {
        var reply: UnsafeMutableRawPointer?
        if redisGetReply(context, &reply) != REDIS_OK || reply == nil {
            throw fail(context)
        }
        defer { freeReplyObject(reply) }
        return RESPValue(reply!.assumingMemoryBound(to: redisReply.self))
    }

    /// Copies the arguments into the scratch buffer and fills `argv`/`argvLengths`.
    private func prepare(_ arguments: [RedisArgument]) throws(RedisError) -> Int32 {
        if arguments.isEmpty {
            throw RedisError(code: .invalidArgument, message: "a Redis command needs at least its name")
        }
        if arguments.count > argCapacity {
            argv.deallocate()
            argvLengths.deallocate()
            argCapacity = max(arguments.count, argCapacity * 2)
            argv = .allocate(capacity: argCapacity)
            argvLengths = .allocate(capacity: argCapacity)
        }
        var total = 0
        for argument in arguments { total += argument.bytes.count }
        if total > scratchCapacity || (scratchCapacity > Self.retainedScratch && total <= Self.retainedScratch) {
            scratch.deallocate()
            scratchCapacity = max(total, 1024)
            scratch = .allocate(byteCount: scratchCapacity, alignment: 8)
        }
        var offset = 0
        for (index, argument) in arguments.enumerated() {
            let count = argument.bytes.count
            argument.bytes.withUnsafeBytes { source in
                if count > 0 { (scratch + offset).copyMemory(from: source.baseAddress!, byteCount: count) }
            }
            argv[index] = UnsafePointer((scratch + offset).assumingMemoryBound(to: CChar.self))
            argvLengths[index] = count
            offset += count
        }
        return Int32(arguments.count)
    }

    /// Turns `context->err` into a `RedisError`, closes the context and remembers why.
    private func fail(_ context: UnsafeMutablePointer<redisContext>) -> RedisError {
        let savedErrno = errno
        let kind = context.pointee.err
        let reason = Self.errorString(context)
        let error: RedisError
        switch kind {
        case REDIS_ERR_IO where savedErrno == EAGAIN || savedErrno == EWOULDBLOCK || savedErrno == ETIMEDOUT
            || reason == Self.timeoutReason:
            let limit = readTimeout.map { " within \($0)" } ?? ""
            error = RedisError(code: .timeout, message: "no reply from \(endpoint)\(limit); the connection was closed because its replies can no longer be matched to commands")
        case REDIS_ERR_EOF:
            error = RedisError(code: .connectionClosed, message: "\(endpoint) closed the connection (\(reason))")
        case REDIS_ERR_PROTOCOL:
            error = RedisError(code: .protocolError, message: "protocol error from \(endpoint): \(reason); the connection was closed")
        default:
            error = RedisError(code: .connectionClosed, message: "I/O error on the connection to \(endpoint): \(reason); the connection was closed")
        }
        failure = error
        close()
        return error
    }

    /// What hiredis puts in `errstr` when a socket timeout fires (strerror(EAGAIN)).
    private static let timeoutReason = String(cString: strerror(EAGAIN))

    static func errorString(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: &context.pointee.errstr) { bytes in
            String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }
}

/// The commands of one round trip: arrays of arguments, or a buffer formatted already.
/// The replies of one pipeline while they are read: ``RESPValue``s, or one
/// ``RedisRawReplies`` (`raw`).
struct _PipelineReplies: Sendable {
    private(set) var values: [RESPValue] = []
    private(set) var raw: RedisRawReplies?
    let expected: Int

    init(expected: Int, raw: Bool) {
        self.expected = expected
        if raw {
            self.raw = RedisRawReplies(expected: expected)
        } else {
            values.reserveCapacity(expected)
        }
    }

    var isComplete: Bool { (raw?.received ?? values.count) == expected }

    /// Takes the next complete reply from `reader`; false if more bytes are needed.
    mutating func take(from reader: inout _ReplyReader) throws(_ReplyReader.ProtocolError) -> Bool {
        if raw != nil { return try reader.next(into: &raw!) }
        guard let reply = try reader.next() else { return false }
        values.append(reply)
        return true
    }
}

enum _Pipeline: Sendable {
    case arguments([[RedisArgument]])
    case formatted(RedisCommandBuffer)

    var count: Int {
        switch self {
        case .arguments(let commands): commands.count
        case .formatted(let buffer): buffer.count
        }
    }

    func validate() throws(RedisError) {
        switch self {
        case .arguments(let commands):
            for command in commands where command.isEmpty {
                throw RedisError(code: .invalidArgument, message: commands.count == 1 ? "a Redis command needs at least its name" : "a pipeline contains an empty command")
            }
        case .formatted(let buffer):
            guard buffer.isComplete else {
                throw RedisError(code: .invalidArgument, message: "the last command of the buffer is missing arguments")
            }
        }
    }
}
