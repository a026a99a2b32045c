#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A point on the cache's monotonic timeline, in nanoseconds.
///
/// Write times, expiry deadlines and "written before" cut-offs are all instants of the
/// cache's ``L1Clock``; compare them only with instants of the same clock.
public struct L1Instant: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Nanoseconds since the clock's (arbitrary) origin.
    public var nanoseconds: Int64

    @inlinable
    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    @inlinable
    public static func < (lhs: L1Instant, rhs: L1Instant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    @inlinable
    public static func + (lhs: L1Instant, rhs: Duration) -> L1Instant {
        L1Instant(nanoseconds: lhs.nanoseconds &+ rhs._l1Nanoseconds)
    }

    @inlinable
    public static func - (lhs: L1Instant, rhs: Duration) -> L1Instant {
        L1Instant(nanoseconds: lhs.nanoseconds &- rhs._l1Nanoseconds)
    }

    /// The time from `other` to `self`.
    @inlinable
    public func duration(since other: L1Instant) -> Duration {
        .nanoseconds(nanoseconds &- other.nanoseconds)
    }

    public var description: String { "L1Instant(\(nanoseconds)ns)" }
}

extension Duration {
    /// The duration in whole nanoseconds, saturating at `Int64.max`.
    @inlinable
    var _l1Nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? Int64.min : Int64.max }
        let (sum, overflow2) = product.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflow2 ? Int64.max : sum
    }
}

/// The time source of an ``L1Cache``.
///
/// Inject an ``L1ManualClock`` in tests so that expiry can be exercised without sleeping.
public protocol L1Clock: Sendable {
    /// The current instant. Must never go backwards.
    func now() -> L1Instant
}

/// The process's monotonic clock (`CLOCK_MONOTONIC`). The default clock of every cache.
public struct L1SystemClock: L1Clock {
    public init() {}

    @inlinable
    public func now() -> L1Instant {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return L1Instant(nanoseconds: Int64(ts.tv_sec) &* 1_000_000_000 &+ Int64(ts.tv_nsec))
    }
}

/// A clock that only moves when told to: for tests.
///
/// ```swift
/// let clock = L1ManualClock()
/// let cache = L1Cache<String, Int>(.init(maximumCount: 100, defaultTTL: .seconds(10), clock: clock))
/// cache.set("a", 1)
/// clock.advance(by: .seconds(11))
/// assert(cache.get("a") == nil)
/// ```
public final class L1ManualClock: L1Clock {
    private let _nanoseconds: Atomic<Int64>

    /// Starts at `start` (default: one hour after the origin, so that "before" cut-offs stay positive).
    public init(start: L1Instant = L1Instant(nanoseconds: 3_600_000_000_000)) {
        _nanoseconds = Atomic(start.nanoseconds)
    }

    public func now() -> L1Instant { L1Instant(nanoseconds: _nanoseconds.load(ordering: .acquiring)) }

    /// Moves the clock forward by `duration` (negative durations are ignored).
    public func advance(by duration: Duration) {
        let delta = max(0, duration._l1Nanoseconds)
        _nanoseconds.add(delta, ordering: .acquiringAndReleasing)
    }
}
