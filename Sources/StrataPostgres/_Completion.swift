import Synchronization

/// A one-shot result slot between a waiting task and the connection thread.
///
/// Guarantees the continuation is resumed exactly once, whichever comes first: the
/// result from the connection thread, or the task's cancellation.
final class _Completion<Value: Sendable>: Sendable {
    private enum State {
        case idle
        case waiting(CheckedContinuation<Value, any Error>)
        case cancelled
        case finished
    }

    private let state = Mutex<State>(.idle)

    /// Installs the continuation. Returns `false` (after resuming it with
    /// `CancellationError`) if the task was cancelled before.
    func install(_ continuation: CheckedContinuation<Value, any Error>) -> Bool {
        let wasCancelled = state.withLock { state -> Bool in
            switch state {
            case .idle:
                state = .waiting(continuation)
                return false
            case .cancelled:
                return true
            case .waiting, .finished:
                preconditionFailure("continuation installed twice")
            }
        }
        if wasCancelled { continuation.resume(throwing: CancellationError()) }
        return !wasCancelled
    }

    /// Delivers the result. Returns `false` if nobody is waiting any more (cancelled).
    @discardableResult
    func complete(_ result: Result<Value, any Error>) -> Bool {
        let continuation = state.withLock { state -> CheckedContinuation<Value, any Error>? in
            switch state {
            case .waiting(let continuation):
                state = .finished
                return continuation
            case .idle:
                state = .finished
                return nil
            case .cancelled, .finished:
                return nil
            }
        }
        continuation?.resume(with: result)
        return continuation != nil
    }

    /// Cancels the wait. Returns `true` if a waiting continuation was resumed with
    /// `CancellationError` (the work may still be queued or running).
    func cancel() -> Bool {
        let continuation = state.withLock { state -> CheckedContinuation<Value, any Error>? in
            switch state {
            case .waiting(let continuation):
                state = .cancelled
                return continuation
            case .idle:
                state = .cancelled
                return nil
            case .cancelled, .finished:
                return nil
            }
        }
        continuation?.resume(throwing: CancellationError())
        return continuation != nil
    }
}
