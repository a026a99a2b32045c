import StrataRedis
import Testing

@Suite("RedisSubscriber")
struct SubscriberTests {
    @Test func receivesPublishedMessagesInOrder() async throws {
        let configuration = try TestEnvironment.configuration()
        let channel = TestEnvironment.uniqueKey()
        let subscriber = try await RedisSubscriber.subscribe(configuration, channels: [channel, channel + ":other"])
        let publisher = try await RedisConnection.connect(configuration)
        let count = 200
        let publishes: [[RedisArgument]] = (0..<count).map { ["PUBLISH", RedisArgument(channel), RedisArgument("message \($0)")] }
        let receivers = try await publisher.pipeline(publishes)
        #expect(receivers.allSatisfy { $0 == .integer(1) })
        #expect(try await publisher.send("PUBLISH", RedisArgument(channel + ":other"), RedisArgument([0, 0xFF, 0])) == .integer(1))

        let received = try await withTimeout(.seconds(5)) {
            var received: [RedisPubSubMessage] = []
            for try await message in subscriber.messages {
                received.append(message)
                if received.count == count + 1 { break }
            }
            return received
        }
        #expect(received.dropLast().map(\.payloadString) == (0..<count).map { "message \($0)" })
        #expect(received.dropLast().allSatisfy { $0.channel == channel && $0.pattern == nil })
        #expect(received.last == RedisPubSubMessage(channel: channel + ":other", payload: [0, 0xFF, 0]))
        await subscriber.close()
        await publisher.close()
    }

    @Test func patternSubscription() async throws {
        let configuration = try TestEnvironment.configuration()
        let prefix = TestEnvironment.uniqueKey()
        let subscriber = try await RedisSubscriber.subscribe(configuration, channels: [], patterns: [prefix + ":*"])
        let publisher = try await RedisConnection.connect(configuration)
        try await publisher.send("PUBLISH", RedisArgument(prefix + ":a"), "1")
        let message = try await withTimeout(.seconds(5)) {
            var iterator = subscriber.messages.makeAsyncIterator()
            return try await iterator.next()
        }
        #expect(message == RedisPubSubMessage(channel: prefix + ":a", payload: Array("1".utf8), pattern: prefix + ":*"))
        await subscriber.close()
        await publisher.close()
    }

    @Test func closeFinishesTheSequenceWithoutError() async throws {
        let configuration = try TestEnvironment.configuration()
        let subscriber = try await RedisSubscriber.subscribe(configuration, channels: [TestEnvironment.uniqueKey()])
        let consumer = Task {
            var count = 0
            for try await _ in subscriber.messages { count += 1 }
            return count
        }
        try await Task.sleep(for: .milliseconds(50))
        let clock = ContinuousClock()
        let started = clock.now
        await subscriber.close()
        #expect(clock.now - started < .seconds(20))
        let count = try await withTimeout(.seconds(5)) { try await consumer.value }
        #expect(count == 0)
    }

    @Test func connectionLossIsThrown() async throws {
        try await TestRedisServer.with { server in
            let subscriber = try await RedisSubscriber.subscribe(server.unixConfiguration, channels: ["inval"])
            let admin = try await RedisConnection.connect(server.tcpConfiguration)
            #expect(try await admin.send("PUBLISH", "inval", "before") == .integer(1))
            let consumer = Task {
                var payloads: [String] = []
                do {
                    for try await message in subscriber.messages { payloads.append(message.payloadString ?? "") }
                    return (payloads, nil as RedisError?)
                } catch let error as RedisError {
                    return (payloads, error)
                }
            }
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await admin.send("CLIENT", "KILL", "TYPE", "pubsub") == .integer(1))
            let (payloads, error) = try await withTimeout(.seconds(5)) { try await consumer.value }
            #expect(payloads == ["before"])
            #expect(error?.code == .connectionClosed, "the loss must be thrown, got \(String(describing: error))")
            await subscriber.close()
            await admin.close()
        }
    }

    @Test func subscribeToDeadServerFails() async throws {
        let port = try freeTCPPort()
        let error = await expectRedisError {
            _ = try await RedisSubscriber.subscribe(RedisConfiguration(host: "127.0.0.1", port: port), channels: ["x"])
        }
        #expect(error?.code == .connectionFailed)
    }

    @Test func aclUserWithoutChannelPermissionIsRefused() async throws {
        try await TestRedisServer.with { server in
            let admin = try await RedisConnection.connect(server.tcpConfiguration)
            try await admin.send("ACL", "SETUSER", "nochannels", "on", ">pw", "~*", "resetchannels", "+@all")
            var configuration = server.tcpConfiguration
            configuration.username = "nochannels"
            configuration.password = "pw"
            let error = await expectRedisError { _ = try await RedisSubscriber.subscribe(configuration, channels: ["secret"]) }
            #expect(error?.prefix == "NOPERM")
            try await admin.send("ACL", "DELUSER", "nochannels")
            await admin.close()
        }
    }
}
