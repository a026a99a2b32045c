import Synchronization

/// A one-slot wake-up: `signal()` wakes the waiter, or the next `wait`, at most once.
/// Shared by the worker's loops and the Redis-less subscriber (`package` access).
package final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Bool, Never>?
        var generation: UInt64 = 0
    }

    private let state = Mutex(State())

    package init() {}

    package func signal() {
        let waiter: CheckedContinuation<Bool, Never>? = state.withLock { state in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume(returning: true)
    }

    /// Returns true when signalled, false after `timeout` or when the task is cancelled.
    @discardableResult
    package func wait(timeout: Duration) async -> Bool {
        let generation: UInt64? = state.withLock { state in
            if state.pending {
                state.pending = false
                return nil
            }
            state.generation &+= 1
            return state.generation
        }
        guard let generation else { return true }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let resumeNow: Bool? = state.withLock { state in
                    if state.pending {
                        state.pending = false
                        return true
                    }
                    if state.generation != generation { return false }
                    state.waiter = continuation
                    return nil
                }
                if let resumeNow {
                    continuation.resume(returning: resumeNow)
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

    /// Ends the wait of `generation` (or any wait, for `nil`) as not signalled.
    private func expire(_ generation: UInt64?) {
        let waiter: CheckedContinuation<Bool, Never>? = state.withLock { state in
            guard generation == nil || state.generation == generation else { return nil }
            let waiter = state.waiter
            state.waiter = nil
            if waiter == nil, generation == nil { state.generation &+= 1 }
            return waiter
        }
        waiter?.resume(returning: false)
    }
}
