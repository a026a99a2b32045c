import Synchronization

/// Replies a task waits for after an inline exchange handed the rest of the reading to a
/// blocking reader (the connection's I/O thread, or a blocking call that came first).
///
/// The reader may finish before the task attaches its continuation; whichever comes
/// second resumes it.
final class _OwedReplies: Sendable {
    private enum State {
        case pending
        case waiting(CheckedContinuation<[RESPValue], any Error>)
        case finished(Result<[RESPValue], RedisError>)
    }

    /// How many replies the exchange expects in all.
    let expected: Int
    /// The replies read inline, before the hand-over.
    let received: [RESPValue]
    private let state = Mutex(State.pending)

    init(expected: Int, received: [RESPValue]) {
        self.expected = expected
        self.received = received
    }

    /// Delivers the outcome; later calls are ignored.
    func complete(_ result: Result<[RESPValue], RedisError>) {
        let continuation = state.withLock { state -> CheckedContinuation<[RESPValue], any Error>? in
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
    func value() async throws -> [RESPValue] {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[RESPValue], any Error>) in
            let result = state.withLock { state -> Result<[RESPValue], RedisError>? in
                if case .finished(let result) = state { return result }
                state = .waiting(continuation)
                return nil
            }
            if let result { continuation.resume(with: result.mapError { $0 as any Error }) }
        }
    }
}
