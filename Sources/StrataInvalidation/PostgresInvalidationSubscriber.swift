import Logging
import Metrics
import ServiceLifecycle
import StrataMem
import StrataPostgres
import StrataWorker
import Synchronization

/// Redis-less mode (L1 + L3): applies invalidations to L1 caches straight from the outbox
/// `strata.change_log`, without Redis or a worker in between.
///
/// It `LISTEN`s on `strata_wakeup`, reads the outbox from an in-memory cursor (the
/// worker's ``OutboxCursor``, so it never passes a seq an in-flight transaction may still
/// commit) on every wake-up, shortly after it (writers that skipped their NOTIFY because
/// one was sent less than `strata.wakeup_coalesce_ms` earlier) and every
/// ``Configuration/pollInterval``, and maps rows to keys and prefixes as the worker does.
/// It never registers in `strata.consumer_offsets` (short-lived application instances
/// would hold pruning back): instead it detects when pruning deleted rows it had not read,
/// and treats that as a gap. It never calls `strata.ack_wakeup()` (that flag is the
/// worker's). See docs/invalidation.md for the rules.
///
/// ```swift
/// let subscriber = try PostgresInvalidationSubscriber(url: "postgresql://app@db/strata", logger: logger)
/// subscriber.addTarget(L1CacheInvalidationTarget(cache))
/// let group = ServiceGroup(services: [subscriber, app], gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
///
/// The login role needs `SELECT` on `strata.change_log` and `strata.consumer_offsets`.
public final class PostgresInvalidationSubscriber: InvalidationSource, Service, CustomStringConvertible {
    public struct Configuration: Sendable {
        /// `postgresql://...` URL or libpq conninfo.
        public var postgresURL: String
        /// The safety-net read when no wake-up arrives.
        public var pollInterval: Duration = .seconds(1)
        /// After a wake-up (or a read that found rows), read once more after this long: a
        /// writer skips its NOTIFY when one was sent less than `strata.wakeup_coalesce_ms`
        /// (default 50 ms) earlier. Keep it a little above that setting.
        public var wakeupCoalesce: Duration = .milliseconds(60)
        /// Without a completed read for this long, L1 is unhealthy and the connection is
        /// replaced. Must be longer than `pollInterval`.
        public var healthTimeout: Duration = .seconds(3)
        /// Outbox rows per read.
        public var batchSize = 2000
        public var connectTimeout: Duration = .seconds(5)
        /// First delay before reconnecting after a failure; doubles up to `reconnectMaximumDelay`.
        public var reconnectInitialDelay: Duration = .milliseconds(100)
        public var reconnectMaximumDelay: Duration = .seconds(5)
        /// The `name` dimension of the metrics.
        public var name: String = "default"
        public var metricsEnabled = true
        /// The metrics backend; `nil` uses `MetricsSystem.factory`.
        public var metricsFactory: (any MetricsFactory)?

        public init(postgresURL: String) {
            self.postgresURL = postgresURL
        }

        func validate() throws {
            guard !postgresURL.isEmpty else {
                throw InvalidationError("postgresURL is empty: give a postgresql:// URL or a libpq conninfo string")
            }
            guard pollInterval > .zero, wakeupCoalesce > .zero else {
                throw InvalidationError("pollInterval and wakeupCoalesce must be positive (they are \(pollInterval) and \(wakeupCoalesce))")
            }
            guard healthTimeout > pollInterval else {
                throw InvalidationError("healthTimeout (\(healthTimeout)) must be longer than pollInterval (\(pollInterval)): reads happen every pollInterval at least, and a timeout shorter than that reports a healthy stream as dead")
            }
            guard batchSize > 0 else {
                throw InvalidationError("batchSize must be positive (it is \(batchSize))")
            }
            guard reconnectInitialDelay > .zero, reconnectMaximumDelay >= reconnectInitialDelay else {
                throw InvalidationError("reconnect delays must be positive with reconnectMaximumDelay >= reconnectInitialDelay (they are \(reconnectInitialDelay) and \(reconnectMaximumDelay))")
            }
        }
    }

    public let configuration: Configuration
    private let logger: Logger
    private let fanout: _Fanout<_OutboxFollower>
    private let metrics: _InvalidationMetrics?
    private let wake = WakeSignal()
    /// Awaited before every outbox read after the bootstrap: lets tests hold reads back.
    let _beforeRead = Mutex<(@Sendable () async -> Void)?>(nil)

    /// - Throws: ``InvalidationError`` for an unusable configuration.
    public init(configuration: Configuration, logger: Logger = Logger(label: "strata.invalidation.postgres")) throws {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        let metrics = configuration.metricsEnabled
            ? _InvalidationMetrics(source: "postgres", name: configuration.name, factory: configuration.metricsFactory ?? MetricsSystem.factory)
            : nil
        self.metrics = metrics
        fanout = _Fanout(machine: _OutboxFollower(start: L1SystemClock().now()), metrics: metrics)
    }

    /// Follows the outbox of the database at `url`.
    public convenience init(url: String, logger: Logger = Logger(label: "strata.invalidation.postgres")) throws {
        try self.init(configuration: Configuration(postgresURL: url), logger: logger)
    }

    public var health: InvalidationHealth { fanout.health }

    public func addTarget(_ target: any L1InvalidationTarget) { fanout.addTarget(target) }

    /// The counters so far.
    public var statistics: InvalidationStatistics { fanout.statistics }

    public var description: String { "PostgresInvalidationSubscriber(\(configuration.name))" }

    /// Connects, follows the outbox and reconnects after failures until the task is
    /// cancelled or a graceful shutdown begins; then reports unhealthy and returns.
    public func run() async throws {
        fanout.withLock { state in
            state.pristine = false
            // Nothing is proven before this run: the fresh point starts here (the health
            // already says unhealthy since the source was created or got its first target).
            state.machine = _OutboxFollower(start: state.now())
        }
        await cancelWhenGracefulShutdown { await self.connectLoop() }
        fanout.withLock { state in state.perform(state.machine.disconnected()) }
        logger.info("stopped", metadata: ["statistics": "\(fanout.statistics)"])
    }

    private func connectLoop() async {
        var backoff = Backoff(initial: configuration.reconnectInitialDelay, maximum: configuration.reconnectMaximumDelay)
        var connections = 0
        var failuresInARow = 0
        while !Task.isCancelled {
            let pg: PostgresConnection
            do {
                pg = try await PostgresConnection.connect(configuration.postgresURL, connectTimeout: configuration.connectTimeout, logger: logger)
            } catch {
                if Task.isCancelled { break }
                failuresInARow += 1
                let delay = backoff.next()
                logger.log(level: failuresInARow == 1 ? .warning : .debug,
                           "cannot connect to PostgreSQL for invalidations: \(error); retrying in \(delay._logText) (L1 stays unhealthy)")
                try? await Task.sleep(for: delay)
                continue
            }
            connections += 1
            if connections > 1 {
                metrics?.reconnects.increment()
                fanout.withLock { $0.statistics.reconnects += 1 }
            }
            var stalled = false
            do {
                try await session(pg, stalled: &stalled, onProof: {
                    backoff.reset()
                    failuresInARow = 0
                })
            } catch {
                if !Task.isCancelled {
                    if stalled {
                        metrics?.timeouts.increment()
                        logger.warning("no outbox read completed for \(configuration.healthTimeout._logText): L1 is unhealthy; reconnecting")
                    } else if let hint = Self.hint(for: error) {
                        metrics?.connectionLosses.increment()
                        logger.error("cannot read the outbox: \(error); \(hint) (L1 stays unhealthy; retrying)")
                    } else {
                        metrics?.connectionLosses.increment()
                        logger.warning("lost the outbox connection: \(error); L1 is unhealthy until it is caught up again")
                    }
                }
            }
            await pg.close()
            fanout.withLock { state in
                if !Task.isCancelled {
                    if stalled { state.statistics.timeouts += 1 } else { state.statistics.connectionLosses += 1 }
                }
                state.perform(state.machine.disconnected())
            }
            if Task.isCancelled { return }
            try? await Task.sleep(for: backoff.next())
        }
    }

    /// One connection: LISTEN, bootstrap, then read on wake-ups until it fails.
    private func session(_ pg: PostgresConnection, stalled: inout Bool, onProof: () -> Void) async throws {
        let activity = _Activity()
        let timeout = configuration.healthTimeout
        try await withThrowingTaskGroup(of: Void.self) { group in
            try await pg.listen(OutboxStore.wakeupChannel)
            group.addTask { [wake] in
                // Payloads are ignored: a notification only means "look at the outbox".
                do {
                    for try await _ in pg.notifications { wake.signal() }
                } catch {}
                wake.signal()
            }
            group.addTask { [fanout] in
                // The watchdog: a read that does not complete within the timeout (a hung
                // connection) makes L1 unhealthy and replaces the connection.
                if await activity.watch(timeout: timeout) {
                    fanout.withLock { state in state.perform(state.machine.disconnected()) }
                    await pg.close()
                }
            }
            defer { group.cancelAll() }
            do {
                try await follow(pg, activity: activity, onProof: onProof)
            } catch {
                stalled = activity.didFire
                await pg.close()
                throw error
            }
            await pg.close()
        }
    }

    private func follow(_ pg: PostgresConnection, activity: _Activity, onProof: () -> Void) async throws {
        let clock = activity.clock
        let store = OutboxStore(connection: pg, consumer: "")
        var needsBootstrap = true
        var recheck = Duration.milliseconds(1)
        var trailing = false
        var proven = false

        while !Task.isCancelled {
            if needsBootstrap {
                try await bootstrap(pg)
                needsBootstrap = false
                activity.touch(at: clock.now)
            }
            if let hook = _beforeRead.withLock({ $0 }) { await hook() }

            let (startedAt, before) = fanout.withLock { ($0.now(), $0.machine.cursor) }
            let startedWall = clock.now
            let read = try await store.read(after: before?.highestApplied ?? 0, gaps: before?.openGapRanges ?? [],
                                            limit: configuration.batchSize)
            let horizon = try await pg.query(
                "select (select min(last_seq) from strata.consumer_offsets), (select min(seq) from strata.change_log)")
            guard !pg.isClosed, let row = horizon.first else {
                throw InvalidationError("the PostgreSQL connection was lost")
            }
            let slowestConsumer = try row.decode(Int64?.self, at: 0)
            let lowestPresent = try row.decode(Int64?.self, at: 1)
            activity.touch(at: startedWall)

            let outcome = fanout.withLock { state in
                var outcome = state.machine.read(
                    read, limit: configuration.batchSize, slowestConsumer: slowestConsumer, lowestPresent: lowestPresent,
                    startedAt: startedAt, finishedAt: state.now())
                state.statistics.messages += outcome.rows
                if outcome.lost { state.statistics.gaps += 1 }
                state.perform(outcome.actions)
                outcome.actions = []
                return outcome
            }
            if outcome.rows > 0 { metrics?.messages.increment(by: Int64(outcome.rows)) }
            if outcome.lost {
                metrics?.gaps.increment()
                logger.warning("outbox rows were pruned before this subscriber read them (cursor \(before.map { String($0.cursor) } ?? "-"), slowest consumer \(slowestConsumer.map(String.init) ?? "none"), lowest row \(lowestPresent.map(String.init) ?? "none")): dropping L1 and starting again from the outbox's current position")
                needsBootstrap = true
                continue
            }
            if !proven, fanout.withLock({ $0.machine.healthy }) {
                proven = true
                onProof()
                logger.debug("caught up; live")
            }
            if outcome.full { continue }

            let signalled: Bool
            if fanout.withLock({ $0.machine.cursor?.hasOpenGaps ?? false }) {
                // Only a late commit holds a gap: it will notify when it commits (or not, if a
                // NOTIFY went out less than the coalescing window before); meanwhile poll with
                // a growing interval so that a gap from a rollback resolves.
                signalled = await wake.wait(timeout: recheck)
                recheck = min(recheck * 2, .milliseconds(50))
            } else {
                recheck = .milliseconds(1)
                signalled = await wake.wait(timeout: trailing ? configuration.wakeupCoalesce : configuration.pollInterval)
            }
            trailing = signalled || outcome.rows > 0
        }
    }

    /// What to do about a server error that retrying will not fix.
    static func hint(for error: any Error) -> String? {
        guard let error = error as? PostgresError else { return nil }
        switch error.sqlState {
        case "42501"?:
            return "grant the subscriber's login role usage on schema strata and select on strata.change_log and strata.consumer_offsets"
        case "42P01"?, "3F000"?, "42883"?:
            return "the database has no strata outbox: install the extension and apply the migrations (make migrate)"
        default:
            return nil
        }
    }

    /// Reads the bootstrap snapshot and hands it to the follower.
    private func bootstrap(_ pg: PostgresConnection) async throws {
        let rows = try await pg.query(
            """
            with snap as (select pg_current_snapshot() as s)
            select pg_snapshot_xmin(s)::text, strata.next_xid()::text,
                   (select min(last_seq) from strata.consumer_offsets),
                   (select max(seq) from strata.change_log)
              from snap
            """)
        guard let row = rows.first, let xmax = UInt64(try row.decode(String.self, at: 1)) else {
            throw InvalidationError("the bootstrap query returned no snapshot")
        }
        let slowestConsumer = try row.decode(Int64?.self, at: 2)
        let highestVisible = try row.decode(Int64?.self, at: 3)
        let start = fanout.withLock { state in
            state.machine.bootstrapped(xmax: xmax, slowestConsumer: slowestConsumer, highestVisible: highestVisible, at: state.now())
            return state.machine.start
        }
        logger.info("following the outbox", metadata: [
            "from": "\(start.map { String($0.floor) } ?? "-")",
            "start": "\(slowestConsumer != nil ? "slowest consumer's cursor" : "newest row; waiting for transactions in flight to end")",
        ])
    }
}
