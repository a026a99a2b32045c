import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The state shared between callers (any task or thread) and the connection's own thread.
///
/// Callers append requests and poke the thread through a self-pipe; only the thread
/// touches the `PGconn`.
final class _ConnectionCore: Sendable {
    struct State {
        var queue: [_Request] = []
        /// The request the thread is running (set and cleared by the thread).
        var current: _Request?
        /// A caller cancelled `current`: the thread should send a cancel request.
        var cancelCurrent = false
        var closeRequested = false
        /// Set once the connection is unusable; later calls fail with it.
        var closedError: PostgresError?
        var threadExited = false
        var exitWaiters: [CheckedContinuation<Void, Never>] = []
        /// A wake-up byte is in the pipe and not yet drained.
        var wakePending = false
        /// ``PostgresConnection/interruptBlockingSession()`` was called: the running (or next)
        /// blocking session's waits return and its calls throw, until the session ends.
        var sessionInterrupted = false
    }

    let state = Mutex(State())
    let wakeReadFD: Int32
    let wakeWriteFD: Int32
    let notifications: AsyncThrowingStream<PostgresNotification, any Error>
    let notificationSink: AsyncThrowingStream<PostgresNotification, any Error>.Continuation

    init() throws(PostgresError) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            throw PostgresError(code: .connectionFailed, message: "could not create a wake-up pipe: \(String(cString: strerror(errno)))")
        }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        wakeReadFD = fds[0]
        wakeWriteFD = fds[1]
        (notifications, notificationSink) = AsyncThrowingStream.makeStream(
            of: PostgresNotification.self, throwing: (any Error).self, bufferingPolicy: .unbounded)
    }

    deinit {
        close(wakeReadFD)
        close(wakeWriteFD)
    }

    /// Queues a request, or fails it at once if the connection is closed.
    func enqueue(_ request: _Request) {
        let failure = state.withLock { state -> PostgresError? in
            if let error = state.closedError { return error }
            if state.closeRequested { return .closed("the connection was closed by close()") }
            state.queue.append(request)
            wakeLocked(&state)
            return nil
        }
        if let failure { request.completion.complete(.failure(failure)) }
    }

    /// A caller gave up waiting for `request`: drop it if still queued, else interrupt it.
    func cancel(_ request: _Request) {
        state.withLock { state in
            if let index = state.queue.firstIndex(where: { $0 === request }) {
                state.queue.remove(at: index)
            } else if state.current === request {
                state.cancelCurrent = true
                wakeLocked(&state)
            }
        }
    }

    /// Interrupts the blocking session that runs (or the next one).
    func interruptSession() {
        state.withLock { state in
            state.sessionInterrupted = true
            wakeLocked(&state)
        }
    }

    /// Asks the thread to close the connection (no waiting).
    func requestClose() {
        state.withLock { state in
            guard !state.closeRequested else { return }
            state.closeRequested = true
            wakeLocked(&state)
        }
    }

    /// Suspends until the connection thread has finished (PQfinish done).
    func waitForExit() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let exited = state.withLock { state -> Bool in
                if state.threadExited { return true }
                state.exitWaiters.append(continuation)
                return false
            }
            if exited { continuation.resume() }
        }
    }

    var isClosed: Bool {
        state.withLock { $0.closeRequested || $0.closedError != nil }
    }

    /// Called by the thread when it sees the wake-up: empties the pipe.
    /// The flag is cleared only after the pipe is empty: clearing it first could let a
    /// caller's byte be swallowed by this drain while the flag says one is pending, and
    /// every later wake-up would then be skipped.
    func drainWakeups() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(wakeReadFD, &buffer, buffer.count) > 0 {}
        state.withLock { $0.wakePending = false }
    }

    private func wakeLocked(_ state: inout State) {
        guard !state.wakePending else { return }
        state.wakePending = true
        var byte: UInt8 = 1
        _ = write(wakeWriteFD, &byte, 1)
    }
}
