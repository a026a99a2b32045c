import Synchronization

/// A one-slot wake-up: `signal()` wakes the waiter, or the next `wait`, at most once.
final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
        var generation: UInt64 = 0
    }

    private let state = Mutex(State())

    func signal() {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns when signalled, after `timeout`, or when the task is cancelled.
    func wait(timeout: Duration) async {
        let generation: UInt64? = state.withLock { state in
            if state.pending {
                state.pending = false
                return nil
            }
            state.generation &+= 1
            return state.generation
        }
        guard let generation else { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow: Bool = state.withLock { state in
                    if state.pending || state.generation != generation {
                        state.pending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow {
                    continuation.resume()
                    return
                }
                Task { [weak self] in
                    try? await Task.sleep(for: timeout)
                    self?.expire(generation)
                }
            }
        } onCancel: {
            self.expire(nil)
        }
    }

    private func expire(_ generation: UInt64?) {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            guard generation == nil || state.generation == generation else { return nil }
            let waiter = state.waiter
            state.waiter = nil
            if waiter == nil, generation == nil { state.generation &+= 1 }
            return waiter
        }
        waiter?.resume()
    }
}
