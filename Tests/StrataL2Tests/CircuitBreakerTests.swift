import StrataL2
import Testing

@Suite("CircuitBreaker state machine")
struct CircuitBreakerTests {
    let configuration = CircuitBreakerConfiguration(failureRateThreshold: 0.5, minimumCalls: 4, slidingWindowSize: 6,
                                                    breakDuration: .seconds(10), halfOpenPermittedCalls: 2)

    func call(_ breaker: inout CircuitBreaker, _ success: Bool, at now: Duration) -> Bool {
        guard breaker.acquire(now: now) else { return false }
        breaker.record(success: success, now: now)
        return true
    }

    @Test func staysClosedBelowMinimumCalls() {
        var breaker = CircuitBreaker(configuration: configuration)
        for _ in 0..<3 { #expect(call(&breaker, false, at: .zero)) }
        #expect(breaker.state == .closed)
        #expect(call(&breaker, false, at: .zero))
        #expect(breaker.state == .open(until: .seconds(10)))
        #expect(breaker.openings == 1)
    }

    @Test func opensAtTheFailureRatio() {
        var breaker = CircuitBreaker(configuration: configuration)
        for success in [true, true, true, false, false] { _ = call(&breaker, success, at: .zero) }
        #expect(breaker.state == .closed)   // 2/5 < 0.5
        _ = call(&breaker, false, at: .seconds(1))   // 3/6
        #expect(breaker.state == .open(until: .seconds(11)))
    }

    @Test func slidingWindowForgetsOldOutcomes() {
        var breaker = CircuitBreaker(configuration: configuration)
        for success in [true, true, false, true] { _ = call(&breaker, success, at: .zero) }
        #expect(breaker.state == .closed)   // 1/4
        for _ in 0..<6 { _ = call(&breaker, true, at: .zero) }   // the failure slides out
        #expect(breaker.failureRate == 0)
        for _ in 0..<2 { _ = call(&breaker, false, at: .zero) }
        #expect(breaker.state == .closed)   // 2/6
        _ = call(&breaker, false, at: .zero)
        #expect(breaker.state == .open(until: .seconds(10)))   // 3/6
    }

    @Test func rejectsWhileOpenThenHalfOpens() {
        var breaker = CircuitBreaker(configuration: configuration)
        for _ in 0..<4 { _ = call(&breaker, false, at: .zero) }
        do { let permitted = breaker.acquire(now: .seconds(9)); #expect(!permitted) }
        #expect(breaker.state(at: .seconds(9)) == .open(until: .seconds(10)))
        #expect(breaker.state(at: .seconds(10)) == .halfOpen)
        // Two probes permitted, a third rejected while they are out.
        do { let permitted = breaker.acquire(now: .seconds(10)); #expect(permitted) }
        do { let permitted = breaker.acquire(now: .seconds(10)); #expect(permitted) }
        do { let permitted = breaker.acquire(now: .seconds(10)); #expect(!permitted) }
        breaker.record(success: true, now: .seconds(10))
        #expect(breaker.state == .halfOpen)
        breaker.record(success: true, now: .seconds(10))
        #expect(breaker.state == .closed)
        #expect(breaker.failureRate == 0)
    }

    @Test func probeFailureReopens() {
        var breaker = CircuitBreaker(configuration: configuration)
        for _ in 0..<4 { _ = call(&breaker, false, at: .zero) }
        do { let permitted = breaker.acquire(now: .seconds(12)); #expect(permitted) }
        breaker.record(success: false, now: .seconds(12))
        #expect(breaker.state == .open(until: .seconds(22)))
        #expect(breaker.openings == 2)
        do { let permitted = breaker.acquire(now: .seconds(21)); #expect(!permitted) }
        #expect(call(&breaker, true, at: .seconds(22)))
        #expect(call(&breaker, true, at: .seconds(22)))
        #expect(breaker.state == .closed)
    }

    @Test func lateOutcomesWhileOpenAreIgnored() {
        var breaker = CircuitBreaker(configuration: configuration)
        do { let permitted = breaker.acquire(now: .zero); #expect(permitted) }   // permitted before the breaker opens
        for _ in 0..<4 { _ = call(&breaker, false, at: .zero) }
        breaker.record(success: true, now: .seconds(1))
        #expect(breaker.state == .open(until: .seconds(10)))
    }
}
