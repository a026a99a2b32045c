import Foundation

/// One row of `strata.refresh_candidates()`: a registered L3 view and whether the SQL
/// policy says it is due (see docs/l3.md, "Refresh: the contract for the scheduler").
public struct RefreshCandidate: Sendable, Equatable {
    /// Registry name, e.g. `mv_user_authorization_context`.
    public var view: String
    public var dirtyMarks: Int64
    public var oldestDirtyAt: Date?
    public var failures: Int
    /// Another session holds the view's refresh lock right now.
    public var refreshing: Bool
    public var due: Bool
    /// `running`, `backoff`, `max_staleness`, `dirty`, `retry`, `periodic`, `waiting`, `clean`.
    public var reason: String
    /// 1 is most urgent; nil when not due.
    public var priority: Int?
    /// When the view becomes due if nothing changes; nil = now or unknown.
    public var nextDueAt: Date?

    public init(view: String, dirtyMarks: Int64 = 0, oldestDirtyAt: Date? = nil, failures: Int = 0,
                refreshing: Bool = false, due: Bool, reason: String, priority: Int? = nil, nextDueAt: Date? = nil) {
        self.view = view
        self.dirtyMarks = dirtyMarks
        self.oldestDirtyAt = oldestDirtyAt
        self.failures = failures
        self.refreshing = refreshing
        self.due = due
        self.reason = reason
        self.priority = priority
        self.nextDueAt = nextDueAt
    }
}

/// Decides which L3 views to refresh now and when to look again: a pure state machine,
/// unit-tested without a server (the SQL side owns the policy: `due`, `priority`,
/// `next_due_at`; this owns "at most one refresh per view in this process").
///
/// ```swift
/// var planner = RefreshPlanner(tick: .milliseconds(500), capacity: 1)
/// let plan = planner.plan(candidates: rows, now: databaseNow)
/// for start in plan.starts {
///     let outcome = try await refresh(start.view)            // strata.refresh_view(view)
///     planner.finished(start.view, outcome: outcome, now: databaseNow)
/// }
/// await wake.wait(timeout: plan.wakeAfter)
/// ```
///
/// Rules:
/// - a view already refreshing in this process (started, not finished) is never started
///   again; one that another session refreshes (`refreshing`) is left alone;
/// - due views start most urgent first (`priority`, then the oldest dirty mark, then the
///   name), at most `capacity` refreshes at a time in this process;
/// - a view whose last attempt here was `skipped` or did not return an outcome is held
///   back for one `tick`, so a lock race or a broken registry row cannot spin;
/// - the next look is at the earliest `next_due_at` of a view that is not due, at the
///   latest after `tick` (the poll that notices new dirty marks and other workers).
public struct RefreshPlanner: Sendable, Equatable {
    /// How a refresh attempt ended, as far as the planner cares.
    public enum Outcome: Sendable, Equatable {
        /// `refresh_view` returned `ok`.
        case ok
        /// `refresh_view` returned `failed`; the SQL side recorded it and set the backoff.
        case failed
        /// Another session held the view's lock.
        case skipped
        /// The call itself did not return (timeout, lost connection, cancelled).
        case abandoned
    }

    public struct Start: Sendable, Equatable {
        public var view: String
        public var reason: String
        public init(view: String, reason: String) {
            self.view = view
            self.reason = reason
        }
    }

    public struct Plan: Sendable, Equatable {
        /// Views to refresh now, most urgent first (each now counts as running).
        public var starts: [Start]
        /// Due views left for later because `capacity` refreshes are running.
        public var deferred: Int
        /// When to poll the candidates again if nothing signals earlier; zero when
        /// deferred work is waiting for a running refresh to finish.
        public var wakeAfter: Duration
    }

    /// The longest time between two polls.
    public let tick: Duration
    /// Refreshes that may run at once in this process (one per view in any case).
    public let capacity: Int
    /// Views refreshing in this process now.
    public private(set) var running: Set<String> = []
    /// Views held back until the given time after a `skipped` / `abandoned` attempt.
    public private(set) var heldUntil: [String: Date] = [:]

    public init(tick: Duration, capacity: Int = 1) {
        precondition(tick > .zero, "the refresh tick must be positive")
        precondition(capacity >= 1, "capacity must be at least 1")
        self.tick = tick
        self.capacity = capacity
    }

    /// Chooses the views to start now and marks them running.
    public mutating func plan(candidates: [RefreshCandidate], now: Date) -> Plan {
        heldUntil = heldUntil.filter { $0.value > now }
        let due = candidates
            .filter { $0.due && !$0.refreshing && !running.contains($0.view) && heldUntil[$0.view] == nil }
            .sorted(by: Self.moreUrgent)
        var seen = Set<String>()
        var starts: [Start] = []
        var deferred = 0
        for candidate in due where seen.insert(candidate.view).inserted {
            if running.count < capacity {
                running.insert(candidate.view)
                starts.append(Start(view: candidate.view, reason: candidate.reason))
            } else {
                deferred += 1
            }
        }

        var wake = tick
        for candidate in candidates where !candidate.due {
            if let at = candidate.nextDueAt { wake = min(wake, Self.duration(from: now, to: at)) }
        }
        for at in heldUntil.values { wake = min(wake, Self.duration(from: now, to: at)) }
        // A floor, so that a next_due_at that has just passed cannot make the loop spin.
        wake = deferred > 0 ? .zero : max(wake, min(tick, Self.minimumWait))
        return Plan(starts: starts, deferred: deferred, wakeAfter: wake)
    }

    /// Records the end of a refresh started by `plan`.
    public mutating func finished(_ view: String, outcome: Outcome, now: Date) {
        running.remove(view)
        switch outcome {
        case .ok, .failed:
            heldUntil[view] = nil
        case .skipped, .abandoned:
            heldUntil[view] = now.addingTimeInterval(Self.seconds(tick))
        }
    }

    /// The shortest wait between two polls when nothing is deferred.
    static let minimumWait: Duration = .milliseconds(5)

    static func moreUrgent(_ a: RefreshCandidate, _ b: RefreshCandidate) -> Bool {
        let pa = a.priority ?? Int.max, pb = b.priority ?? Int.max
        if pa != pb { return pa < pb }
        switch (a.oldestDirtyAt, b.oldestDirtyAt) {
        case let (x?, y?) where x != y: return x < y
        case (.some, nil): return true
        case (nil, .some): return false
        default: return a.view < b.view
        }
    }

    static func duration(from now: Date, to at: Date) -> Duration {
        let seconds = at.timeIntervalSince(now)
        guard seconds > 0 else { return .zero }
        return .microseconds(Int64((min(seconds, 86_400 * 365) * 1_000_000).rounded()))
    }

    static func seconds(_ duration: Duration) -> TimeInterval {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
