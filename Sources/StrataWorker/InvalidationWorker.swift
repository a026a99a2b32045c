import Logging
import ServiceLifecycle
import StrataCore
import StrataPostgres
import StrataRedis
import Synchronization

/// Drains the outbox into Redis and the L1 channel: the heart of `strata-worker`.
///
/// Cycle: connect → `LISTEN strata_wakeup` → catch up from the saved cursor → live
/// (woken by NOTIFY, with a periodic poll as the safety net) → on any failure, close
/// everything, back off, and start again from the in-memory cursor. The cursor is
/// saved only after Redis applied a batch, so nothing is lost across crashes. Applied
/// rows are deleted from the outbox by a pruner on a connection of its own.
///
/// ```swift
/// let worker = InvalidationWorker(configuration: config, logger: logger)
/// let group = ServiceGroup(services: [worker], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
/// try await group.run()
/// ```
public final class InvalidationWorker: Service {
    public let configuration: WorkerConfiguration
    private let logger: Logger
    /// The connection of the running session, for graceful shutdown to interrupt.
    private let live = Mutex(Live())
    /// Told after each batch that carried dirty marks, so due views refresh promptly.
    private let scheduler: RefreshScheduler?
    /// Rows, keys, apply latency and failures, for the worker's performance samples.
    private let statistics: WorkerStatistics?

    private struct Live {
        var connection: PostgresConnection?
        var stopping = false
        /// This worker's consumer is in `strata.consumer_offsets`: the pruner may run.
        var registered = false
    }

    public init(configuration: WorkerConfiguration, logger: Logger,
                scheduler: RefreshScheduler? = nil, statistics: WorkerStatistics? = nil) {
        self.configuration = configuration
        self.logger = logger
        self.scheduler = scheduler
        self.statistics = statistics
    }

    /// Connects to both servers once and checks the schema, so that a bad URL, an
    /// unreachable server or missing migrations fail at start with one clear line.
    public static func preflight(_ configuration: WorkerConfiguration, logger: Logger) async throws {
        let redisConfiguration: RedisConfiguration
        do {
            redisConfiguration = try RedisConfiguration(url: configuration.redisURL)
        } catch {
            throw WorkerError("bad Redis URL '\(configuration.redisURL)': \(error)")
        }
        let pg: PostgresConnection
        do {
            pg = try await PostgresConnection.connect(configuration.postgresURL, connectTimeout: configuration.connectTimeout, logger: logger)
        } catch {
            throw WorkerError("cannot connect to PostgreSQL: \(error)")
        }
        defer { Task { await pg.close() } }
        let schema = try await pg.query(
            "select to_regclass('strata.change_log') is not null, to_regclass('strata.consumer_offsets') is not null")
        guard let row = schema.first, try row.decode(Bool.self, at: 0), try row.decode(Bool.self, at: 1) else {
            throw WorkerError("the database has no strata outbox: install the extension and apply the migrations (make migrate)")
        }
        do {
            let redis = try await RedisConnection.connect(redisConfiguration, logger: logger)
            _ = try await redis.send(["PING"])
            await redis.close()
        } catch {
            throw WorkerError("cannot connect to Redis at \(configuration.redisURL): \(error)")
        }
    }

    public func run() async throws {
        var cursor: OutboxCursor? = nil
        var backoff = Backoff(initial: configuration.retryInitialDelay, maximum: configuration.retryMaximumDelay)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.pruneLoop() }
            await withGracefulShutdownHandler {
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    do {
                        try await session(cursor: &cursor, backoff: &backoff)
                    } catch {
                        if Task.isCancelled || Task.isShuttingDownGracefully { break }
                        statistics?.recordFailure()
                        let delay = backoff.next()
                        logger.error("invalidation paused: \(error); retrying in \(delay.formatted) (cursor \(cursor.map { String($0.cursor) } ?? "not loaded"), nothing is lost)")
                        try? await Task.sleep(for: delay)
                    }
                }
            } onGracefulShutdown: {
                self.live.withLock { live in
                    live.stopping = true
                    live.connection?.interruptBlockingSession()
                }
            }
            group.cancelAll()
        }
        logger.info("stopped", metadata: ["cursor": "\(cursor.map { String($0.cursor) } ?? "-")"])
    }

    /// Deletes applied outbox rows (at or below every consumer's saved cursor) every
    /// `pruneInterval`, in statements of at most `pruneBatchRows` rows, on a connection of
    /// its own: a delete of tens of thousands of rows takes long enough (or may wait on a
    /// lock) that, run between batches, it would delay the invalidations behind it.
    ///
    /// Its commits need not wait for the WAL flush: a prune only deletes rows below cursors
    /// it saw committed, and those commits are earlier in the WAL than the prune's, so a
    /// crash never keeps the prune and loses the cursor advance it relied on.
    private func pruneLoop() async {
        var connection: PostgresConnection?
        while !Task.isCancelled {
            do { try await Task.sleep(for: configuration.pruneInterval) } catch { break }
            // A worker that has not registered its consumer yet would prune by the others'
            // cursors only; it starts at the slowest of them, so that is safe, but there is
            // nothing of its own to prune before it has applied anything either.
            guard live.withLock({ $0.registered }) else { continue }
            do {
                let pg: PostgresConnection
                if let connection {
                    pg = connection
                } else {
                    pg = try await PostgresConnection.connect(configuration.postgresURL, connectTimeout: configuration.connectTimeout, logger: logger)
                    connection = pg
                    _ = try await pg.query("set synchronous_commit = off")
                }
                let store = OutboxStore(connection: pg, consumer: configuration.consumer)
                var pruned = 0
                while !Task.isCancelled {
                    let deleted = try await store.prune(limit: configuration.pruneBatchRows)
                    pruned += deleted
                    if deleted < configuration.pruneBatchRows { break }
                }
                if pruned > 0 { logger.debug("pruned \(pruned) applied outbox rows") }
            } catch {
                if Task.isCancelled { break }
                logger.warning("outbox pruning failed: \(error); trying again in \(configuration.pruneInterval.formatted)")
                await connection?.close()
                connection = nil
            }
        }
        await connection?.close()
    }

    /// One connected session; returns on graceful shutdown, throws on failure.
    private func session(cursor: inout OutboxCursor?, backoff: inout Backoff) async throws {
        let pg = try await PostgresConnection.connect(configuration.postgresURL, connectTimeout: configuration.connectTimeout, logger: logger)
        let redis: RedisConnection
        do {
            var redisConfiguration = try RedisConfiguration(url: configuration.redisURL)
            redisConfiguration.connectTimeout = configuration.connectTimeout
            redis = try await RedisConnection.connect(redisConfiguration, logger: logger)
        } catch {
            await pg.close()
            throw error
        }
        let store = OutboxStore(connection: pg, consumer: configuration.consumer)
        let invalidator = RedisInvalidator(connection: redis, layouts: configuration.namespaces.map { L2KeyLayout(namespace: $0) })
        defer { live.withLock { $0.connection = nil } }
        do {
            // Reconnect order: LISTEN first, then catch up, then live.
            try await pg.listen(OutboxStore.wakeupChannel)
            if cursor == nil {
                let loaded = OutboxCursor(cursor: try await store.loadCursor { [logger] xid in
                    logger.info("no consumer and an empty outbox: waiting for transactions in progress at start (oldest xid \(xid)) to end before reading from the outbox's head")
                })
                // Register the consumer at once so that pruning by others waits for it.
                try await store.saveCursor(loaded.cursor)
                cursor = loaded
            }
            live.withLock { $0.registered = true }
            // From here on the worker's own writes (cursor advances, pruning) commit without
            // waiting for the WAL flush: one write transaction per batch would otherwise double
            // the server's flushes under a steady stream of small commits. Losing the newest
            // cursor advance in a server crash only makes the worker re-apply idempotent
            // invalidations; a later prune is later in the WAL, so it is never durable without
            // the advance it relied on. The registration above was durable.
            _ = try await pg.query("set synchronous_commit = off")
            let combinedRead = try await store.hasWorkerRead()
            let epoch = Self.newEpoch()
            logger.info("connected; catching up from the cursor", metadata: [
                "cursor": "\(cursor!.cursor)", "epoch": "\(epoch)", "namespaces": "\(configuration.namespaces)",
            ])
            // A shutdown that came before the connection was known interrupts it now.
            let stopping = live.withLock { live in
                live.connection = pg
                return live.stopping
            }
            if stopping { pg.interruptBlockingSession() }
            // The drain loop runs on the connection's own thread, blocking on PostgreSQL and
            // Redis in turn: no hand-off between threads for each statement, wait or pipeline.
            let state = DrainState(cursor: cursor!, backoff: backoff)
            let end = try await pg.withBlockingSession { [self] session in
                var state = state
                let failure: (any Error)?
                do {
                    try drainLoop(session, store: store, invalidator: invalidator, state: &state, epoch: epoch, combinedRead: combinedRead)
                    failure = nil
                } catch {
                    failure = error
                }
                return (state, failure)
            }
            cursor = end.0.cursor
            backoff = end.0.backoff
            // A statement cut short by the shutdown is no failure.
            if let failure = end.1, !live.withLock({ $0.stopping }) { throw failure }
            // graceful shutdown: the saved cursor catches up before the connection closes
            if end.0.unsaved { try? await store.saveCursor(end.0.cursor.cursor) }
        } catch {
            await pg.close()
            await redis.close()
            throw error
        }
        await pg.close()
        await redis.close()
    }

    /// What the drain loop hands back when it ends: the in-memory cursor carries over to the
    /// next session after a failure.
    private struct DrainState: Sendable {
        var cursor: OutboxCursor
        var backoff: Backoff
        /// The cursor moved since it was last saved.
        var unsaved = false
    }

    /// Reads, applies and acknowledges batches until the session is interrupted (graceful
    /// shutdown) or a statement or pipeline fails. Runs on the PostgreSQL connection's thread.
    private func drainLoop(_ session: PostgresBlockingSession, store: OutboxStore, invalidator: RedisInvalidator,
                           state: inout DrainState, epoch: String, combinedRead: Bool) throws {
        let clock = ContinuousClock()
        var messageSeq: UInt64 = 0
        var lastPublish = clock.now
        var recheck = configuration.inFlightRecheck
        var caughtUp = false
        var notBefore: ContinuousClock.Instant?
        var lastSave = clock.now
        func saveCursor() throws {
            try store.saveCursor(state.cursor.cursor, in: session)
            state.unsaved = false
            lastSave = clock.now
        }

        while !session.isInterrupted {
            if let notBefore {
                let remaining = notBefore - clock.now
                if remaining > .zero { try session.sleep(for: remaining) }
                if session.isInterrupted { break }
            }
            let batchStarted = clock.now
            let inFlight: Int64?
            let read: OutboxStore.Read
            let cursor = state.cursor
            if combinedRead {
                (inFlight, read) = try store.ackAndRead(after: cursor.highestApplied, gaps: cursor.openGapRanges, limit: configuration.batchSize, in: session)
            } else {
                inFlight = try store.ackWakeup(in: session)
                read = try store.read(after: cursor.highestApplied, gaps: cursor.openGapRanges, limit: configuration.batchSize, in: session)
            }
            let fresh = Set(state.cursor.observe(seqs: read.rows.map(\.seq), xmin: read.xmin, xmax: read.xmax))

            var batch = OutboxBatch()
            for row in read.rows where fresh.contains(row.seq) {
                batch.add(seq: row.seq, keys: row.keys, prefixes: row.prefixes, marks: row.marks)
            }
            if !batch.isEmpty {
                batch.normalize()
                var messages: [InvalidationMessage] = []
                if !batch.keys.isEmpty || !batch.prefixes.isEmpty {
                    messages = batch.messages(epoch: epoch, maximumEntries: configuration.maximumEntriesPerMessage) {
                        messageSeq += 1
                        return messageSeq
                    }
                }
                let applyStarted = clock.now
                try invalidator.apply(batch, messages: messages)
                statistics?.recordBatch(rows: batch.seqs.count, keys: batch.keys.count + batch.prefixes.count,
                                        applyLatency: clock.now - applyStarted)
                if !batch.marks.isEmpty { scheduler?.viewsMayBeDirty() }
                if !messages.isEmpty { lastPublish = clock.now }
                logBatch(batch)
            }
            if state.cursor.applied(batch.seqs, xmin: read.xmin) { state.unsaved = true }
            if state.unsaved && clock.now - lastSave >= configuration.cursorSaveInterval { try saveCursor() }
            state.backoff.reset()

            if clock.now - lastPublish >= configuration.heartbeatInterval {
                messageSeq += 1
                try invalidator.publish(InvalidationMessage(epoch: epoch, seq: messageSeq, through: state.cursor.cursor, keys: [], prefixes: []))
                lastPublish = clock.now
            }

            let full = read.rows.count >= configuration.batchSize
            if full {
                notBefore = nil
                continue
            }
            let busy = read.rows.count >= configuration.busyBatchRows
            notBefore = batchStarted + (busy ? max(configuration.minimumBatchInterval, configuration.busyBatchInterval) : configuration.minimumBatchInterval)
            if !caughtUp {
                caughtUp = true
                logger.info("caught up; live", metadata: ["cursor": "\(state.cursor.cursor)"])
            }
            if (inFlight ?? 0) > 0 {
                // Writers are in flight: while the worker reports them, they send no NOTIFY
                // (strata.ack_wakeup keeps the wake-up flag set), so look again shortly.
                _ = try session.waitForNotification(timeout: recheck)
                recheck = batch.isEmpty ? min(recheck + configuration.inFlightRecheck / 2, configuration.inFlightRecheck * 3) : configuration.inFlightRecheck
            } else if state.cursor.hasOpenGaps {
                // Only a late commit holds a gap: it will notify when it commits; meanwhile
                // poll with a growing interval so that a gap from a rollback resolves.
                _ = try session.waitForNotification(timeout: recheck)
                recheck = min(recheck * 2, .milliseconds(50))
            } else {
                // going idle: the saved cursor catches up now, not at the next batch
                if state.unsaved { try saveCursor() }
                recheck = configuration.inFlightRecheck
                let untilHeartbeat = configuration.heartbeatInterval - (clock.now - lastPublish)
                _ = try session.waitForNotification(timeout: max(.milliseconds(1), min(configuration.pollInterval, untilHeartbeat)))
            }
        }
    }

    private func logBatch(_ batch: OutboxBatch) {
        guard logger.logLevel <= .info else { return }
        let shown = 8
        var parts: [String] = []
        if !batch.keys.isEmpty {
            parts.append("\(batch.keys.count) key(s) [\(batch.keys.prefix(shown).joined(separator: ", "))\(batch.keys.count > shown ? ", …" : "")]")
        }
        if !batch.prefixes.isEmpty {
            parts.append("\(batch.prefixes.count) prefix(es) [\(batch.prefixes.prefix(shown).joined(separator: ", "))\(batch.prefixes.count > shown ? ", …" : "")]")
        }
        if !batch.marks.isEmpty { parts.append("\(batch.marks.count) view mark(s)") }
        let range = batch.seqs.count == 1 ? "seq \(batch.seqs[0])" : "seq \(batch.seqs.min()!)…\(batch.seqs.max()!)"
        logger.info("invalidated \(parts.joined(separator: ", ")) (\(range), \(batch.seqs.count) change(s))")
    }

    static func newEpoch() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in String(generator.next() as UInt64, radix: 16) }.joined()
    }
}

/// A worker failure with a message meant for the operator.
public struct WorkerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Duration {
    var formatted: String {
        let ms = Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
        return ms >= 1000 ? "\((ms / 100).rounded() / 10)s" : "\(Int(ms.rounded()))ms"
    }
}
