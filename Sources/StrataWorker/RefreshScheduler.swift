import Foundation
import Logging
import ServiceLifecycle
import StrataPostgres
import Synchronization

/// Keeps the L3 materialized views fresh: polls `strata.refresh_candidates()` and calls
/// `strata.refresh_view(view)` for each view that is due, one refresh at a time on its own
/// PostgreSQL connection; and every `performanceSampleInterval` writes the worker's own
/// sample through `strata.record_performance(instance, 'worker', ...)`.
///
/// - **When**: on a tick (`refreshTick`, default 500 ms), at the earliest `next_due_at`
///   of a view, and whenever ``viewsMayBeDirty()`` is called (the invalidation worker does
///   after a batch that carried dirty marks). Polls are at least 50 ms apart, so a flood
///   of signals costs one poll per 50 ms.
/// - **What**: the SQL side decides (`due`, `priority`, `next_due_at`: min interval, max
///   staleness, periodic interval, retry backoff); ``RefreshPlanner`` guarantees at most
///   one refresh per view in this process, and `refresh_view`'s advisory lock across
///   processes (a `skipped` outcome is harmless).
/// - **Failures**: a refresh that fails is recorded by `refresh_view` itself (outcome
///   `failed`, backoff in `strata.views`) and logged at error. A call that dies (statement
///   timeout, lost connection) is recorded with `strata.record_refresh_failure` — after
///   reconnecting, when the connection was lost. Connection failures back off with
///   ``Backoff`` and reconnect. Readers are never blocked: `REFRESH ... CONCURRENTLY`.
/// - **Shutdown**: no new refresh starts; a running one may finish within
///   `refreshShutdownGrace` (default 5 s), after which it is cancelled — PostgreSQL rolls it
///   back, the view and its dirty marks stay as they were, it is still due for the next
///   worker, and it is not recorded as a failure. Then the last sample is written.
///
/// ```swift
/// let statistics = WorkerStatistics()
/// let scheduler = RefreshScheduler(configuration: config, statistics: statistics, logger: logger)
/// let worker = InvalidationWorker(configuration: config, logger: logger, scheduler: scheduler, statistics: statistics)
/// let group = ServiceGroup(services: [worker, scheduler], gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
public final class RefreshScheduler: Service, Sendable {
    /// One refresh attempt as this scheduler saw it (the last 100 are kept, for
    /// diagnostics and tests; `strata.view_refreshes` is the durable history).
    public struct Record: Sendable, Equatable {
        public var view: String
        /// Why it was due: `max_staleness`, `dirty`, `retry`, `periodic`.
        public var reason: String
        /// `ok`, `failed`, `skipped`, or `abandoned` (the call did not return).
        public var outcome: String
        public var rows: Int64?
        public var marksCleared: Int64?
        public var duration: Duration
        public var error: String?
    }

    public let configuration: WorkerConfiguration
    public let statistics: WorkerStatistics
    private let logger: Logger
    private let wake = WakeSignal()
    private let state = Mutex(State())

    private struct State {
        var shuttingDown = false
        var graceOver = false
        var current: Task<PostgresRows, any Error>?
        var records: [Record] = []
    }

    /// A refresh call that died with the connection: recorded once reconnected.
    private struct PendingFailure {
        var view: String
        var error: String
        var startedAt: Date
    }

    public init(configuration: WorkerConfiguration, statistics: WorkerStatistics = WorkerStatistics(), logger: Logger) {
        self.configuration = configuration
        self.statistics = statistics
        var logger = logger
        logger[metadataKey: "service"] = "refresh"
        self.logger = logger
    }

    /// Tells the scheduler that changes may have marked views dirty: it polls the
    /// candidates soon (at most one poll per 50 ms however often this is called).
    public func viewsMayBeDirty() {
        wake.signal()
    }

    /// The most recent refresh attempts of this scheduler, oldest first.
    public var recentRefreshes: [Record] { state.withLock { $0.records } }

    public func run() async throws {
        var backoff = Backoff(initial: configuration.retryInitialDelay, maximum: configuration.retryMaximumDelay)
        var pendingFailure: PendingFailure? = nil
        var pendingSample = WorkerStatistics.Sample()
        let clock = ContinuousClock()
        var nextSample = clock.now + configuration.performanceSampleInterval
        await withGracefulShutdownHandler {
            while !isStopping {
                do {
                    try await session(backoff: &backoff, pendingFailure: &pendingFailure,
                                      pendingSample: &pendingSample, nextSample: &nextSample)
                } catch {
                    if isStopping { break }
                    statistics.recordFailure()
                    let delay = backoff.next()
                    logger.error("refresh scheduling paused: \(error); reconnecting in \(delay.formatted)")
                    try? await Task.sleep(for: delay)
                }
            }
        } onGracefulShutdown: {
            self.state.withLock { $0.shuttingDown = true }
            self.wake.signal()
            let grace = self.configuration.refreshShutdownGrace
            Task { [weak self] in
                try? await Task.sleep(for: grace)
                let running = self?.state.withLock { state -> Task<PostgresRows, any Error>? in
                    state.graceOver = true
                    return state.current
                }
                running?.cancel()
            }
        }
        logger.info("refresh scheduler stopped")
    }

    private var isStopping: Bool {
        Task.isCancelled || state.withLock { $0.shuttingDown }
    }

    // MARK: - One connected session

    private func session(backoff: inout Backoff, pendingFailure: inout PendingFailure?,
                         pendingSample: inout WorkerStatistics.Sample,
                         nextSample: inout ContinuousClock.Instant) async throws {
        let pg = try await PostgresConnection.connect(configuration.postgresURL, connectTimeout: configuration.connectTimeout, logger: logger)
        do {
            try await connected(pg, backoff: &backoff, pendingFailure: &pendingFailure,
                                pendingSample: &pendingSample, nextSample: &nextSample)
        } catch {
            await pg.close()
            throw error
        }
        await pg.close()
    }

    private func connected(_ pg: PostgresConnection, backoff: inout Backoff, pendingFailure: inout PendingFailure?,
                           pendingSample: inout WorkerStatistics.Sample,
                           nextSample: inout ContinuousClock.Instant) async throws {
        let clock = ContinuousClock()
        try await pg.execute("set application_name = 'strata-worker refresh'")
        if let timeout = configuration.refreshTimeout {
            let ms = max(1, timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
            try await pg.execute("set statement_timeout = \(ms)")
        }
        let found = try await pg.query(
            """
            select to_regprocedure('strata.refresh_candidates()') is not null,
                   exists (select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                            where n.nspname = 'strata' and p.proname = 'record_performance'),
                   to_regprocedure('strata.refresh_view_if_due(text)') is not null
            """)
        let hasViews = try found.first?.decode(Bool.self, at: 0) ?? false
        let hasPerformance = try found.first?.decode(Bool.self, at: 1) ?? false
        // 0011: re-checks under the view's lock that the refresh is still due (another
        // scheduler may have just done it); without it, refresh_view() as before.
        let refreshFunction = try found.first?.decode(Bool.self, at: 2) ?? false ? "strata.refresh_view_if_due" : "strata.refresh_view"
        let refreshing = configuration.refreshEnabled && hasViews
        if configuration.refreshEnabled && !hasViews {
            logger.warning("the database has no L3 view registry (strata.refresh_candidates): refresh scheduling is off; apply the migrations (make migrate)")
        }
        logger.info(refreshing ? "refresh scheduler connected" : "refresh scheduler connected (refreshes off; performance samples only)",
                    metadata: ["tick": "\(configuration.refreshTick.formatted)", "instance": "\(configuration.instance)"])

        if let failure = pendingFailure {
            // The call died with the previous connection: record it now. If the server
            // refuses (the view was unregistered meanwhile), log it and move on.
            do {
                let retry = try await recordFailure(pg, failure)
                logger.error("refresh of strata.\(failure.view) died with the connection (\(failure.error)); recorded, retry at \(retry.map { "\($0)" } ?? "-")")
            } catch let error where !pg.isClosed {
                logger.error("refresh of strata.\(failure.view) died with the connection (\(failure.error)); could not record it: \(error)")
            }
            pendingFailure = nil
        }

        var nextPrune = clock.now + .seconds(60)
        var planner = RefreshPlanner(tick: configuration.refreshTick, capacity: 1)
        let pollSpacing = min(configuration.refreshTick, .milliseconds(50))
        var lastPoll = clock.now - pollSpacing
        while !isStopping {
            if clock.now >= nextSample {
                nextSample = clock.now + configuration.performanceSampleInterval
                if hasPerformance {
                    do {
                        try await writeSample(pg, pending: &pendingSample)
                    } catch let error where !pg.isClosed && !(error is CancellationError) {
                        // Kept and merged into the next sample; never stops the refreshes.
                        logger.warning("could not write the performance sample: \(error)")
                    }
                }
            }
            if clock.now >= nextPrune {
                // Retention: keep the performance table and the refresh history bounded.
                nextPrune = clock.now + .seconds(3600)
                do {
                    if hasPerformance { try await pg.query("select strata.prune_performance()") }
                    if refreshing { try await pg.query("select strata.prune_refresh_history()") }
                } catch let error where !pg.isClosed && !(error is CancellationError) {
                    logger.warning("could not prune old performance samples or refresh history: \(error)")
                }
            }
            var wait = configuration.performanceSampleInterval
            if refreshing {
                let since = clock.now - lastPoll
                if since < pollSpacing { try await Task.sleep(for: pollSpacing - since) }
                lastPoll = clock.now
                let (candidates, databaseNow) = try await poll(pg)
                backoff.reset()
                let plan = planner.plan(candidates: candidates, now: databaseNow)
                for start in plan.starts {
                    // The database's clock, advanced by the time since the poll.
                    let now = { databaseNow.addingTimeInterval(RefreshPlanner.seconds(clock.now - lastPoll)) }
                    if isStopping {
                        planner.finished(start.view, outcome: .abandoned, now: now())
                        continue
                    }
                    let outcome = try await refresh(pg, refreshFunction, start, startedAt: now(), pendingFailure: &pendingFailure)
                    planner.finished(start.view, outcome: outcome, now: now())
                }
                if !plan.starts.isEmpty { continue }      // look again at once: more may be due
                wait = plan.wakeAfter
            }
            wait = min(wait, max(.zero, nextSample - clock.now))
            await wake.wait(timeout: max(wait, .milliseconds(1)))
        }
        if hasPerformance && !Task.isCancelled {
            try? await writeSample(pg, pending: &pendingSample)
        }
    }

    // MARK: - SQL

    private func poll(_ pg: PostgresConnection) async throws -> ([RefreshCandidate], Date) {
        let rows = try await pg.query(
            """
            select c.view_name, c.dirty_marks, c.oldest_dirty_at, c.failures, c.refreshing, c.due,
                   c.reason, c.priority, c.next_due_at, clock_timestamp()
              from strata.refresh_candidates() c
            """)
        var now = Date()
        var candidates: [RefreshCandidate] = []
        for row in rows {
            now = try row.decode(Date.self, at: 9)
            candidates.append(RefreshCandidate(
                view: try row.decode(String.self, at: 0),
                dirtyMarks: try row.decode(Int64.self, at: 1),
                oldestDirtyAt: try row.decode(Date?.self, at: 2),
                failures: try row.decode(Int.self, at: 3),
                refreshing: try row.decode(Bool.self, at: 4),
                due: try row.decode(Bool.self, at: 5),
                reason: try row.decode(String.self, at: 6),
                priority: try row.decode(Int?.self, at: 7),
                nextDueAt: try row.decode(Date?.self, at: 8)))
        }
        return (candidates, now)
    }

    /// Runs one refresh and logs and records its outcome. Throws only when the connection
    /// is lost (the failure is then left in `pendingFailure` for the next session).
    private func refresh(_ pg: PostgresConnection, _ refreshFunction: String, _ start: RefreshPlanner.Start, startedAt: Date,
                         pendingFailure: inout PendingFailure?) async throws -> RefreshPlanner.Outcome {
        let clock = ContinuousClock()
        let began = clock.now
        let view = start.view
        do {
            let rows = try await cancellableOnShutdown {
                try await pg.query(
                    """
                    select outcome, rows, marks_cleared, extract(epoch from duration)::float8, error
                      from \(refreshFunction)($1)
                    """, view)
            }
            guard let row = rows.first else { throw WorkerError("strata.refresh_view returned no row") }
            let outcome = try row.decode(String.self, at: 0)
            let count = try row.decode(Int64?.self, at: 1)
            let cleared = try row.decode(Int64?.self, at: 2)
            let seconds = try row.decode(Double?.self, at: 3)
            let error = try row.decode(String?.self, at: 4)
            let duration = seconds.map { Duration.microseconds(Int64($0 * 1e6)) } ?? (clock.now - began)
            remember(Record(view: view, reason: start.reason, outcome: outcome, rows: count, marksCleared: cleared,
                            duration: duration, error: error))
            switch outcome {
            case "ok":
                statistics.recordRefresh()
                logger.info("refreshed strata.\(view): \(count ?? 0) rows, \(cleared ?? 0) marks cleared in \(duration.formatted)",
                            metadata: ["reason": "\(start.reason)"])
                return .ok
            case "failed":
                statistics.recordRefresh()
                statistics.recordFailure()
                logger.error("refresh of strata.\(view) failed after \(duration.formatted): \(error ?? "unknown error"); recorded, retrying with backoff",
                             metadata: ["reason": "\(start.reason)"])
                return .failed
            default:
                logger.debug("refresh of strata.\(view) skipped: \(error ?? "already running elsewhere")")
                return .skipped
            }
        } catch {
            let duration = clock.now - began
            remember(Record(view: view, reason: start.reason, outcome: "abandoned", rows: nil, marksCleared: nil,
                            duration: duration, error: "\(error)"))
            if error is CancellationError || isStopping {
                logger.notice("refresh of strata.\(view) abandoned on shutdown after \(duration.formatted): rolled back, the view stays due")
                return .abandoned
            }
            statistics.recordRefresh()
            statistics.recordFailure()
            let message = (error as? PostgresError)?.message ?? "\(error)"
            let failure = PendingFailure(view: view, error: message, startedAt: startedAt)
            if pg.isClosed || (error as? PostgresError)?.code == .connectionClosed {
                pendingFailure = failure
                throw error
            }
            // The call failed but the connection lives (e.g. statement timeout): record it now.
            let retry = try? await recordFailure(pg, failure)
            logger.error("refresh of strata.\(view) failed after \(duration.formatted): \(message); recorded, retry at \(retry.map { "\($0)" } ?? "-")",
                         metadata: ["reason": "\(start.reason)"])
            if pg.isClosed { throw error }
            return .abandoned
        }
    }

    private func recordFailure(_ pg: PostgresConnection, _ failure: PendingFailure) async throws -> Date? {
        let rows = try await pg.query("select strata.record_refresh_failure($1, $2, $3)",
                                      failure.view, failure.error, failure.startedAt)
        return try rows.first?.decode(Date?.self, at: 0)
    }

    private func writeSample(_ pg: PostgresConnection, pending: inout WorkerStatistics.Sample) async throws {
        pending.merge(statistics.drain())
        let sample = pending
        try await pg.query(
            """
            select strata.record_performance($1::text, 'worker', $2::bigint, 0, 0, $3::float8, $4::float8, $5::float8,
                                             0, null, $6::bigint)
            """,
            configuration.instance, sample.rows,
            sample.latencyPercentile(0.50), sample.latencyPercentile(0.95), sample.latencyPercentile(0.99),
            sample.errors)
        pending = WorkerStatistics.Sample()
        logger.debug("performance sample: \(sample.rows) outbox rows, \(sample.keys) keys, \(sample.errors) errors, \(sample.refreshes) refreshes")
    }

    /// Runs `body` in a task that the graceful-shutdown grace timer may cancel.
    private func cancellableOnShutdown(_ body: @escaping @Sendable () async throws -> PostgresRows) async throws -> PostgresRows {
        let task = Task { try await body() }
        let graceOver = state.withLock { state -> Bool in
            state.current = task
            return state.graceOver
        }
        defer { state.withLock { $0.current = nil } }
        if graceOver { task.cancel() }
        return try await withTaskCancellationHandler {
            try await task.value
        } onCancel: {
            task.cancel()
        }
    }

    private func remember(_ record: Record) {
        state.withLock { state in
            state.records.append(record)
            if state.records.count > 100 { state.records.removeFirst(state.records.count - 100) }
        }
    }
}
