import Foundation
import StrataCore
import StrataPostgres
import StrataRedis
import StrataTestSupport
import Testing

/// The invalidation path end to end: real PostgreSQL with the extension, real Redis, the
/// real `strata-worker` binary. Serialized: some tests stop and start the servers.
@Suite(.serialized) struct WorkerIntegrationTests {
    /// A fresh watched table `public.<name>(id bigint pk, team_id bigint, name text)` with
    /// keys `<name>:item:{id}` and `<name>:team:{team_id}:*`.
    static func makeTable(_ pg: PostgresConnection, rows: Int = 10) async throws -> String {
        let name = "w" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        try await pg.execute("""
            create table public.\(name) (id bigint primary key, team_id bigint, name text);
            insert into public.\(name) select g, g % 3, 'n' || g from generate_series(1, \(rows)) g;
            select strata.watch('public.\(name)', array['\(name):item:{id}', '\(name):team:{team_id}:*']);
            """)
        return name
    }

    static func cursor(_ pg: PostgresConnection, _ consumer: String) async throws -> Int64 {
        let rows = try await pg.query("select last_seq from strata.consumer_offsets where consumer = $1", consumer)
        return try rows.first?.decode(Int64.self, at: 0) ?? -1
    }

    /// Registers the worker's consumer at the current head of the outbox, so that it does
    /// not start with the backlog of earlier tests (a new consumer otherwise starts where
    /// the slowest existing one is).
    static func registerAtHead(_ pg: PostgresConnection, _ worker: WorkerProcess) async throws {
        try await pg.query(
            "insert into strata.consumer_offsets(consumer, last_seq) select $1, coalesce(max(seq), 0) from strata.change_log",
            worker.consumer)
    }

    /// Waits until the worker has connected, caught up and gone live.
    static func waitUntilLive(_ worker: WorkerProcess) async throws {
        try await eventually(timeout: .seconds(30), "worker live: \(worker.log.suffix(400))") { worker.log.contains("caught up; live") }
    }

    static func maxSeq(_ pg: PostgresConnection) async throws -> Int64 {
        let rows = try await pg.query("select coalesce(max(seq), 0) from strata.change_log")
        return try rows.first?.decode(Int64.self, at: 0) ?? 0
    }

    @Test func rowChangeDeletesTheKeyAndItsLease() async throws {
        let pg = try await connectPostgres(); let redis = try await connectRedis()
        let table = try await Self.makeTable(pg)
        let worker = WorkerProcess(name: "row")
        try await Self.registerAtHead(pg, worker)
        try worker.start()
        defer { worker.stop() }
        let key = worker.layout.valueKey("\(table):item:1")
        let lease = worker.layout.leaseKey("\(table):item:1")
        let untouched = worker.layout.valueKey("\(table):item:2")
        try await redis.set(key); try await redis.set(lease); try await redis.set(untouched)

        _ = try await pg.query("update public.\(table) set name = 'changed' where id = 1")
        try await eventually("\(key) deleted") { try await !redis.exists(key) }
        #expect(try await !redis.exists(lease))
        #expect(try await redis.exists(untouched))
    }

    @Test func keyChangeInvalidatesOldAndNewTeams() async throws {
        let pg = try await connectPostgres(); let redis = try await connectRedis()
        let table = try await Self.makeTable(pg)
        let worker = WorkerProcess(name: "move")
        try await Self.registerAtHead(pg, worker)
        try worker.start()
        defer { worker.stop() }
        let oldGen = worker.layout.generationKey("\(table):team:1:*")
        let newGen = worker.layout.generationKey("\(table):team:2:*")
        let before = (try await redis.integer(oldGen), try await redis.integer(newGen))

        // Row 1 is in team 1; move it to team 2.
        _ = try await pg.query("update public.\(table) set team_id = 2 where id = 1")
        try await eventually("both team generations bumped") {
            let old = try await redis.integer(oldGen), new = try await redis.integer(newGen)
            return old > before.0 && new > before.1
        }
        let otherGen = worker.layout.generationKey("\(table):team:0:*")
        #expect(try await redis.integer(otherGen) == 0)
    }

    @Test func manualPrefixInvalidationBumpsTheGeneration() async throws {
        let pg = try await connectPostgres(); let redis = try await connectRedis()
        let worker = WorkerProcess(name: "prefix")
        try await Self.registerAtHead(pg, worker)
        try worker.start()
        defer { worker.stop() }
        let token = "m" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let key = worker.layout.valueKey("\(token):exact")
        try await redis.set(key)
        _ = try await pg.query("select strata.invalidate(array['\(token):exact', '\(token):group:*'])")
        try await eventually("manual key deleted and prefix generation bumped") {
            let gone = try await !redis.exists(key)
            let generation = try await redis.integer(worker.layout.generationKey("\(token):group:*"))
            return gone && generation == 1
        }
    }

    @Test func nullsAndHugeValuesNeverFailTheWriteAndStillInvalidate() async throws {
        let pg = try await connectPostgres(); let redis = try await connectRedis()
        let table = "w" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        try await pg.execute("""
            create table public.\(table) (id bigint primary key, label text);
            select strata.watch('public.\(table)', array['\(table):label:{label}']);
            """)
        let worker = WorkerProcess(name: "values")
        try await Self.registerAtHead(pg, worker)
        try worker.start()
        defer { worker.stop() }
        let huge = String(repeating: "é:*", count: 20_000)
        let hugeKey = worker.layout.valueKey("\(table):label:" + KeySegment.escape(huge))
        #expect(hugeKey.hasSuffix(String(KeySegment.escape(huge))) && KeySegment.escape(huge).hasPrefix("%H"))
        try await redis.set(hugeKey)
        // NULL label: no key, no error. Huge label: hashed key.
        _ = try await pg.query("insert into public.\(table) values (1, null)")
        _ = try await pg.query("insert into public.\(table) values (2, $1)", huge)
        try await eventually("hashed key deleted") { try await !redis.exists(hugeKey) }
        // The SQL and Swift escaping agree.
        let sql = try await pg.query("select strata.escape_segment($1)", huge)
        #expect(try sql.first?.decode(String.self, at: 0) == KeySegment.escape(huge))
    }

    @Test func hundredThousandRowStatementCollapsesToPrefixes() async throws {
        let pg = try await connectPostgres(); let redis = try await connectRedis()
        let table = try await Self.makeTable(pg, rows: 100_000)
        let worker = WorkerProcess(name: "bulk")
        try await Self.registerAtHead(pg, worker)
        try worker.start()
        defer { worker.stop() }
        let before = try await Self.maxSeq(pg)
        _ = try await pg.query("update public.\(table) set name = name || '!'")
        let rows = try await pg.query("select count(*)::bigint from strata.change_log where seq > $1 and source like $2", before, "%\(table)")
        let written = try rows.first?.decode(Int64.self, at: 0) ?? -1
        #expect(written > 0 && written <= 1_001, "the outbox stays bounded: \(written) rows for 100,000 changed rows")
        try await eventually("table prefixes bumped") {
            let items = try await redis.integer(worker.layout.generationKey("\(table):item:*"))
            let teams = try await redis.integer(worker.layout.generationKey("\(table):team:*"))
            return items >= 1 && teams >= 1
        }
    }

    @Test func truncateInvalidatesTheTablePrefixes() async throws {
        let pg = try await connectPostgres(); let redis = try await connectRedis()
        let table = try await Self.makeTable(pg)
        let worker = WorkerProcess(name: "truncate")
        try await Self.registerAtHead(pg, worker)
        try worker.start()
        defer { worker.stop() }
        try await pg.execute("truncate public.\(table)")
        try await eventually("prefixes bumped by TRUNCATE") {
            let items = try await redis.integer(worker.layout.generationKey("\(table):item:*"))
            let teams = try await redis.integer(worker.layout.generationKey("\(table):team:*"))
            return items >= 1 && teams >= 1
        }
    }

    @Test func aLongTransactionCommittingAfterLaterOnesIsNotLost() async throws {
        let pg = try await connectPostgres(); let redis = try await connectRedis()
        let long = try await connectPostgres()
        let table = try await Self.makeTable(pg)
        let worker = WorkerProcess(name: "order")
        try await Self.registerAtHead(pg, worker)
        try worker.start()
        defer { worker.stop() }
        let lateKey = worker.layout.valueKey("\(table):item:1")
        let earlyKey = worker.layout.valueKey("\(table):item:2")
        try await redis.set(lateKey); try await redis.set(earlyKey)

        // The long transaction draws the lower seq first...
        try await long.execute("begin; update public.\(table) set name = 'late' where id = 1")
        let lowSeq = try await long.query("select max(seq) from strata.change_log")
        // ...then a later transaction commits and is applied.
        _ = try await pg.query("update public.\(table) set name = 'early' where id = 2")
        try await eventually("later commit applied") { try await !redis.exists(earlyKey) }
        // The cursor must not have passed the in-flight seq.
        let inFlightSeq = try lowSeq.first?.decode(Int64?.self, at: 0) ?? nil
        if let inFlightSeq {
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await Self.cursor(pg, worker.consumer) < inFlightSeq)
        }
        #expect(try await redis.exists(lateKey))
        try await long.execute("commit")
        try await eventually("late commit applied") { try await !redis.exists(lateKey) }
        let top = try await Self.maxSeq(pg)
        try await eventually("cursor passes both") { try await Self.cursor(pg, worker.consumer) >= top }
        await long.close()
    }

    @Test func killedMidBatchThenRestartedLosesNothing() async throws {
        let pg = try await connectPostgres(); let redis = try await connectRedis()
        let table = try await Self.makeTable(pg, rows: 3_000)
        let worker = WorkerProcess(name: "kill")
        try await Self.registerAtHead(pg, worker)
        // 3,000 separate transactions → 3,000 outbox rows with exact keys.
        let keys = (1...3_000).map { worker.layout.valueKey("\(table):item:\($0)") }
        for chunk in stride(from: 0, to: keys.count, by: 500) {
            _ = try await redis.pipeline(keys[chunk..<min(chunk + 500, keys.count)].map { ["SET", RedisArgument($0), "v"] })
        }
        try await pg.execute("""
            do $$ begin for i in 1..3000 loop
              update public.\(table) set name = 'k' where id = i; commit;
            end loop; end $$;
            """)
        // Small batches so that the drain takes hundreds of round trips: the kill lands mid-way.
        try worker.start(extraArguments: ["--batch-size", "10"])
        try await eventually("some keys deleted") { try await !redis.exists(keys[0]) }
        worker.killHard()
        let remainingAfterKill = try await redis.send(["EXISTS"] + keys.map { RedisArgument($0) }).int ?? 0
        try worker.start(extraArguments: ["--batch-size", "10"])
        defer { worker.stop() }
        try await eventually(timeout: .seconds(30), "every key deleted after restart") {
            try await redis.send(["EXISTS"] + keys.map { RedisArgument($0) }).int == 0
        }
        #expect(remainingAfterKill > 0, "the worker was killed before it had drained everything")
    }

    @Test func redisStoppedThenStartedLosesNothing() async throws {
        let servers = try ScratchServers(name: "redis")
        defer { servers.stop() }
        let pg = try await PostgresConnection.connect(servers.postgresURL)
        let table = try await Self.makeTable(pg)
        let worker = WorkerProcess(name: "redisdown")
        try await Self.registerAtHead(pg, worker)
        try worker.start(postgresURL: servers.postgresURL, redisURL: servers.redisURL)
        defer { worker.stop() }
        let redisConfiguration = try RedisConfiguration(url: servers.redisURL)
        var redis = try await RedisConnection.connect(redisConfiguration)
        let key = worker.layout.valueKey("\(table):item:3")
        try await redis.set(key)
        try await Self.waitUntilLive(worker)
        let cursorBefore = try await Self.cursor(pg, worker.consumer)

        // Redis keeps its data across the restart (appendonly), so the stale key survives
        // the outage and must be deleted once the worker gets through again.
        await redis.close()
        try servers.redis("stop")
        _ = try await pg.query("update public.\(table) set name = 'while redis was down' where id = 3")
        try await Task.sleep(for: .milliseconds(800))
        #expect(try await Self.cursor(pg, worker.consumer) == cursorBefore, "the cursor must not move while Redis is down")
        try servers.redis("start")
        redis = try await RedisConnection.connect(redisConfiguration)
        try await eventually(timeout: .seconds(20), "stale key deleted after Redis came back") { try await !redis.exists(key) }
        try await eventually("cursor moves on") { try await Self.cursor(pg, worker.consumer) > cursorBefore }
        #expect(worker.log.contains("retrying"))
        await redis.close()
        await pg.close()
    }

    @Test func postgresRestartIsSurvived() async throws {
        let servers = try ScratchServers(name: "pg")
        defer { servers.stop() }
        var pg = try await PostgresConnection.connect(servers.postgresURL)
        let table = try await Self.makeTable(pg)
        let worker = WorkerProcess(name: "pgdown")
        try await Self.registerAtHead(pg, worker)
        try worker.start(postgresURL: servers.postgresURL, redisURL: servers.redisURL)
        defer { worker.stop() }
        let redis = try await RedisConnection.connect(try RedisConfiguration(url: servers.redisURL))
        try await Self.waitUntilLive(worker)
        await pg.close()
        try servers.pg("restart")
        pg = try await PostgresConnection.connect(servers.postgresURL)
        let key = worker.layout.valueKey("\(table):item:4")
        try await redis.set(key)
        _ = try await pg.query("update public.\(table) set name = 'after restart' where id = 4")
        try await eventually(timeout: .seconds(20), "key deleted after the database restarted") { try await !redis.exists(key) }
        #expect(worker.log.contains("retrying"))
        await redis.close()
        await pg.close()
    }

    @Test func forgedNotifyChangesNothing() async throws {
        let pg = try await connectPostgres(); let redis = try await connectRedis()
        let table = try await Self.makeTable(pg)
        let worker = WorkerProcess(name: "forged")
        try await Self.registerAtHead(pg, worker)
        try worker.start()
        defer { worker.stop() }
        try await Self.waitUntilLive(worker)
        let key = worker.layout.valueKey("\(table):item:5")
        try await redis.set(key)
        let before = try await Self.cursor(pg, worker.consumer)
        for payload in ["\(table):item:5", "{\"keys\":[\"\(table):item:5\"]}", "*"] {
            _ = try await pg.query("select pg_notify('strata_wakeup', $1)", payload)
        }
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await redis.exists(key))
        #expect(try await Self.cursor(pg, worker.consumer) == before)
    }

    @Test func messagesAreConsecutiveWithHeartbeats() async throws {
        let pg = try await connectPostgres()
        let table = try await Self.makeTable(pg)
        let worker = WorkerProcess(name: "messages")
        let subscriber = try await RedisSubscriber.subscribe(try RedisConfiguration(url: TestEnvironment.redisURL), channels: [worker.layout.channel])
        try await Self.registerAtHead(pg, worker)
        try worker.start()
        defer { worker.stop() }
        let key = "\(table):item:6"
        let collector = Task {
            var messages: [InvalidationMessage] = []
            for try await message in subscriber.messages {
                messages.append(try InvalidationMessage.decode(message.payload))
                let sawKey = messages.contains { $0.keys.contains(key) }
                if sawKey && messages.last!.isHeartbeat { break }
            }
            return messages
        }
        try await Self.waitUntilLive(worker)
        _ = try await pg.query("update public.\(table) set name = 'a' where id = 6")
        let watchdog = Task { try await Task.sleep(for: .seconds(15)); await subscriber.close() }
        let received = try await collector.value
        watchdog.cancel()
        await subscriber.close()
        let seqs = received.map(\.seq)
        #expect(Set(received.map(\.epoch)).count == 1)
        #expect(zip(seqs, seqs.dropFirst()).allSatisfy { $1 == $0 + 1 }, "consecutive: \(seqs)")
        #expect(received.contains { $0.isHeartbeat })
        #expect(received.contains { $0.keys.contains(key) })
    }

    @Test func commitsWithinTheMinimumBatchIntervalShareOneBatch() async throws {
        // A long interval, so that the three commits after the first batch surely fall within one.
        let (received, table, later) = try await Self.spacedCommits(
            worker: WorkerProcess(name: "spacing"), rows: 10, arguments: ["--min-batch-interval-us", "3000000"],
            first: { "update public.\($0) set name = 'a' where id = 1" }, later: 2...4)
        let carrying = received.filter { !Set($0.keys).isDisjoint(with: later) }
        #expect(carrying.count == 1, "one batch for the three commits: \(received.map(\.keys))")
        #expect(received.first?.keys.contains("\(table):item:1") == true)
    }

    @Test func afterABusyBatchTheNextWaitsTheBusyInterval() async throws {
        // No interval after small batches; a long one after a batch of 16 rows or more
        // (20 rows in one statement).
        let (received, table, later) = try await Self.spacedCommits(
            worker: WorkerProcess(name: "busy"), rows: 40,
            arguments: ["--min-batch-interval-us", "0", "--busy-batch-interval-us", "3000000"],
            first: { "update public.\($0) set name = 'a' where id between 1 and 20" }, later: 30...32)
        let carrying = received.filter { !Set($0.keys).isDisjoint(with: later) }
        #expect(carrying.count == 1, "one batch for the three commits after the busy one: \(received.map(\.keys))")
        #expect(Set(received.flatMap(\.keys)).isSuperset(of: (1...20).map { "\(table):item:\($0)" }))
    }

    @Test func aPruneWaitingOnALockDoesNotHoldUpInvalidations() async throws {
        // Applied rows are deleted on a connection of the pruner's own: a prune stuck on a
        // lock (a row lock on an applied outbox row) leaves the batches running.
        let servers = try ScratchServers(name: "prune")
        defer { servers.stop() }
        let pg = try await PostgresConnection.connect(servers.postgresURL)
        let table = try await Self.makeTable(pg)
        let worker = WorkerProcess(name: "prune")
        // A second consumer holds pruning back until the row lock below is in place.
        _ = try await pg.query("insert into strata.consumer_offsets(consumer, last_seq) values ('hold', 0)")
        try await Self.registerAtHead(pg, worker)
        try worker.start(extraArguments: ["--prune-interval-ms", "100"], postgresURL: servers.postgresURL, redisURL: servers.redisURL)
        defer { worker.stop() }
        let redis = try await RedisConnection.connect(try RedisConfiguration(url: servers.redisURL))
        try await Self.waitUntilLive(worker)
        _ = try await pg.query("update public.\(table) set name = 'a' where id = 1")
        let first = try await Self.maxSeq(pg)
        try await eventually("the first change applied") { try await Self.cursor(pg, worker.consumer) >= first }

        let locker = try await PostgresConnection.connect(servers.postgresURL)
        try await locker.execute("begin")
        _ = try await locker.query("select seq from strata.change_log where seq = $1 for update", first)
        _ = try await pg.query("update strata.consumer_offsets set last_seq = $1 where consumer = 'hold'", first)
        try await eventually("the pruner's delete waits on the row lock") {
            let rows = try await pg.query("""
                select count(*) from pg_stat_activity
                 where pid <> pg_backend_pid() and wait_event_type = 'Lock' and query like '%delete from strata.change_log%'
                """)
            return try rows.first?.decode(Int64.self, at: 0) == 1
        }
        let key = worker.layout.valueKey("\(table):item:2")
        try await redis.set(key)
        _ = try await pg.query("update public.\(table) set name = 'b' where id = 2")
        try await eventually("the key deleted while the pruner waits") { try await !redis.exists(key) }

        try await locker.execute("rollback")
        try await eventually("the applied rows pruned once the lock is gone") {
            let rows = try await pg.query("select count(*) from strata.change_log where seq <= $1", first)
            return try rows.first?.decode(Int64.self, at: 0) == 0
        }
        await locker.close()
        await redis.close()
        await pg.close()
    }

    /// Starts `worker` with `arguments` on a new table of `rows` rows, commits `first` and
    /// waits until it is applied, then updates the rows `later` one by one, 200 ms apart
    /// (each would be a batch of its own without an interval). Returns the L1 messages (no
    /// heartbeats) up to the one that completes the `later` keys, the table, and those keys.
    static func spacedCommits(worker: WorkerProcess, rows: Int, arguments: [String], first: (String) -> String,
                              later: ClosedRange<Int>) async throws -> ([InvalidationMessage], String, [String]) {
        let pg = try await connectPostgres()
        let table = try await Self.makeTable(pg, rows: rows)
        let subscriber = try await RedisSubscriber.subscribe(try RedisConfiguration(url: TestEnvironment.redisURL), channels: [worker.layout.channel])
        try await Self.registerAtHead(pg, worker)
        try worker.start(extraArguments: arguments)
        defer { worker.stop() }
        let laterKeys = later.map { "\(table):item:\($0)" }
        let collector = Task {
            var messages: [InvalidationMessage] = []
            for try await message in subscriber.messages {
                let decoded = try InvalidationMessage.decode(message.payload)
                if decoded.isHeartbeat { continue }
                messages.append(decoded)
                if Set(messages.flatMap(\.keys)).isSuperset(of: laterKeys) { break }
            }
            return messages
        }
        try await Self.waitUntilLive(worker)
        _ = try await pg.query(first(table))
        try await eventually(timeout: .seconds(15), "the first change applied") {
            try await Self.cursor(pg, worker.consumer) >= Self.maxSeq(pg)
        }
        for id in later {
            if id > later.lowerBound { try await Task.sleep(for: .milliseconds(200)) }
            _ = try await pg.query("update public.\(table) set name = 'b' where id = $1", id)
        }
        let watchdog = Task { try await Task.sleep(for: .seconds(30)); await subscriber.close() }
        let received = try await collector.value
        watchdog.cancel()
        await subscriber.close()
        return (received, table, laterKeys)
    }

    @Test func withoutWorkerReadTheAcknowledgementAndReadAreTwoStatements() async throws {
        // A database migrated before 0012: the worker falls back to ack_wakeup() + a read.
        let pg = try await connectPostgres(); let redis = try await connectRedis()
        try await pg.execute("alter function strata.worker_read(bigint, bigint[], bigint[], integer) rename to worker_read_hidden")
        do {
            let table = try await Self.makeTable(pg)
            let worker = WorkerProcess(name: "fallback")
            try await Self.registerAtHead(pg, worker)
            try worker.start()
            defer { worker.stop() }
            let key = worker.layout.valueKey("\(table):item:5")
            try await redis.set(key)
            try await Self.waitUntilLive(worker)
            _ = try await pg.query("update public.\(table) set name = 'changed' where id = 5")
            try await eventually("\(key) deleted") { try await !redis.exists(key) }
            try await eventually("cursor saved") { try await Self.cursor(pg, worker.consumer) >= Self.maxSeq(pg) }
        } catch {
            try await pg.execute("alter function strata.worker_read_hidden(bigint, bigint[], bigint[], integer) rename to worker_read")
            throw error
        }
        try await pg.execute("alter function strata.worker_read_hidden(bigint, bigint[], bigint[], integer) rename to worker_read")
    }

    @Test func aLateCommitWhoseIdIsNewerThanTheCommitsAroundItIsNotLost() async throws {
        // U gets its transaction id first, T second; T draws its seq first, U second and
        // commits. While T runs, every snapshot has xmax = U + 1 = T and leaves T out: a
        // cursor that took xmax as the bound of T's seq would pass it.
        let pg = try await connectPostgres(); let redis = try await connectRedis()
        let table = try await Self.makeTable(pg)
        let worker = WorkerProcess(name: "newer")
        try await Self.registerAtHead(pg, worker)
        try worker.start()
        defer { worker.stop() }
        try await Self.waitUntilLive(worker)
        let late = worker.layout.valueKey("\(table):item:1")
        let early = worker.layout.valueKey("\(table):item:2")
        try await redis.set(late); try await redis.set(early)

        let u = try await connectPostgres(), t = try await connectPostgres()
        try await u.execute("begin; select pg_current_xact_id()")
        try await t.execute("begin; update public.\(table) set name = 't' where id = 1")
        try await u.execute("update public.\(table) set name = 'u' where id = 2; commit")
        try await eventually("U's key deleted") { try await !redis.exists(early) }
        // The worker keeps reading while T is in flight; give it many rounds.
        try await Task.sleep(for: .milliseconds(500))
        try await t.execute("commit")
        try await eventually("T's key deleted") { try await !redis.exists(late) }
        await u.close(); await t.close()
    }

    @Test func aFirstConsumerOnAnEmptyOutboxStartsAtTheHeadAndLosesNoLateCommit() async throws {
        let pg = try await connectPostgres(); let redis = try await connectRedis()
        let table = try await Self.makeTable(pg)
        // No consumer, an empty outbox, a sequence far ahead (a long-lived database).
        try await pg.execute("""
            create temp table saved_offsets as select * from strata.consumer_offsets;
            delete from strata.consumer_offsets;
            truncate strata.change_log;
            select setval('strata.change_log_seq', nextval('strata.change_log_seq') + 3000000);
            """)
        do {
            // A transaction in progress holds a seq below the head when the worker starts.
            let writer = try await connectPostgres()
            try await writer.execute("begin; update public.\(table) set name = 'late' where id = 1")
            let held = try await writer.query("select max(seq) from strata.change_log")[0].decode(Int64.self, at: 0)
            let worker = WorkerProcess(name: "head")
            let key = worker.layout.valueKey("\(table):item:1")
            try await redis.set(key)
            try worker.start()
            defer { worker.stop() }
            try await Task.sleep(for: .milliseconds(500))
            // While the transaction runs the worker waits to register; it never starts at 0
            // (with three million seqs below the head to track as gaps).
            let early = try await Self.cursor(pg, worker.consumer)
            #expect(early == -1 || early >= held - 1, "registered at \(early) below the late row \(held)")
            try await writer.execute("commit")
            await writer.close()
            try await eventually("consumer registered") { try await Self.cursor(pg, worker.consumer) >= 0 }
            #expect(try await Self.cursor(pg, worker.consumer) >= held - 1)
            try await eventually("the late commit's key deleted") { try await !redis.exists(key) }
            try await eventually("cursor past the late row") { try await Self.cursor(pg, worker.consumer) >= held }
        } catch {
            try await pg.execute("insert into strata.consumer_offsets select * from saved_offsets on conflict do nothing")
            throw error
        }
        try await pg.execute("insert into strata.consumer_offsets select * from saved_offsets on conflict do nothing")
    }

    @Test func watchOnAWrongColumnIsAClearError() async throws {
        let pg = try await connectPostgres()
        let table = try await Self.makeTable(pg)
        do {
            _ = try await pg.query("select strata.watch('public.\(table)', array['x:{no_such_column}'])")
            Issue.record("watch() accepted a template naming a missing column")
        } catch let error as PostgresError {
            #expect(error.sqlState == "42703")
            #expect(error.message.contains("no_such_column"))
            #expect(error.hint?.contains("team_id") == true)
        }
        // Writes to the table still work.
        _ = try await pg.query("update public.\(table) set name = 'ok' where id = 1")
    }

    @Test func badURLsAndUnreachableServersFailAtStartWithOneLine() async throws {
        for (pgURL, redisURL, expected) in [
            ("postgresql://postgres@127.0.0.1:1/strata", TestEnvironment.redisURL, "PostgreSQL"),
            ("not a url ===", TestEnvironment.redisURL, "PostgreSQL"),
            (TestEnvironment.postgresURL, "redis://127.0.0.1:1", "Redis"),
            (TestEnvironment.postgresURL, "rediss://127.0.0.1:6379", "Redis"),
        ] {
            let worker = WorkerProcess(name: "bad")
            try worker.start(postgresURL: pgURL, redisURL: redisURL)
            let status = worker.wait()
            let lines = worker.log.split(separator: "\n").filter { $0.hasPrefix("strata-worker:") }
            #expect(status == 1, "exit status for \(pgURL) / \(redisURL)")
            #expect(lines.count == 1 && lines[0].contains(expected), "got: \(worker.log)")
        }
    }

    @Test func sigtermStopsGracefully() async throws {
        let pg = try await connectPostgres()
        let worker = WorkerProcess(name: "term")
        try await Self.registerAtHead(pg, worker)
        try worker.start()
        try await Self.waitUntilLive(worker)
        #expect(worker.stop() == 0)
        #expect(worker.log.contains("stopped"))
    }
}
