import Foundation
import StrataCore
import StrataMem
import StrataPostgres
import StrataTestSupport
import Testing
@testable import StrataInvalidation

/// `PostgresInvalidationSubscriber` (Redis-less mode) against a real PostgreSQL with the
/// extension: no Redis and no worker anywhere.
@Suite(.serialized) struct PostgresSubscriberTests {
    struct Harness {
        let subscriber: PostgresInvalidationSubscriber
        let target: RecordingTarget
        let running: Running

        static func start(url: String, healthTimeout: Duration = .seconds(10), gate: Gate? = nil) async throws -> Harness {
            var configuration = PostgresInvalidationSubscriber.Configuration(postgresURL: url)
            configuration.healthTimeout = healthTimeout
            configuration.pollInterval = .milliseconds(500)
            configuration.metricsEnabled = false
            let subscriber = try PostgresInvalidationSubscriber(configuration: configuration, logger: testLogger("test.pg-subscriber"))
            if let gate { subscriber._beforeRead.withLock { $0 = { await gate.pass() } } }
            let target = RecordingTarget()
            subscriber.addTarget(target)
            let running = Running { try await subscriber.run() }
            return Harness(subscriber: subscriber, target: target, running: running)
        }

        func waitHealthy(_ what: String = "healthy") async throws {
            try await eventually(timeout: .seconds(30), what) { subscriber.health == .healthy && target.lastHealth == .healthy }
        }
    }

    /// A login role with only what the subscriber needs: reading the outbox and the
    /// consumers' cursors. It may not write `strata.consumer_offsets` nor call
    /// `strata.ack_wakeup()`, so a subscriber running as it can do neither.
    static func readOnlyRole(_ pg: PostgresConnection, url: String) async throws -> (role: String, url: String) {
        let role = "inv_reader_" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        try await pg.execute("""
            create role \(role) login;
            grant usage on schema strata to \(role);
            grant select on strata.change_log, strata.consumer_offsets to \(role);
            """)
        var components = URLComponents(string: url)!
        components.user = role
        return (role, components.string!)
    }

    // Each test has a PostgreSQL of its own: other tests' workers prune the shared outbox,
    // which these subscribers would rightly (and, for the assertions, unpredictably) take
    // for gaps.

    @Test func updateOfAWatchedRowRemovesTheL1EntryWithoutRedis() async throws {
        let servers = try ScratchServers(name: "inv-pg", postgres: true, redis: false)
        defer { servers.stop() }
        let pg = try await PostgresConnection.connect(servers.postgresURL)
        let table = try await makeTable(pg)
        let (_, url) = try await Self.readOnlyRole(pg, url: servers.postgresURL)
        let h = try await Harness.start(url: url)
        try await h.waitHealthy()
        #expect(h.target.drops.count == 1, "one drop of what was cached before the subscriber caught up")

        let cache = h.target.cache
        cache.set("\(table):item:1", "allow")
        cache.set("\(table):item:2", "allow")
        cache.set("\(table):team:1:project:5", "allow")
        cache.set("\(table):team:2:project:5", "allow")
        _ = try await pg.query("update public.\(table) set name = 'changed' where id = 1")   // team 1
        try await eventually("L1 entry removed") { cache.get("\(table):item:1") == nil }
        try await eventually("team 1 prefix removed") { cache.get("\(table):team:1:project:5") == nil }
        #expect(cache.get("\(table):item:2") == "allow")
        #expect(cache.get("\(table):team:2:project:5") == "allow")

        // A manual invalidation of everything reaches L1 too.
        _ = try await pg.query("select strata.invalidate(array['*'])")
        try await eventually("everything removed") { cache.count == 0 }

        let stats = h.subscriber.statistics
        #expect(stats.messages >= 2)
        #expect(stats.gaps == 0)
        #expect(h.subscriber.health == .healthy)
        #expect(h.target.drops.count == 1)

        await h.running.stop()
        #expect(!h.subscriber.health.isHealthy)
        await pg.close()
    }

    @Test func aLostConnectionIsUnhealthyThenRecoversWithL1Dropped() async throws {
        let servers = try ScratchServers(name: "inv-pgkill", postgres: true, redis: false)
        defer { servers.stop() }
        let application = "inv" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let url = servers.postgresURL + "?application_name=" + application
        let pg = try await PostgresConnection.connect(servers.postgresURL)
        let table = try await makeTable(pg)
        let h = try await Harness.start(url: url)
        try await h.waitHealthy()
        h.target.cache.set("\(table):item:1", "allow")

        let killed = try await pg.query("select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name = $1", application)
        #expect(try killed.first?.decode(Int64.self, at: 0) == 1)
        try await eventually("connection loss seen") { h.subscriber.statistics.connectionLosses >= 1 }
        try await eventually("reconnected") { h.subscriber.statistics.reconnects >= 1 }
        try await h.waitHealthy("healthy after reconnecting")
        #expect(h.target.cache.get("\(table):item:1") == nil, "what was cached before the reconnect was dropped")
        let changes = h.target.healthChanges
        #expect(changes.count == 4, "\(changes)")
        #expect(changes[2].isHealthy == false)

        // And it follows the outbox again.
        h.target.cache.set("\(table):item:2", "allow")
        _ = try await pg.query("update public.\(table) set name = 'after' where id = 2")
        try await eventually("invalidated after the reconnect") { h.target.cache.get("\(table):item:2") == nil }

        await h.running.stop()
        await pg.close()
    }

    @Test func pruningPastTheCursorIsAGap() async throws {
        let servers = try ScratchServers(name: "inv-prune", postgres: true, redis: false)
        defer { servers.stop() }
        let pg = try await PostgresConnection.connect(servers.postgresURL)
        let table = try await makeTable(pg)
        let gate = Gate(open: true)
        let h = try await Harness.start(url: servers.postgresURL, healthTimeout: .seconds(600), gate: gate)
        try await h.waitHealthy()
        let cache = h.target.cache
        cache.set("\(table):item:1", "allow")
        cache.set("unrelated:1", "v")

        // Hold the subscriber before its next read.
        gate.close()
        try await eventually("subscriber parked before a read") { gate.parkedCount == 1 }
        // A change it has not read, then a consumer that applied it and pruned it (what the
        // worker does: delete up to the slowest registered cursor).
        _ = try await pg.query("update public.\(table) set name = 'revoked' where id = 1")
        try await pg.execute("""
            insert into strata.consumer_offsets(consumer, last_seq) select 'pruner', max(seq) from strata.change_log;
            delete from strata.change_log where seq <= (select min(last_seq) from strata.consumer_offsets);
            """)
        gate.open()

        try await eventually("gap detected") { h.subscriber.statistics.gaps == 1 }
        try await h.waitHealthy("healthy after starting again")
        #expect(cache.get("\(table):item:1") == nil, "the pruned change's key is not cached")
        #expect(cache.get("unrelated:1") == nil, "everything written before the gap was dropped")
        let changes = h.target.healthChanges
        #expect(changes.count == 4, "\(changes)")
        #expect(h.target.drops.count == 2)

        // It follows the outbox again from the new position.
        cache.set("\(table):item:2", "allow")
        _ = try await pg.query("update public.\(table) set name = 'after' where id = 2")
        try await eventually("invalidated after the gap") { cache.get("\(table):item:2") == nil }
        #expect(h.subscriber.statistics.gaps == 1)

        await h.running.stop()
        await pg.close()
    }
}
