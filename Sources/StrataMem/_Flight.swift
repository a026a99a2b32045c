import Synchronization

/// One in-flight load: the leader runs the loader, every other caller for the same key
/// waits here for its result.
@usableFromInline
final class _Flight<Value: Sendable>: Sendable {
    @usableFromInline
    enum _State {
        case waiting([CheckedContinuation<Value, any Error>])
        case done(Result<Value, any Error>)
    }

    let state = Mutex<_State>(.waiting([]))

    @usableFromInline
    init() {}

    /// Waits for the leader's result.
    @usableFromInline
    func wait() async throws -> Value {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
            let ready: Result<Value, any Error>? = state.withLock { state in
                switch state {
                case .waiting(var list):
                    list.append(continuation)
                    state = .waiting(list)
                    return nil
                case .done(let result):
                    return result
                }
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    /// Publishes the result to every waiter, present and future.
    @usableFromInline
    func finish(_ result: Result<Value, any Error>) {
        let waiters: [CheckedContinuation<Value, any Error>] = state.withLock { state in
            guard case .waiting(let list) = state else { return [] }
            state = .done(result)
            return list
        }
        for waiter in waiters { waiter.resume(with: result) }
    }
}

/// What a segment remembers about an in-flight load so that invalidations can fence it.
@usableFromInline
struct _FlightRecord<Value: Sendable> {
    @usableFromInline let flight: _Flight<Value>
    /// Set by any invalidation (or explicit `set`) touching the key while the load runs:
    /// the loaded value is then returned to the waiters but not stored.
    @usableFromInline var fenced: Bool = false
    @usableFromInline let tags: [String]
    @usableFromInline let prefixKey: String?
    @usableFromInline let startedAt: Int64

    @usableFromInline
    init(flight: _Flight<Value>, tags: [String], prefixKey: String?, startedAt: Int64) {
        self.flight = flight
        self.tags = tags
        self.prefixKey = prefixKey
        self.startedAt = startedAt
    }
}

/// A cached loader error (negative caching).
@usableFromInline
struct _Negative {
    @usableFromInline let error: any Error
    @usableFromInline let expiresAt: Int64
    @usableFromInline let tags: [String]
    @usableFromInline let prefixKey: String?
}
