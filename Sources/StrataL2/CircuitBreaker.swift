/// Parameters of a ``CircuitBreaker`` (as in resilience4j / Polly).
public struct CircuitBreakerConfiguration: Sendable, Hashable {
    /// The breaker opens when at least this fraction of the recorded calls failed (0...1).
    public var failureRateThreshold: Double = 0.5
    /// No decision before this many calls are in the window.
    public var minimumCalls: Int = 10
    /// The window holds the outcomes of the last this-many calls.
    public var slidingWindowSize: Int = 20
    /// How long the breaker stays open before letting probes through.
    public var breakDuration: Duration = .seconds(5)
    /// Calls let through while half-open; all must succeed to close again, one failure reopens.
    public var halfOpenPermittedCalls: Int = 3

    public init(failureRateThreshold: Double = 0.5, minimumCalls: Int = 10, slidingWindowSize: Int = 20,
                breakDuration: Duration = .seconds(5), halfOpenPermittedCalls: Int = 3) {
        self.failureRateThreshold = failureRateThreshold
        self.minimumCalls = minimumCalls
        self.slidingWindowSize = slidingWindowSize
        self.breakDuration = breakDuration
        self.halfOpenPermittedCalls = halfOpenPermittedCalls
    }
}

/// A circuit breaker as a pure state machine: no clock, no locks. The caller passes the
/// current time (any monotonic `Duration` since an origin it chooses) and serializes calls.
///
/// ```swift
/// var breaker = CircuitBreaker(configuration: .init(minimumCalls: 4))
/// guard breaker.acquire(now: now) else { return .skipped }      // open: skip Redis
/// do { try await work(); breaker.record(success: true, now: now) }
/// catch { breaker.record(success: false, now: now) }
/// ```
///
/// - closed: every call is permitted; outcomes go into a count-based sliding window.
///   When it holds at least `minimumCalls` outcomes and the failure ratio reaches
///   `failureRateThreshold`, the breaker opens.
/// - open: calls are rejected until `breakDuration` has passed, then the breaker is
///   half-open.
/// - half-open: `halfOpenPermittedCalls` probes are permitted, others rejected; when all
///   probes succeeded it closes (with an empty window), the first failure reopens it.
public struct CircuitBreaker: Sendable {
    public enum State: Sendable, Hashable {
        case closed
        case open(until: Duration)
        case halfOpen
    }

    public let configuration: CircuitBreakerConfiguration
    public private(set) var state: State = .closed
    /// Number of times the breaker opened.
    public private(set) var openings = 0

    private var window: [Bool]   // true = failure
    private var windowNext = 0
    private var windowCount = 0
    private var windowFailures = 0
    private var probesIssued = 0
    private var probesSucceeded = 0

    public init(configuration: CircuitBreakerConfiguration = .init()) {
        precondition(configuration.slidingWindowSize >= 1, "slidingWindowSize must be at least 1")
        precondition(configuration.halfOpenPermittedCalls >= 1, "halfOpenPermittedCalls must be at least 1")
        self.configuration = configuration
        self.window = Array(repeating: false, count: configuration.slidingWindowSize)
    }

    /// The state at `now` (an open breaker whose break has passed reports `.halfOpen`).
    public func state(at now: Duration) -> State {
        if case .open(let until) = state, now >= until { return .halfOpen }
        return state
    }

    /// Whether a call may go ahead now. Every permitted call must be followed by exactly
    /// one ``record(success:now:)``.
    public mutating func acquire(now: Duration) -> Bool {
        switch state {
        case .closed:
            return true
        case .open(let until):
            guard now >= until else { return false }
            state = .halfOpen
            probesIssued = 1
            probesSucceeded = 0
            return true
        case .halfOpen:
            guard probesIssued < configuration.halfOpenPermittedCalls else { return false }
            probesIssued += 1
            return true
        }
    }

    /// Records the outcome of a permitted call.
    public mutating func record(success: Bool, now: Duration) {
        switch state {
        case .closed:
            if windowCount == window.count {
                if window[windowNext] { windowFailures -= 1 }
            } else {
                windowCount += 1
            }
            window[windowNext] = !success
            if !success { windowFailures += 1 }
            windowNext = (windowNext + 1) % window.count
            if windowCount >= configuration.minimumCalls,
               Double(windowFailures) >= configuration.failureRateThreshold * Double(windowCount) {
                open(now: now)
            }
        case .open:
            break   // a late outcome of a call permitted before the breaker opened
        case .halfOpen:
            if !success {
                open(now: now)
                return
            }
            probesSucceeded += 1
            if probesSucceeded >= configuration.halfOpenPermittedCalls {
                state = .closed
                resetWindow()
            }
        }
    }

    /// Failure ratio of the current window (0 when empty).
    public var failureRate: Double { windowCount == 0 ? 0 : Double(windowFailures) / Double(windowCount) }

    private mutating func open(now: Duration) {
        state = .open(until: now + configuration.breakDuration)
        openings += 1
        resetWindow()
    }

    private mutating func resetWindow() {
        windowNext = 0
        windowCount = 0
        windowFailures = 0
        probesIssued = 0
        probesSucceeded = 0
    }
}
