import Foundation
import StrataCore
import StrataMem
import StrataPostgres
import StrataRedis
import StrataTestSupport
import Testing
@testable import StrataInvalidation

/// `RedisInvalidationSubscriber` against a real Redis: crafted messages published on the
/// channel, and the real worker end to end.
@Suite(.serialized) struct RedisSubscriberTests {
    /// A running subscriber on a fresh namespace with one recording target, and a
    /// connection to publish with.
    struct Harness {
        let subscriber: RedisInvalidationSubscriber
        let target: RecordingTarget
        let running: Running
        let publisher: RedisConnection
        let channel: String

        static func start(redisURL: String = TestEnvironment.redisURL, namespace: String = freshNamespace(),
                          heartbeatTimeout: Duration = .seconds(5),
                          prefill: [String] = []) async throws -> Harness {
            var configuration = try RedisInvalidationSubscriber.Configuration(url: redisURL, namespace: namespace)
            configuration.heartbeatTimeout = heartbeatTimeout
            configuration.metricsEnabled = false
            let subscriber = try RedisInvalidationSubscriber(configuration: configuration, logger: testLogger("test.redis-subscriber"))
            let target = RecordingTarget()
            for key in prefill { target.cache.set(key, "cached before the subscriber ran") }
            subscriber.addTarget(target)
            let running = Running { try await subscriber.run() }
            let publisher = try await RedisConnection.connect(try RedisConfiguration(url: redisURL))
            let harness = Harness(subscriber: subscriber, target: target, running: running, publisher: publisher,
                                  channel: configuration.channel)
            try await harness.waitSubscribed()
            return harness
        }

        func waitSubscribed() async throws {
            try await eventually("subscribed to \(channel)") { try await publisher.subscribers(of: channel) == 1 }
        }

        func publish(_ seq: UInt64, epoch: String = "e1", keys: [String] = [], prefixes: [String] = []) async throws {
            try await publisher.publish(channel, InvalidationMessage(epoch: epoch, seq: seq, through: 0, keys: keys, prefixes: prefixes))
        }

        func waitHealthy(_ what: String = "healthy") async throws {
            try await eventually(what) { subscriber.health == .healthy && target.lastHealth == .healthy }
        }

        func stop() async {
            await running.stop()
            await publisher.close()
        }
    }

    @Test func startsUnhealthyAndTheFirstMessageProvesTheStream() async throws {
        let h = try await Harness.start(prefill: ["early:1"])
        #expect(!h.subscriber.health.isHealthy)
        #expect(h.target.cache.get("early:1") != nil, "nothing is dropped before the stream is proven")
        try await h.publish(1)
        try await h.waitHealthy()
        let afterHealthy = h.target.now()
        // Unhealthy from the start, then healthy, with one drop of what came before the subscription.
        #expect(h.target.healthChanges.count == 2)
        #expect(h.target.drops.count == 1)
        #expect(h.target.drops[0] <= afterHealthy)
        #expect(h.target.cache.get("early:1") == nil, "an entry cached before the subscription was dropped")
        await h.stop()
        #expect(!h.subscriber.health.isHealthy, "a stopped subscriber vouches for nothing")
        #expect(h.target.lastHealth?.isHealthy == false)
    }

    @Test func keysPrefixesAndEverythingAreApplied() async throws {
        let h = try await Harness.start()
        try await h.publish(1)
        try await h.waitHealthy()
        let cache = h.target.cache
        for key in ["a:user:1", "a:user:2", "a:team:7:project:1", "a:team:8:project:1", "b:x"] { cache.set(key, "v") }

        try await h.publish(2, keys: ["a:user:1"])
        try await eventually("key removed") { cache.get("a:user:1") == nil }
        #expect(cache.count == 4)

        try await h.publish(3, prefixes: ["a:team:7:*"])
        try await eventually("prefix removed") { cache.get("a:team:7:project:1") == nil }
        #expect(cache.get("a:team:8:project:1") == "v")
        #expect(cache.count == 3)

        try await h.publish(4, prefixes: ["*"])
        try await eventually("everything removed") { cache.count == 0 }

        let stats = h.subscriber.statistics
        #expect(stats.messages == 4)
        #expect(stats.heartbeats == 1)
        #expect(stats.keysApplied == 1)
        #expect(stats.prefixesApplied == 2)
        #expect(stats.gaps == 0)
        #expect(stats.fullDrops == 1)
        #expect(h.target.healthChanges.count == 2, "no health change while the sequence holds")
        await h.stop()
    }

    @Test func aSequenceGapDropsL1AndTheHealthGoesDownAndUp() async throws {
        let h = try await Harness.start()
        let beforeFirst = h.target.now()
        try await h.publish(1)
        try await h.waitHealthy()
        let afterFirst = h.target.now()
        h.target.cache.set("k:1", "stale?")

        try await h.publish(3)   // seq 2 was never delivered
        try await eventually("gap detected") { h.subscriber.statistics.gaps == 1 }
        try await h.waitHealthy("healthy again after the gap")
        #expect(h.target.cache.get("k:1") == nil, "an entry written before the gap was dropped")
        let changes = h.target.healthChanges
        #expect(changes.count == 4)
        // Unhealthy since the last proven-fresh point: the arrival of message 1.
        let since = changes[2].unhealthySince
        #expect(since.map { $0 >= beforeFirst && $0 <= afterFirst } == true, "since \(String(describing: since)) is the arrival of message 1")
        #expect(changes[3] == .healthy)
        #expect(h.target.drops.count == 2)

        // The sequence goes on from 3; an entry written after the recovery survives.
        h.target.cache.set("k:2", "fresh")
        try await h.publish(4)
        try await eventually("message 4 applied") { h.subscriber.statistics.messages == 3 }
        #expect(h.target.cache.get("k:2") == "fresh")
        #expect(h.subscriber.statistics.gaps == 1)
        await h.stop()
    }

    @Test func aNewEpochDropsL1() async throws {
        let h = try await Harness.start()
        try await h.publish(1, epoch: "first")
        try await h.publish(2, epoch: "first")
        try await h.waitHealthy()
        try await eventually("both applied") { h.subscriber.statistics.messages == 2 }
        h.target.cache.set("k:1", "v")
        try await h.publish(1, epoch: "second")
        try await eventually("epoch change") { h.subscriber.statistics.epochChanges == 1 }
        try await h.waitHealthy()
        #expect(h.target.cache.get("k:1") == nil)
        #expect(h.target.drops.count == 2)
        #expect(h.subscriber.statistics.gaps == 0)
        await h.stop()
    }

    @Test func noHeartbeatWithinTheTimeoutIsUnhealthyAndAnIntactSequenceRecoversWithoutDropping() async throws {
        // The timeout is also the margin for the second half: message 2 must reach the renewed
        // subscription before the timeout fires again (a second resubscription could miss it).
        // 5 s keeps that far above a loaded machine's scheduling delays.
        let h = try await Harness.start(heartbeatTimeout: .seconds(5))
        let beforeFirst = h.target.now()
        try await h.publish(1)
        try await h.waitHealthy()
        let afterFirst = h.target.now()

        // Silence: no message for the timeout.
        try await eventually(timeout: .seconds(30), "unhealthy after the heartbeat timeout") { h.subscriber.statistics.timeouts >= 1 }
        guard case .unhealthy(let since) = h.subscriber.health else {
            Issue.record("healthy without heartbeats")
            return
        }
        #expect(since >= beforeFirst && since <= afterFirst, "unhealthy since the last message, not since the timeout fired")
        #expect(h.target.lastHealth == .unhealthy(since: since))

        // The subscription is renewed; message 2 continues the sequence: nothing was missed.
        try await eventually("resubscribed") { h.subscriber.statistics.reconnects >= 1 }
        try await h.waitSubscribed()
        h.target.cache.set("k:1", "v")
        try await h.publish(2)
        try await h.waitHealthy("healthy after message 2")
        #expect(h.target.drops.count == 1, "only the initial drop: the sequence proves nothing was missed")
        #expect(h.target.cache.get("k:1") == "v")
        await h.stop()
    }

    @Test func aMalformedMessageIsLoggedDropsL1AndTheNextValidMessageRecovers() async throws {
        let h = try await Harness.start()
        try await h.publish(1)
        try await h.waitHealthy()
        h.target.cache.set("k:1", "v")

        try await h.publisher.publish(h.channel, Array("{not json".utf8))
        try await eventually("malformed message seen") { h.subscriber.statistics.decodeFailures == 1 }
        #expect(!h.subscriber.health.isHealthy)
        #expect(h.target.cache.get("k:1") == nil)
        // A message of an unknown version is malformed too.
        try await h.publisher.publish(h.channel, Array(#"{"v":2,"epoch":"e1","seq":2,"through":0,"keys":[],"prefixes":[]}"#.utf8))
        try await eventually("unknown version rejected") { h.subscriber.statistics.decodeFailures == 2 }
        #expect(!h.subscriber.health.isHealthy)

        try await h.publish(4)
        try await h.waitHealthy("healthy after a valid message")
        #expect(h.target.drops.count == 3, "initial drop and one per malformed message, none more on recovery")
        await h.stop()
    }

    @Test func updateOfAWatchedRowRemovesTheL1EntryThroughTheRealWorker() async throws {
        let pg = try await PostgresConnection.connect(TestEnvironment.postgresURL)
        let table = try await makeTable(pg)
        let worker = WorkerProcess(name: "e2e")
        try await worker.registerAtHead(pg)
        try worker.start()
        let h = try await Harness.start(namespace: worker.namespace)
        try await h.waitHealthy("healthy on the worker's heartbeats: \(worker.log.suffix(300))")

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
        #expect(h.subscriber.statistics.gaps == 0)
        #expect(h.subscriber.health == .healthy)

        await h.stop()
        worker.stop()
        try await worker.unregister(pg)
        try await pg.execute("drop table public.\(table)")
        await pg.close()
    }

    @Test func redisStoppedAndStartedIsUnhealthyThenRecoveredWithL1Dropped() async throws {
        let servers = try ScratchServers(name: "inv-redis", postgres: false, redis: true)
        defer { servers.stop() }
        let pg = try await PostgresConnection.connect(TestEnvironment.postgresURL)
        let table = try await makeTable(pg)
        let worker = WorkerProcess(name: "redisdown")
        try await worker.registerAtHead(pg)
        try worker.start(redisURL: servers.redisURL)
        let h = try await Harness.start(redisURL: servers.redisURL, namespace: worker.namespace, heartbeatTimeout: .seconds(3))
        try await h.waitHealthy("healthy on the worker's heartbeats")
        await h.publisher.close()
        h.target.cache.set("\(table):item:3", "allow")

        try servers.redis("stop")
        try await eventually("unhealthy after Redis stopped") { !h.subscriber.health.isHealthy }
        #expect(h.subscriber.statistics.connectionLosses + h.subscriber.statistics.timeouts >= 1)
        // Changed while the channel is down: the message is never delivered.
        _ = try await pg.query("update public.\(table) set name = 'while redis was down' where id = 3")

        try servers.redis("start")
        try await eventually(timeout: .seconds(30), "healthy after Redis came back") { h.subscriber.health == .healthy }
        #expect(h.target.cache.get("\(table):item:3") == nil, "the entry cached before the outage was dropped")
        #expect(h.subscriber.statistics.reconnects >= 1)
        #expect(h.target.drops.count >= 2)

        // And the channel works again.
        h.target.cache.set("\(table):item:4", "allow")
        _ = try await pg.query("update public.\(table) set name = 'after' where id = 4")
        try await eventually("invalidated after the recovery") { h.target.cache.get("\(table):item:4") == nil }

        await h.running.stop()
        worker.stop()
        try await worker.unregister(pg)
        try await pg.execute("drop table public.\(table)")
        await pg.close()
    }
}
