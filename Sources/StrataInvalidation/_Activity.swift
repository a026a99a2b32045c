import Synchronization

/// When a stream last showed life, for a watchdog task; and whether the watchdog fired.
final class _Activity: Sendable {
    let clock = ContinuousClock()
    private let last: Mutex<ContinuousClock.Instant>
    private let fired = Atomic(false)

    init() { last = Mutex(ContinuousClock().now) }

    var lastActivity: ContinuousClock.Instant { last.withLock { $0 } }

    func touch(at instant: ContinuousClock.Instant) { last.withLock { $0 = instant } }

    /// Sleeps until `timeout` passed without activity, then marks itself fired and returns;
    /// returns without firing when the task is cancelled.
    func watch(timeout: Duration) async -> Bool {
        while !Task.isCancelled {
            let deadline = lastActivity + timeout
            if clock.now >= deadline {
                fired.store(true, ordering: .releasing)
                return true
            }
            try? await Task.sleep(until: deadline, clock: clock)
        }
        return false
    }

    var didFire: Bool { fired.load(ordering: .acquiring) }
}
