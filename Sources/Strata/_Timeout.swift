import Synchronization

/// Thrown internally when a deadline passes first.
struct _TimedOut: Error {}

/// Resumes a continuation at most once.
final class _OnceContinuation<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, any Error>?>

    init(_ continuation: CheckedContinuation<T, any Error>) { self.continuation = Mutex(continuation) }

    @discardableResult
    func resume(with result: Result<T, any Error>) -> Bool {
        guard let continuation = continuation.withLock({ value -> CheckedContinuation<T, any Error>? in
            defer { value = nil }
            return value
        }) else { return false }
        continuation.resume(with: result)
        return true
    }
}

/// Runs `operation` in its own task and returns its result, or throws `_TimedOut` after
/// `timeout` and cancels it. Unlike a task group this does not wait for an operation that
/// ignores cancellation: the caller is released at the deadline whatever the operation does.
/// Cancelling the caller cancels the operation.
func _withTimeout<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let work = Task { try await operation() }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let once = _OnceContinuation(continuation)
            let timer = Task {
                try? await Task.sleep(for: timeout)
                guard !Task.isCancelled else { return }
                if once.resume(with: .failure(_TimedOut())) { work.cancel() }
            }
            Task {
                let result = await work.result
                timer.cancel()
                once.resume(with: result)
            }
        }
    } onCancel: {
        work.cancel()
    }
}

/// Waits for `task` up to `timeout`; `nil` when the deadline passed first (the task goes on).
func _waitUpTo<T: Sendable>(_ timeout: Duration, for task: Task<T, any Error>) async throws -> T? {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T?, any Error>) in
        let once = _OnceContinuation(continuation)
        let timer = Task {
            try? await Task.sleep(for: timeout)
            guard !Task.isCancelled else { return }
            once.resume(with: .success(nil))
        }
        Task {
            let result = await task.result
            timer.cancel()
            once.resume(with: result.map { Optional($0) })
        }
    }
}
