import Foundation
import StrataRedis
import Testing

@Suite("RedisConnection against STRATA_TEST_REDIS_URL")
struct ConnectionTests {
    @Test func setGetOverTCP() async throws {
        let connection = try await TestEnvironment.connect()
        let key = TestEnvironment.uniqueKey()
        #expect(try await connection.send("SET", RedisArgument(key), "hello") == .status("OK"))
        #expect(try await connection.send("GET", RedisArgument(key)).string == "hello")
        #expect(try await connection.send("DEL", RedisArgument(key)) == .integer(1))
        await connection.close()
        #expect(connection.isClosed)
    }

    @Test func everyReplyType() async throws {
        let connection = try await TestEnvironment.connect()
        let key = TestEnvironment.uniqueKey()

        #expect(try await connection.send("PING") == .status("PONG"))
        #expect(try await connection.send("GET", RedisArgument(key)) == .null)  // nil bulk
        #expect(try await connection.send("INCR", RedisArgument(key)) == .integer(1))
        #expect(try await connection.send("INCRBY", RedisArgument(key), 41) == .integer(42))
        #expect(try await connection.send("GET", RedisArgument(key)) == .bulk(Array("42".utf8)))
        #expect(try await connection.send("SET", RedisArgument(key), "") == .status("OK"))
        #expect(try await connection.send("GET", RedisArgument(key)) == .bulk([]))  // empty bulk, not nil
        #expect(try await connection.send("LRANGE", RedisArgument(key + ":list"), 0, -1) == .array([]))
        // Nil array: BLPOP timing out.
        #expect(try await connection.send("BLPOP", RedisArgument(key + ":list"), "0.01") == .null)

        // Nested arrays with integers, bulks, nils and a status, from Lua.
        let nested = try await connection.send(
            "EVAL", "return {1, 'two', {3, 'four', {false}}, redis.status_reply('FINE')}", 0)
        #expect(nested == .array([
            .integer(1), .bulk(Array("two".utf8)),
            .array([.integer(3), .bulk(Array("four".utf8)), .array([.null])]),
            .status("FINE"),
        ]))

        // An error reply inside an array (EXEC) is returned in place, not thrown.
        #expect(try await connection.send("MULTI") == .status("OK"))
        #expect(try await connection.send("SET", RedisArgument(key), "v") == .status("QUEUED"))
        #expect(try await connection.send("LPUSH", RedisArgument(key), "x") == .status("QUEUED"))
        let exec = try await connection.send("EXEC")
        #expect(exec.array?.count == 2)
        #expect(exec.array?[0] == .status("OK"))
        #expect(exec.array?[1].error?.prefix == "WRONGTYPE")

        // A top-level error reply is thrown.
        let error = await expectRedisError { try await connection.send("NOSUCHCOMMAND", "x") }
        #expect(error?.code == .server)
        #expect(error?.prefix == "ERR")
        #expect(!connection.isClosed, "a server error must not close the connection")
        try await connection.send("DEL", RedisArgument(key))
        await connection.close()
    }

    @Test func binarySafeKeysAndValues() async throws {
        let connection = try await TestEnvironment.connect()
        let key: [UInt8] = Array(TestEnvironment.uniqueKey().utf8) + [0, 0xFF, 0x0D, 0x0A, 0]
        let value: [UInt8] = [0, 1, 2, 0xC3, 0x28, 0xFF, 0xFE, 0x0D, 0x0A, 0x24, 0x2D, 0x31, 0]
        #expect(try await connection.send(["SET", RedisArgument(key), RedisArgument(value)]) == .status("OK"))
        #expect(try await connection.send(["GET", RedisArgument(key)]) == .bulk(value))
        #expect(try await connection.send(["STRLEN", RedisArgument(key)]) == .integer(Int64(value.count)))
        #expect(try await connection.send(["EXISTS", RedisArgument(Array(key.dropLast()))]) == .integer(0), "the trailing NUL is part of the key")
        try await connection.send(["DEL", RedisArgument(key)])
        await connection.close()
    }

    @Test func oneMebibyteValues() async throws {
        let connection = try await TestEnvironment.connect()
        let key = TestEnvironment.uniqueKey()
        var generator = SystemRandomNumberGenerator()
        let value = (0..<(1 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        try await connection.send(["SET", RedisArgument(key), RedisArgument(value)])
        #expect(try await connection.send(["GET", RedisArgument(key)]).bytes == value)
        // The same through a pipeline and the blocking API.
        let replies = try await connection.pipeline([["SET", RedisArgument(key), RedisArgument(value)], ["GET", RedisArgument(key)]])
        #expect(replies == [.status("OK"), .bulk(value)])
        #expect(try connection.sendSync(["GET", RedisArgument(key)]).bytes == value)
        try await connection.send(["DEL", RedisArgument(key)])
        await connection.close()
    }

    @Test func pipelineOfAThousandWithAnErrorInTheMiddle() async throws {
        let connection = try await TestEnvironment.connect()
        let key = TestEnvironment.uniqueKey()
        var commands: [[RedisArgument]] = []
        for index in 0..<1000 {
            if index == 500 {
                commands.append(["LPUSH", RedisArgument(key), "not-a-list"])  // key holds a string by now
            } else {
                commands.append(["SET", RedisArgument(key), RedisArgument(index)])
            }
        }
        let replies = try await connection.pipeline(commands)
        #expect(replies.count == 1000)
        #expect(replies[500].error?.prefix == "WRONGTYPE")
        #expect(replies.enumerated().allSatisfy { $0.offset == 500 || $0.element == .status("OK") })
        #expect(try await connection.send("GET", RedisArgument(key)).int == 999)
        #expect(try await connection.pipeline([]) == [])
        #expect(!connection.isClosed)
        try await connection.send("DEL", RedisArgument(key))
        await connection.close()
    }

    @Test func serverErrorPrefixes() async throws {
        let connection = try await TestEnvironment.connect()
        let key = TestEnvironment.uniqueKey()
        try await connection.send("SET", RedisArgument(key), "a string")
        let wrongType = await expectRedisError { try await connection.send("LPUSH", RedisArgument(key), "x") }
        #expect(wrongType?.code == .server)
        #expect(wrongType?.prefix == "WRONGTYPE")
        #expect(wrongType?.description.hasPrefix("WRONGTYPE ") == true)
        let noScript = await expectRedisError {
            try await connection.send("EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", 0)
        }
        #expect(noScript?.prefix == "NOSCRIPT")
        let arity = await expectRedisError { try await connection.send("GET") }
        #expect(arity?.prefix == "ERR")
        #expect(try await connection.send("DEL", RedisArgument(key)) == .integer(1), "still usable")
        await connection.close()
    }

    @Test func selectIsolatesDatabases() async throws {
        var configuration = try TestEnvironment.configuration()
        let key = TestEnvironment.uniqueKey()
        let db0 = try await RedisConnection.connect(configuration)
        configuration.database = 3
        let db3 = try await RedisConnection.connect(configuration)
        try await db0.send("SET", RedisArgument(key), "zero")
        try await db3.send("SET", RedisArgument(key), "three")
        #expect(try await db0.send("GET", RedisArgument(key)).string == "zero")
        #expect(try await db3.send("GET", RedisArgument(key)).string == "three")
        try await db0.send("DEL", RedisArgument(key))
        #expect(try await db3.send("GET", RedisArgument(key)).string == "three")

        // The database number from a URL path.
        guard case .tcp(let host, let port) = configuration.endpoint else { return }
        let viaURL = try await RedisConnection.connect(RedisConfiguration(url: "redis://\(host):\(port)/3"))
        #expect(try await viaURL.send("GET", RedisArgument(key)).string == "three")
        try await db3.send("DEL", RedisArgument(key))
        let badDB = await expectRedisError {
            var configuration = configuration
            configuration.database = 100_000
            _ = try await RedisConnection.connect(configuration)
        }
        #expect(badDB?.prefix == "ERR")
        await viaURL.close()
        await db0.close()
        await db3.close()
    }

    @Test func commandsOnOneConnectionRunInOrder() async throws {
        let connection = try await TestEnvironment.connect()
        let key = TestEnvironment.uniqueKey()
        // Sequential sends from one task: replies in order.
        for expected in 1...50 {
            #expect(try await connection.send("INCR", RedisArgument(key)) == .integer(Int64(expected)))
        }
        // Many tasks at once: each gets its own reply, none lost or swapped.
        let results = try await withThrowingTaskGroup(of: Int64.self) { group in
            for _ in 0..<200 {
                group.addTask { try await connection.send("INCR", RedisArgument(key)).int ?? -1 }
            }
            return try await group.reduce(into: [Int64]()) { $0.append($1) }
        }
        #expect(results.sorted() == Array(51...250))
        try await connection.send("DEL", RedisArgument(key))
        await connection.close()
    }

    @Test func blockingAPI() async throws {
        let connection = try await TestEnvironment.connect()
        let key = TestEnvironment.uniqueKey()
        // Run on a thread of our own, as the sync API is meant to be used.
        let replies: [RESPValue] = try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                do {
                    var replies: [RESPValue] = []
                    replies.append(try connection.sendSync("SET", RedisArgument(key), "v"))
                    replies.append(try connection.sendSync(["GET", RedisArgument(key)]))
                    replies += try connection.pipelineSync([["INCR", RedisArgument(key + ":n")], ["DEL", RedisArgument(key), RedisArgument(key + ":n")]])
                    continuation.resume(returning: replies)
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
        #expect(replies == [.status("OK"), .bulk(Array("v".utf8)), .integer(1), .integer(2)])
        let error = await expectRedisError { _ = try connection.sendSync("LPUSH") }
        #expect(error?.prefix == "ERR")
        await connection.close()
    }

    @Test func commandTimeoutClosesTheConnection() async throws {
        let connection = try await TestEnvironment.connect(commandTimeout: .milliseconds(200))
        let key = TestEnvironment.uniqueKey()
        let clock = ContinuousClock()
        let started = clock.now
        let error = await expectRedisError { try await connection.send("BLPOP", RedisArgument(key), 2) }
        let elapsed = clock.now - started
        #expect(error?.code == .timeout)
        #expect(elapsed >= .milliseconds(150))
        #expect(connection.isClosed)
        let after = await expectRedisError { try await connection.send("PING") }
        #expect(after?.code == .connectionClosed)
        #expect(after?.message.contains("timeout") == true, "the follow-up error names the cause: \(String(describing: after))")
        let afterSync = await expectRedisError { _ = try connection.sendSync("PING") }
        #expect(afterSync?.code == .connectionClosed)
        await connection.close()
    }

    @Test func closedPortFailsFast() async throws {
        let port = try freeTCPPort()
        let clock = ContinuousClock()
        let started = clock.now
        let error = await expectRedisError {
            _ = try await RedisConnection.connect(RedisConfiguration(host: "127.0.0.1", port: port))
        }
        // Refused, not timed out: the code and message prove it; no timing bound (the machine may be loaded).
        _ = started
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("Connection refused") == true, "\(String(describing: error))")
        #expect(error?.message.contains("127.0.0.1:\(port)") == true)

        let missingSocket = await expectRedisError {
            _ = try await RedisConnection.connect(RedisConfiguration(unixSocketPath: "/tmp/strata-no-such-dir/redis.sock"))
        }
        #expect(missingSocket?.code == .connectionFailed)
    }

    @Test func closeIsIdempotentAndLaterCallsFail() async throws {
        let connection = try await TestEnvironment.connect()
        await connection.close()
        await connection.close()
        #expect(connection.isClosed)
        let error = await expectRedisError { try await connection.send("PING") }
        #expect(error?.code == .connectionClosed)
        let pipelineError = await expectRedisError { _ = try await connection.pipeline([["PING"]]) }
        #expect(pipelineError?.code == .connectionClosed)
    }

    @Test func emptyCommandIsRejected() async throws {
        let connection = try await TestEnvironment.connect()
        let error = await expectRedisError { try await connection.send([]) }
        #expect(error?.code == .invalidArgument)
        #expect(try await connection.send("PING") == .status("PONG"))
        await connection.close()
    }
}
