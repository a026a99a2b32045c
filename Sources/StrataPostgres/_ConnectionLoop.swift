import CLibPQ
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What `connect` learns from a new connection.
struct _ConnectInfo: Sendable {
    var backendPID: Int32
    var serverVersion: Int
}

/// The connection's own thread: owns the `PGconn`, runs requests one at a time in FIFO
/// order with non-blocking libpq, and waits in `poll()` on the server socket and the
/// core's wake-up pipe, so notifications arrive while no query runs.
///
/// Everything in here is confined to that thread.
final class _ConnectionLoop {
    private let core: _ConnectionCore
    private let logger: Logger
    private var conn: OpaquePointer?
    private var cancelHandle: OpaquePointer?

    private var current: _Request?
    private var currentResult: _ResultBox?
    private var currentError: PostgresError?
    private var cancelSent = false
    private var needsFlush = false
    private var copyOutActive = false
    /// Statements prepared on this connection, by SQL and parameter types.
    private var statements: [_StatementKey: String] = [:]
    private var statementCounter = 0
    /// The current request's statement while its `Parse` runs (the execution follows).
    private var preparing: (key: _StatementKey, name: String)?
    /// The current request's prepared statement was found gone and prepared again once.
    private var reprepared = false
    /// The last FATAL/PANIC notice; the server sends one before it closes an idle session.
    private var lastFatalNotice: String?
    private var lastFatalSQLState: String?
    /// A blocking session runs on this thread: notifications are counted for its waits
    /// instead of being delivered to the notification sequence.
    private var inSession = false
    /// Notifications received during the session and not yet reported by a wait.
    private var sessionNotifications = 0
    /// The result of the session's current (blocking) request; during a session every
    /// request is one of its blocking calls.
    private var blockingResult: Result<_ResultBox?, any Error>?

    init(core: _ConnectionCore, logger: Logger) {
        self.core = core
        self.logger = logger
    }

    // MARK: - Thread entry

    func run(connectionString: String, target: String, timeout: Duration, completion: _Completion<_ConnectInfo>) {
        switch connect(connectionString, target: target, timeout: timeout) {
        case .failure(let error):
            finish(error: error, notificationsFailure: error)
            completion.complete(.failure(error))
            return
        case .success(let info):
            guard completion.complete(.success(info)) else {
                // The caller stopped waiting (cancelled); nobody will use this connection.
                finish(error: .closed("connect was cancelled"), notificationsFailure: nil)
                return
            }
        }
        logger.debug("connected to PostgreSQL", metadata: ["postgres.target": "\(target)"])
        serve()
    }

    // MARK: - Connecting

    private func connect(_ connectionString: String, target: String, timeout: Duration) -> Result<_ConnectInfo, PostgresError> {
        let deadline = ContinuousClock.now + timeout
        let seconds = max(2, Int((Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18).rounded(.up)))
        let keywords = ["dbname", "client_encoding", "connect_timeout", "fallback_application_name"]
        let values = [connectionString, "UTF8", String(seconds), "strata"]
        conn = _withCStringArray(keywords) { k in
            _withCStringArray(values) { v in PQconnectStartParams(k, v, 1) }
        }
        guard let conn else {
            return .failure(PostgresError(code: .connectionFailed, message: "libpq could not allocate a connection (out of memory)", target: target))
        }
        PQsetNoticeReceiver(conn, { argument, result in
            guard let argument, let result else { return }
            Unmanaged<_ConnectionLoop>.fromOpaque(argument).takeUnretainedValue().handleNotice(result)
        }, Unmanaged.passUnretained(self).toOpaque())

        let failureHint = "check that the server is running and reachable, and the host, port, user, password and database in the connection string"
        guard PQstatus(conn) != CONNECTION_BAD else {
            let message = errorMessage()
            if _ConnectionString.isOptionError(message) {
                return .failure(PostgresError(
                    code: .invalidConnectionString,
                    message: "invalid connection string or URL (\(target)): \(message)",
                    hint: "see https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-PARAMKEYWORDS"))
            }
            return .failure(PostgresError(code: .connectionFailed, message: message, hint: failureHint, target: target))
        }
        var status = PGRES_POLLING_WRITING
        while status != PGRES_POLLING_OK {
            if status == PGRES_POLLING_FAILED {
                return .failure(PostgresError(code: .connectionFailed, message: errorMessage(), hint: failureHint, target: target))
            }
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero {
                return .failure(PostgresError(
                    code: .timeout, message: "no connection within \(timeout)",
                    hint: "check that the host and port are right and that no firewall drops the packets, or raise connectTimeout",
                    target: target))
            }
            let events = status == PGRES_POLLING_READING ? Int16(POLLIN) : Int16(POLLOUT)
            let outcome = wait(socket: PQsocket(conn), events: events, timeout: remaining)
            if outcome.woken {
                core.drainWakeups()
                if core.state.withLock({ $0.closeRequested }) {
                    return .failure(.closed("the connection was closed while connecting"))
                }
            }
            if outcome.socketEvents != 0 {
                status = PQconnectPoll(conn)
            }
        }

        // Results are decoded from ISO dates; make sure the session prints them that way.
        if let style = PQparameterStatus(conn, "DateStyle").map({ String(cString: $0) }), !style.hasPrefix("ISO") {
            let result = PQexec(conn, "SET DateStyle TO ISO")
            let ok = PQresultStatus(result) == PGRES_COMMAND_OK
            PQclear(result)
            guard ok else {
                return .failure(PostgresError(code: .connectionFailed, message: "could not set DateStyle to ISO: \(errorMessage())", target: target))
            }
        }
        guard PQsetnonblocking(conn, 1) == 0 else {
            return .failure(PostgresError(code: .connectionFailed, message: "could not make the connection non-blocking: \(errorMessage())", target: target))
        }
        cancelHandle = PQgetCancel(conn)
        return .success(_ConnectInfo(backendPID: PQbackendPID(conn), serverVersion: Int(PQserverVersion(conn))))
    }

    // MARK: - Serving requests

    private func serve() {
        guard let conn else { return }
        while true {
            let (closing, cancelNow, next) = core.state.withLock { state -> (Bool, Bool, _Request?) in
                if state.closeRequested { return (true, false, nil) }
                var next: _Request?
                if current == nil, !state.queue.isEmpty {
                    next = state.queue.removeFirst()
                    state.current = next
                    state.cancelCurrent = false
                }
                let cancel = state.cancelCurrent
                state.cancelCurrent = false
                return (false, cancel, next)
            }
            if closing {
                finish(error: .closed("the connection was closed by close()"), notificationsFailure: nil)
                return
            }
            if cancelNow, current != nil, !cancelSent { sendCancel() }
            if let next, case .session(let body) = next.kind {
                runSession(next, body)
                if self.conn == nil { return }  // the connection was lost during the session
                continue
            }
            if let next {
                start(next)
                if PQstatus(conn) == CONNECTION_BAD {
                    connectionLost()
                    return
                }
            }
            guard processInput() else {
                connectionLost()
                return
            }
            if current == nil, core.state.withLock({ !$0.queue.isEmpty || $0.closeRequested }) { continue }

            let outcome = waitForSocket(conn, timeout: nil)
            if outcome.woken { core.drainWakeups() }
            guard consume(outcome) else { return }
        }
    }

    private func start(_ request: _Request) {
        guard let conn else { return }
        current = request
        currentResult = nil
        currentError = nil
        cancelSent = false
        copyOutActive = false
        preparing = nil
        reprepared = false
        let sent: Int32
        switch request.kind {
        case .simple(let sql):
            sent = PQsendQuery(conn, sql)
        case .query(let sql, let parameters, let types):
            sent = _withOptionalCStringArray(parameters) { values in
                types.withUnsafeBufferPointer { types in
                    PQsendQueryParams(conn, sql, Int32(parameters.count), types.baseAddress, values, nil, nil, 0)
                }
            }
        case .prepared(let sql, let parameters, let types):
            sent = sendPrepared(sql: sql, parameters: parameters, types: types)
        case .session:
            preconditionFailure("a blocking session is run by runSession, not sent")
        }
        guard sent == 1 else {
            sendFailed()
            return
        }
        flush()
    }

    /// Executes the statement if this connection has prepared it, else prepares it first
    /// (``processInput()`` sends the execution once the `Parse` succeeded).
    private func sendPrepared(sql: String, parameters: [String?], types: [UInt32]) -> Int32 {
        guard let conn else { return 0 }
        let key = _StatementKey(sql: sql, types: types)
        if let name = statements[key] {
            return _withOptionalCStringArray(parameters) { values in
                PQsendQueryPrepared(conn, name, Int32(parameters.count), values, nil, nil, 0)
            }
        }
        statementCounter += 1
        let name = "strata_\(statementCounter)"
        preparing = (key, name)
        return types.withUnsafeBufferPointer { types in
            PQsendPrepare(conn, name, sql, Int32(types.count), types.baseAddress)
        }
    }

    /// After the results of a request's first step: continues a prepared statement's request
    /// (its execution after the `Parse`, or the `Parse` again after the server said the
    /// statement is gone, e.g. after `DEALLOCATE ALL`). Returns false when the request is done.
    private func continuePrepared() -> Bool {
        guard let request = current, case .prepared(let sql, let parameters, let types) = request.kind else { return false }
        if let step = preparing {
            preparing = nil
            guard currentError == nil else { return false }
            statements[step.key] = step.name
        } else if let error = currentError, !reprepared, Self.statementIsStale(error) {
            // The statement did not run. Prepare it anew, and run it again at once unless
            // the failed Bind aborted an open transaction block (then the caller gets the
            // error, and the next call prepares the statement anew).
            statements[_StatementKey(sql: sql, types: types)] = nil
            guard let conn, PQtransactionStatus(conn) == PQTRANS_IDLE else { return false }
            reprepared = true
            currentError = nil
        } else {
            return false
        }
        guard sendPrepared(sql: sql, parameters: parameters, types: types) == 1 else {
            sendFailed()
            return true
        }
        flush()
        return true
    }

    /// The server no longer has the prepared statement (26000, e.g. after `DEALLOCATE ALL`)
    /// or cannot run it since a schema change altered its result columns.
    private static func statementIsStale(_ error: PostgresError) -> Bool {
        error.sqlState == "26000"
            || (error.sqlState == "0A000" && error.message.hasPrefix("cached plan must not change result type"))
    }

    /// A request could not be sent: it fails with libpq's message.
    private func sendFailed() {
        guard let conn else { return }
        let bad = PQstatus(conn) == CONNECTION_BAD
        currentError = PostgresError(code: bad ? .connectionClosed : .protocolViolation, message: errorMessage())
        completeCurrent()
    }

    /// Sends buffered output; remembers whether the socket must become writable first.
    private func flush() {
        guard let conn else { return }
        switch PQflush(conn) {
        case 0: needsFlush = false
        case 1: needsFlush = true
        default: needsFlush = false  // the failure shows up as CONNECTION_BAD / PQconsumeInput
        }
    }

    /// Parses whatever libpq has buffered: notifications and results of the current request.
    /// Returns `false` if the connection is gone.
    private func processInput() -> Bool {
        guard let conn else { return false }
        deliverNotifications()
        if current != nil {
            resultLoop: while true {
                if copyOutActive {
                    var buffer: UnsafeMutablePointer<CChar>?
                    let n = PQgetCopyData(conn, &buffer, 1)
                    if let buffer { PQfreemem(buffer) }
                    if n > 0 { continue }
                    if n == 0 { break resultLoop }  // wait for more input
                    copyOutActive = false
                }
                if PQisBusy(conn) != 0 { break }
                guard let result = PQgetResult(conn) else {
                    if continuePrepared() {
                        if current == nil { break resultLoop }
                        continue
                    }
                    completeCurrent()
                    break
                }
                handle(result)
            }
            deliverNotifications()
        }
        return PQstatus(conn) != CONNECTION_BAD
    }

    private func handle(_ result: OpaquePointer) {
        guard let conn, let current else {
            PQclear(result)
            return
        }
        let status = PQresultStatus(result)
        switch status {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY, PGRES_SINGLE_TUPLE:
            switch current.kind {
            case .query:
                currentResult = _ResultBox(result)  // frees the result when released
            case .prepared where preparing == nil:
                currentResult = _ResultBox(result)
            case .prepared, .simple, .session:
                PQclear(result)  // the Parse step's result, or a simple query's
            }
        case PGRES_COPY_IN:
            PQclear(result)
            noteError(PostgresError(code: .unsupported, message: "COPY FROM STDIN is not supported by StrataPostgres"))
            _ = PQputCopyEnd(conn, "COPY FROM STDIN is not supported by this client")
            flush()
        case PGRES_COPY_OUT:
            PQclear(result)
            noteError(PostgresError(code: .unsupported, message: "COPY TO STDOUT is not supported by StrataPostgres; its data was discarded"))
            copyOutActive = true
        case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE:
            noteError(serverError(result))
            PQclear(result)
        default:
            let name = PQresStatus(status).map { String(cString: $0) } ?? "\(status)"
            PQclear(result)
            noteError(PostgresError(code: .protocolViolation, message: "unexpected result status \(name)"))
        }
    }

    private func noteError(_ error: PostgresError) {
        if currentError == nil { currentError = error }
    }

    private func completeCurrent() {
        guard let request = current else { return }
        let result: Result<_ResultBox?, any Error>
        if let error = currentError {
            result = .failure(error)
        } else if request.kind.returnsRows, currentResult == nil {
            result = .failure(PostgresError(code: .protocolViolation, message: "the server sent no result"))
        } else {
            result = .success(currentResult)
        }
        current = nil
        currentResult = nil
        currentError = nil
        cancelSent = false
        if inSession {
            // A blocking call of the session, whose caller is on this thread; the shared
            // state's current request stays the session (its cancellation interrupts it).
            blockingResult = result
            return
        }
        core.state.withLock { state in
            state.current = nil
            state.cancelCurrent = false
        }
        request.completion.complete(result)
    }

    private func sendCancel() {
        guard let cancelHandle else { return }
        cancelSent = true
        var buffer = [CChar](repeating: 0, count: 256)
        if PQcancel(cancelHandle, &buffer, Int32(buffer.count)) == 0 {
            let bytes = buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }
            logger.warning("could not send a cancel request to PostgreSQL", metadata: [
                "postgres.error": "\(_oneLine(String(decoding: bytes, as: UTF8.self)))",
            ])
        }
    }

    private func deliverNotifications() {
        guard let conn else { return }
        while let notify = PQnotifies(conn) {
            let notification = PostgresNotification(
                channel: String(cString: notify.pointee.relname),
                payload: notify.pointee.extra.map { String(cString: $0) } ?? "",
                pid: notify.pointee.be_pid)
            PQfreemem(notify)
            if inSession {
                sessionNotifications += 1
            } else {
                core.notificationSink.yield(notification)
            }
        }
    }

    // MARK: - Blocking sessions

    /// Runs a session's body on this thread, then completes its request.
    private func runSession(_ request: _Request, _ body: @Sendable (PostgresBlockingSession) -> Void) {
        inSession = true
        sessionNotifications = 0
        let session = PostgresBlockingSession(loop: self)
        body(session)
        session._end()
        inSession = false
        sessionNotifications = 0
        core.state.withLock { state in
            state.current = nil
            state.cancelCurrent = false
            state.sessionInterrupted = false
        }
        request.completion.complete(.success(nil))
    }

    /// Whether the session should stop: interrupted, its caller cancelled, or the
    /// connection is being closed.
    var sessionInterrupted: Bool {
        core.state.withLock { $0.sessionInterrupted || $0.cancelCurrent || $0.closeRequested }
    }

    /// The error a session call throws once the connection is gone.
    private var lostError: PostgresError {
        core.state.withLock { $0.closedError } ?? .closed("the connection was closed")
    }

    /// Runs one request to its end on this thread (a session's query).
    func runBlocking(_ kind: _Request.Kind) throws -> _ResultBox? {
        guard let conn else { throw lostError }
        if sessionInterrupted { throw CancellationError() }
        blockingResult = nil
        defer { blockingResult = nil }
        start(_Request(kind))
        while true {
            if let result = blockingResult { return try result.get() }
            guard PQstatus(conn) != CONNECTION_BAD, processInput() else {
                connectionLost()
                throw lostError
            }
            if let result = blockingResult { return try result.get() }
            let outcome = waitForSocket(conn, timeout: nil)
            if outcome.woken {
                core.drainWakeups()
                // Stop the statement rather than wait for it: the session is to end.
                if sessionInterrupted, !cancelSent { sendCancel() }
            }
            guard consume(outcome) else { throw lostError }
        }
    }

    /// Waits until a notification arrives (`true`, also for one that arrived since the last
    /// wait), the session is interrupted, or `timeout` passes (`false`). With
    /// `forNotification` false, notifications do not end the wait (they stay counted).
    func waitBlocking(timeout: Duration, forNotification: Bool) throws -> Bool {
        guard let conn else { throw lostError }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            if forNotification, sessionNotifications > 0 {
                sessionNotifications = 0
                return true
            }
            if sessionInterrupted { return false }
            let remaining = deadline - clock.now
            if remaining <= .zero { return false }
            let outcome = waitForSocket(conn, timeout: remaining)
            if outcome.woken { core.drainWakeups() }
            guard consume(outcome) else { throw lostError }
            deliverNotifications()
        }
    }

    /// Waits until the server socket is readable (or writable, while output is pending), the
    /// wake-up pipe has a byte, or `timeout` passes.
    private func waitForSocket(_ conn: OpaquePointer, timeout: Duration?) -> WaitOutcome {
        let events = Int16(POLLIN) | (needsFlush ? Int16(POLLOUT) : 0)
        return wait(socket: PQsocket(conn), events: events, timeout: timeout)
    }

    /// Handles the socket's events after a wait: flushes pending output, reads input.
    /// Returns `false` once the connection is lost (``connectionLost()`` has run).
    private func consume(_ outcome: WaitOutcome) -> Bool {
        guard let conn else { return false }
        if outcome.socketEvents & Int16(POLLOUT) != 0, needsFlush { flush() }
        if outcome.socketEvents & (Int16(POLLIN) | Int16(POLLHUP) | Int16(POLLERR)) != 0 {
            guard PQconsumeInput(conn) == 1 else {
                connectionLost()
                return false
            }
            if needsFlush { flush() }
        }
        if outcome.socketEvents & Int16(POLLNVAL) != 0 {
            connectionLost()
            return false
        }
        return true
    }

    // MARK: - Errors and notices

    private func serverError(_ result: OpaquePointer) -> PostgresError {
        func field(_ code: Character) -> String? {
            PQresultErrorField(result, Int32(code.asciiValue!)).map { String(cString: $0) }
        }
        let severity = field("V") ?? field("S")
        let sqlState = field("C")
        var error: PostgresError
        if let primary = field("M") {
            let sessionEnded = severity == "FATAL" || severity == "PANIC" || PQstatus(conn) == CONNECTION_BAD
            error = PostgresError(
                code: sessionEnded ? .connectionClosed : .server,
                message: primary, sqlState: sqlState, detail: field("D"), hint: field("H"))
        } else {
            // Generated by libpq itself (no SQLSTATE), e.g. the connection dropped mid-query.
            let message = PQresultErrorMessage(result).map { String(cString: $0) } ?? errorMessage()
            let lost = PQstatus(conn) == CONNECTION_BAD
            error = PostgresError(code: lost ? .connectionClosed : .protocolViolation, message: message, sqlState: sqlState)
        }
        error.severity = severity
        error.context = field("W")
        error.schemaName = field("s")
        error.tableName = field("t")
        error.columnName = field("c")
        error.dataTypeName = field("d")
        error.constraintName = field("n")
        error.position = field("P").flatMap { Int($0) }
        return error
    }

    fileprivate func handleNotice(_ result: OpaquePointer) {
        let severity = PQresultErrorField(result, Int32(Character("V").asciiValue!)).map { String(cString: $0) } ?? "NOTICE"
        let message = PQresultErrorField(result, Int32(Character("M").asciiValue!)).map { String(cString: $0) } ?? ""
        let sqlState = PQresultErrorField(result, Int32(Character("C").asciiValue!)).map { String(cString: $0) } ?? ""
        let metadata: Logger.Metadata = ["postgres.sqlstate": "\(sqlState)", "postgres.severity": "\(severity)"]
        switch severity {
        case "FATAL", "PANIC":
            lastFatalNotice = "\(severity): \(message)"
            lastFatalSQLState = sqlState.isEmpty ? nil : sqlState
            logger.warning("PostgreSQL: \(message)", metadata: metadata)
        case "WARNING":
            logger.warning("PostgreSQL: \(message)", metadata: metadata)
        case "NOTICE", "INFO":
            logger.info("PostgreSQL: \(message)", metadata: metadata)
        default:
            logger.debug("PostgreSQL: \(message)", metadata: metadata)
        }
    }

    private func errorMessage() -> String {
        guard let conn, let message = PQerrorMessage(conn) else { return "unknown libpq error" }
        // libpq writes "FATAL:  role ..." with two spaces.
        let text = _oneLine(String(cString: message)).replacingOccurrences(of: ":  ", with: ": ")
        return text.isEmpty ? "unknown libpq error" : text
    }

    // MARK: - Shutting down

    private func connectionLost() {
        let reason = errorMessage()
        var fatal = lastFatalNotice
        var sqlState = lastFatalSQLState
        if let conn, current != nil {
            // Parse what arrived before the socket closed: usually the server's FATAL error
            // (e.g. 57P01 from pg_terminate_backend). libpq returns promptly on a dead socket.
            var results = 0
            while results < 16, let result = PQgetResult(conn) {
                handle(result)
                results += 1
            }
            if let error = currentError, let state = error.sqlState {
                sqlState = sqlState ?? state
                fatal = fatal ?? "\(error.severity ?? "FATAL"): \(error.message)"
            }
        }
        var message = "connection to the server was lost: "
        if let fatal, !reason.contains(fatal) { message += fatal + "; " }
        message += reason
        let error = PostgresError.closed(message, sqlState: sqlState)
        logger.warning("PostgreSQL connection lost", metadata: ["postgres.error": "\(message)"])
        finish(error: error, notificationsFailure: error)
    }

    /// Fails everything in flight, ends the notification sequence, frees libpq objects
    /// and wakes `close()` callers. The thread ends afterwards.
    private func finish(error: PostgresError, notificationsFailure: PostgresError?) {
        let queued = core.state.withLock { state -> [_Request] in
            if state.closedError == nil { state.closedError = error }
            let queued = state.queue
            state.queue = []
            state.current = nil
            return queued
        }
        if let current {
            // Closing with a statement in flight: ask the server to stop it rather than
            // letting it run until the backend notices the closed socket.
            if conn != nil, PQstatus(conn) == CONNECTION_OK, !cancelSent { sendCancel() }
            self.current = nil
            current.completion.complete(.failure(error))
        }
        currentResult = nil
        for request in queued { request.completion.complete(.failure(error)) }
        if let notificationsFailure {
            core.notificationSink.finish(throwing: notificationsFailure)
        } else {
            core.notificationSink.finish()
        }
        if let cancelHandle { PQfreeCancel(cancelHandle) }
        cancelHandle = nil
        if let conn { PQfinish(conn) }
        conn = nil
        let waiters = core.state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.threadExited = true
            let waiters = state.exitWaiters
            state.exitWaiters = []
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    // MARK: - poll()

    private struct WaitOutcome {
        var socketEvents: Int16 = 0
        var woken = false
        var timedOut = false
    }

    private func wait(socket: Int32, events: Int16, timeout: Duration?) -> WaitOutcome {
        var fds = [
            pollfd(fd: socket, events: events, revents: 0),
            pollfd(fd: core.wakeReadFD, events: Int16(POLLIN), revents: 0),
        ]
        var milliseconds: Int32 = -1
        if let timeout {
            let (seconds, attoseconds) = timeout.components
            let total = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
            milliseconds = Int32(clamping: max(0, total))
        }
        while true {
            let n = poll(&fds, 2, milliseconds)
            if n < 0 {
                if errno == EINTR { continue }
                logger.error("poll() failed", metadata: ["errno": "\(errno)"])
                return WaitOutcome(socketEvents: Int16(POLLERR))
            }
            return WaitOutcome(socketEvents: fds[0].revents, woken: fds[1].revents != 0, timedOut: n == 0)
        }
    }
}

/// Calls `body` with a NULL-terminated C array of C strings.
func _withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let pointers = copies.map { $0.map { UnsafePointer($0) } } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Calls `body` with a C array of C strings, `nil` entries staying NULL (SQL NULL parameters).
func _withOptionalCStringArray<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    let copies = strings.map { $0.flatMap { strdup($0) } }
    defer { copies.forEach { free($0) } }
    let pointers = copies.map { $0.map { UnsafePointer($0) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
}

/// A statement prepared on a connection: the same SQL with other parameter types is another.
struct _StatementKey: Hashable {
    var sql: String
    var types: [UInt32]
}

extension _Request.Kind {
    /// Whether the request's caller expects a result (rows or a command status).
    var returnsRows: Bool {
        switch self {
        case .query, .prepared: true
        case .simple, .session: false
        }
    }
}
