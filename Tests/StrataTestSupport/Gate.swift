import Synchronization

/// A latch that orders concurrent steps of a test without sleeping: `wait()` parks the
/// caller while the gate is closed, `open()` releases every parked caller (and lets later
/// ones through) until `close()`.
public final class Gate: Sendable {
    private struct State {
        var open: Bool
        var parked: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    public init(open: Bool = false) { state = Mutex(State(open: open)) }

    public func close() { state.withLock { $0.open = false } }

    public func open() {
        let parked = state.withLock { state in
            state.open = true
            defer { state.parked = [] }
            return state.parked
        }
        for continuation in parked { continuation.resume() }
    }

    /// How many callers are parked right now.
    public var parkedCount: Int { state.withLock { $0.parked.count } }

    public func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state in
                if state.open { return true }
                state.parked.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Same as `wait()`: passes an open gate, parks at a closed one.
    public func pass() async { await wait() }
}

/// Polls `condition` every 10 ms until it holds; throws after `timeout` (a bound far above
/// the expected time: the test fails on a behaviour that never comes, not on a slow one).
public func eventually(timeout: Duration = .seconds(10), _ what: @autoclosure () -> String,
                       _ condition: () async throws -> Bool) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    throw ProjectScripts.Failure("timed out after \(timeout) waiting for: \(what())")
}
