/// Exponential backoff with full jitter, capped.
public struct Backoff: Sendable {
    public let initial: Duration
    public let maximum: Duration
    public private(set) var attempt: Int = 0

    public init(initial: Duration, maximum: Duration) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The delay before the next attempt; grows with each call until `reset()`.
    public mutating func next<G: RandomNumberGenerator>(using generator: inout G) -> Duration {
        let exponent = min(attempt, 30)
        attempt += 1
        let ceiling = min(initial * (1 << exponent), maximum)
        // Half fixed, half jitter, so the delay never collapses to zero.
        let half = ceiling / 2
        let jitter = Double.random(in: 0...1, using: &generator)
        return half + half * jitter
    }

    public mutating func next() -> Duration {
        var generator = SystemRandomNumberGenerator()
        return next(using: &generator)
    }

    public mutating func reset() { attempt = 0 }
}
