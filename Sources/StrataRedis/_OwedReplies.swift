import Synchronization

/// Replies a task waits for after an inline exchange handed the rest of the reading to a
/// blocking reader (the connection's I/O thread, or a blocking call that came first).
///
/// The reader may finish before the task attaches its continuation; whichever comes
/// second resumes it.
final class _OwedReplies: Sendable {
    private enum State {
        case pending
        case waiting(CheckedContinuation<_PipelineReplies, any Error>)
        case finished(Result<_PipelineReplies, RedisError>)
    }

    /// The replies read inline, before the hand-over (`received.expected` in all).
    let received: _PipelineReplies
    private let state = Mutex(State.pending)

    init(received: _PipelineReplies) {
        self.received = received
    }

    /// Delivers the outcome; later calls are ignored.
    func complete(_ result: Result<_PipelineReplies, RedisError>) {
        let continuation = state.withLock { state -> CheckedContinuation<_PipelineReplies, any Error>? in
            switch state {
            case .pending:
                state = .finished(result)
                return nil
            case .waiting(let continuation):
                state = .finished(result)
                return continuation
            case .finished:
                return nil
            }
        }
        continuation?.resume(with: result.mapError { $0 as any Error })
    }

    /// Suspends until ``complete(_:)`` (returns at once if it already happened).
    func value() async throws -> _PipelineReplies {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<_PipelineReplies, any Error>) in
            let result = state.withLock { state -> Result<_PipelineReplies, RedisError>? in
                if case .finished(let result) = state { return result }
                state = .waiting(continuation)
                return nil
            }
            if let result { continuation.resume(with: result.mapError { $0 as any Error }) }
        }
    }
}
