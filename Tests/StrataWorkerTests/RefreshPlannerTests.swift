import Foundation
import StrataWorker
import Testing

/// The refresh planner without a server: which views start, in which order, and when to look again.
@Suite struct RefreshPlannerTests {
    let now = Date(timeIntervalSince1970: 1_700_000_000)

    func due(_ view: String, _ reason: String = "dirty", priority: Int = 2, oldest: TimeInterval? = nil) -> RefreshCandidate {
        RefreshCandidate(view: view, dirtyMarks: 1, oldestDirtyAt: oldest.map { now.addingTimeInterval($0) },
                         due: true, reason: reason, priority: priority)
    }

    func notDue(_ view: String, _ reason: String = "clean", in seconds: TimeInterval?) -> RefreshCandidate {
        RefreshCandidate(view: view, due: false, reason: reason, nextDueAt: seconds.map { now.addingTimeInterval($0) })
    }

    @Test func startsTheMostUrgentDueViewFirst() {
        var planner = RefreshPlanner(tick: .milliseconds(500), capacity: 1)
        let plan = planner.plan(candidates: [
            due("b", "periodic", priority: 4),
            due("a", "dirty", priority: 2, oldest: -3),
            due("c", "max_staleness", priority: 1, oldest: -70),
        ], now: now)
        #expect(plan.starts == [.init(view: "c", reason: "max_staleness")])
        #expect(plan.deferred == 2)
        #expect(plan.wakeAfter == .zero, "deferred work: look again as soon as the refresh ends")
        #expect(planner.running == ["c"])
    }

    @Test func neverStartsAViewThatIsRunningInThisProcess() {
        var planner = RefreshPlanner(tick: .milliseconds(500), capacity: 4)
        let first = planner.plan(candidates: [due("a")], now: now)
        #expect(first.starts.map(\.view) == ["a"])
        // Still due (the SQL side does not know about this process's refresh yet): not again.
        let second = planner.plan(candidates: [due("a"), due("b")], now: now.addingTimeInterval(0.1))
        #expect(second.starts.map(\.view) == ["b"])
        #expect(planner.running == ["a", "b"])
        planner.finished("a", outcome: .ok, now: now.addingTimeInterval(1))
        let third = planner.plan(candidates: [due("a")], now: now.addingTimeInterval(1))
        #expect(third.starts.map(\.view) == ["a"])
    }

    @Test func aDuplicateCandidateRowStartsOnce() {
        var planner = RefreshPlanner(tick: .milliseconds(500), capacity: 4)
        let plan = planner.plan(candidates: [due("a"), due("a", "periodic", priority: 4)], now: now)
        #expect(plan.starts == [.init(view: "a", reason: "dirty")])
    }

    @Test func leavesViewsRefreshingElsewhereAlone() {
        var planner = RefreshPlanner(tick: .milliseconds(500))
        var busy = due("a")
        busy.refreshing = true
        let plan = planner.plan(candidates: [busy], now: now)
        #expect(plan.starts.isEmpty)
        #expect(plan.wakeAfter == .milliseconds(500))
    }

    @Test func wakesAtTheEarliestNextDueAtOrTheTick() {
        var planner = RefreshPlanner(tick: .milliseconds(500))
        let soon = planner.plan(candidates: [notDue("a", "waiting", in: 0.2), notDue("b", in: 900), notDue("c", "running", in: nil)], now: now)
        #expect(soon.starts.isEmpty)
        #expect(soon.wakeAfter == .milliseconds(200))
        let later = planner.plan(candidates: [notDue("a", "backoff", in: 30), notDue("b", in: 900)], now: now)
        #expect(later.wakeAfter == .milliseconds(500), "the tick bounds the wait")
        let passed = planner.plan(candidates: [notDue("a", "waiting", in: -1)], now: now)
        #expect(passed.wakeAfter == .milliseconds(5), "a next_due_at in the past never makes the loop spin")
        let none = planner.plan(candidates: [], now: now)
        #expect(none.wakeAfter == .milliseconds(500))
    }

    @Test func dueViewsSortByPriorityThenOldestMarkThenName() {
        var planner = RefreshPlanner(tick: .seconds(1), capacity: 10)
        let plan = planner.plan(candidates: [
            due("z", "periodic", priority: 4),
            due("y", "retry", priority: 3),
            due("b", "dirty", priority: 2, oldest: -1),
            due("a", "dirty", priority: 2, oldest: -5),
            due("m", "dirty", priority: 2),
            due("x", "max_staleness", priority: 1, oldest: -90),
        ], now: now)
        #expect(plan.starts.map(\.view) == ["x", "a", "b", "m", "y", "z"])
        #expect(plan.deferred == 0)
    }

    @Test func aSkippedOrAbandonedViewIsHeldBackForOneTick() {
        var planner = RefreshPlanner(tick: .milliseconds(500))
        _ = planner.plan(candidates: [due("a")], now: now)
        planner.finished("a", outcome: .skipped, now: now)
        let held = planner.plan(candidates: [due("a")], now: now.addingTimeInterval(0.1))
        #expect(held.starts.isEmpty)
        #expect(held.wakeAfter == .milliseconds(400), "wake when the hold ends")
        let again = planner.plan(candidates: [due("a")], now: now.addingTimeInterval(0.6))
        #expect(again.starts.map(\.view) == ["a"])
        planner.finished("a", outcome: .abandoned, now: now.addingTimeInterval(1))
        #expect(planner.plan(candidates: [due("a")], now: now.addingTimeInterval(1.2)).starts.isEmpty)
        #expect(planner.plan(candidates: [due("a")], now: now.addingTimeInterval(1.5)).starts.map(\.view) == ["a"])
    }

    @Test func aFailedRefreshIsLeftToTheSQLBackoff() {
        var planner = RefreshPlanner(tick: .milliseconds(500))
        _ = planner.plan(candidates: [due("a")], now: now)
        planner.finished("a", outcome: .failed, now: now)
        #expect(planner.heldUntil.isEmpty)
        // The SQL side reports backoff until next_retry_at, then retry.
        let waiting = planner.plan(candidates: [notDue("a", "backoff", in: 0.3)], now: now)
        #expect(waiting.starts.isEmpty && waiting.wakeAfter == .milliseconds(300))
        let retry = planner.plan(candidates: [due("a", "retry", priority: 3)], now: now.addingTimeInterval(0.3))
        #expect(retry.starts == [.init(view: "a", reason: "retry")])
    }

    /// Random schedules: never two refreshes of one view at once, never more than the capacity.
    @Test func randomSchedulesKeepTheInvariants() {
        var generator = SystemRandomNumberGenerator()
        let views = ["a", "b", "c", "d"]
        for capacity in 1...3 {
            var planner = RefreshPlanner(tick: .milliseconds(100), capacity: capacity)
            var time = now
            var running = Set<String>()
            for _ in 0..<2_000 {
                time = time.addingTimeInterval(Double.random(in: 0...0.2, using: &generator))
                if !running.isEmpty, Bool.random(using: &generator) {
                    let view = running.randomElement(using: &generator)!
                    running.remove(view)
                    let outcomes: [RefreshPlanner.Outcome] = [.ok, .failed, .skipped, .abandoned]
                    planner.finished(view, outcome: outcomes.randomElement(using: &generator)!, now: time)
                }
                let candidates = views.map { view in
                    Bool.random(using: &generator)
                        ? due(view, priority: Int.random(in: 1...4, using: &generator))
                        : notDue(view, in: Double.random(in: -1...5, using: &generator))
                }
                let plan = planner.plan(candidates: candidates, now: time)
                for start in plan.starts {
                    #expect(!running.contains(start.view), "started \(start.view) twice")
                    running.insert(start.view)
                }
                #expect(running.count <= capacity)
                #expect(planner.running == running)
                #expect(plan.wakeAfter >= .zero && plan.wakeAfter <= .milliseconds(100))
            }
        }
    }
}
