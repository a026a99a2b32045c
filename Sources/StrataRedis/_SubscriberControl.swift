import Synchronization

/// Close request and exit notification shared between a ``RedisSubscriber`` and its thread.
final class _SubscriberControl: Sendable {
    private struct State {
        var exited = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let closeRequested = Atomic<Bool>(false)
    private let state = Mutex(State())

    var isCloseRequested: Bool { closeRequested.load(ordering: .acquiring) }

    func requestClose() { closeRequested.store(true, ordering: .releasing) }

    func markExited() {
        let waiters = state.withLock { state in
            state.exited = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func waitUntilExited() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let exited = state.withLock { state in
                if !state.exited { state.waiters.append(continuation) }
                return state.exited
            }
            if exited { continuation.resume() }
        }
    }
}
