import Foundation
import StrataRedis
import Synchronization
import StrataTestSupport
import Testing

/// The async API does its I/O on the calling task's thread and waits there at most 1 ms
/// for a reply; a reply that takes longer (here: a `BLPOP` that the server holds until
/// another connection pushes) is read by the connection's I/O thread. These tests drive
/// that hand-over and what can happen around it.
@Suite(.timeLimit(.minutes(1)))
struct InlineIOTests {
    /// Waits until the server shows the connection `id` blocked in `BLPOP`.
    private func waitUntilBlocked(_ id: Int64, admin: RedisConnection) async throws {
        try await eventually("client \(id) blocked in BLPOP") {
            let line = try await admin.send("CLIENT", "LIST", "ID", RedisArgument(id)).string ?? ""
            return line.contains("cmd=blpop")
        }
    }

    @Test func slowReplyIsDeliveredAndLaterCommandsWaitForIt() async throws {
        let connection = try await TestEnvironment.connect()
        let admin = try await TestEnvironment.connect()
        let list = TestEnvironment.uniqueKey()
        let id = try #require(try await connection.send("CLIENT", "ID").int)

        let popped = Task { try await connection.send("BLPOP", RedisArgument(list), "30") }
        try await waitUntilBlocked(id, admin: admin)
        // Commands from other tasks on the same connection: their replies come after the
        // BLPOP's on the socket, so none may complete before it.
        let pongFinished = Flag()
        let pong = Task {
            let reply = try await connection.send("PING")
            pongFinished.set()
            return reply
        }
        let counted = Task { try await connection.pipeline([["INCR", RedisArgument(list + ":n")], ["ECHO", "after"]]) }
        try await Task.sleep(for: .milliseconds(50))
        #expect(!pongFinished.isSet, "PING completed while the BLPOP before it was still blocked")

        try await admin.send("LPUSH", RedisArgument(list), "value")
        #expect(try await popped.value == .array([.bulk(Array(list.utf8)), .bulk(Array("value".utf8))]))
        #expect(try await pong.value == .status("PONG"))
        #expect(try await counted.value == [.integer(1), .bulk(Array("after".utf8))])
        #expect(try await connection.send("ECHO", "still in step") == .bulk(Array("still in step".utf8)))
        try await admin.send("DEL", RedisArgument(list + ":n"))
        await connection.close()
        await admin.close()
    }

    @Test func pipelineWithSomeRepliesReadInlineAndTheRestLater() async throws {
        let connection = try await TestEnvironment.connect()
        let admin = try await TestEnvironment.connect()
        let key = TestEnvironment.uniqueKey()
        let id = try #require(try await connection.send("CLIENT", "ID").int)
        // SET's reply arrives at once, BLPOP's only after the push, GET's right after it.
        let replies = Task {
            try await connection.pipeline([["SET", RedisArgument(key), "v"], ["BLPOP", RedisArgument(key + ":list"), "30"], ["GET", RedisArgument(key)]])
        }
        try await waitUntilBlocked(id, admin: admin)
        try await admin.send("RPUSH", RedisArgument(key + ":list"), "x")
        #expect(try await replies.value == [
            .status("OK"),
            .array([.bulk(Array((key + ":list").utf8)), .bulk(Array("x".utf8))]),
            .bulk(Array("v".utf8)),
        ])
        try await connection.send("DEL", RedisArgument(key))
        await connection.close()
        await admin.close()
    }

    @Test func rawPipelineWithSomeRepliesReadInlineAndTheRestLater() async throws {
        let connection = try await TestEnvironment.connect()
        let admin = try await TestEnvironment.connect()
        let key = TestEnvironment.uniqueKey()
        let id = try #require(try await connection.send("CLIENT", "ID").int)
        var commands = RedisCommandBuffer()
        commands.append(["SET", RedisArgument(key), "v"])
        commands.append(["BLPOP", RedisArgument(key + ":list"), "30"])
        commands.append(["GET", RedisArgument(key)])
        let replies = Task { try await connection.rawPipeline(commands) }
        try await waitUntilBlocked(id, admin: admin)
        try await admin.send("RPUSH", RedisArgument(key + ":list"), "x")
        let raw = try await replies.value
        #expect(raw.values == [
            .status("OK"),
            .array([.bulk(Array((key + ":list").utf8)), .bulk(Array("x".utf8))]),
            .bulk(Array("v".utf8)),
        ])
        #expect(raw.bytes[raw.range(of: raw[2])!] == Array("v".utf8)[...])
        try await connection.send("DEL", RedisArgument(key))
        await connection.close()
        await admin.close()
    }

    @Test func blockingCallReadsTheOwedRepliesFirst() async throws {
        let connection = try await TestEnvironment.connect()
        let admin = try await TestEnvironment.connect()
        let list = TestEnvironment.uniqueKey()
        let id = try #require(try await connection.send("CLIENT", "ID").int)
        let popped = Task { try await connection.send("BLPOP", RedisArgument(list), "30") }
        try await waitUntilBlocked(id, admin: admin)
        // A blocking call from a thread of its own while the BLPOP's reply is owed.
        let echoed: Task<RESPValue, any Error> = Task {
            try await withCheckedThrowingContinuation { continuation in
                Thread.detachNewThread {
                    continuation.resume(with: Result { try connection.sendSync("ECHO", "sync") })
                }
            }
        }
        try await Task.sleep(for: .milliseconds(20))
        try await admin.send("LPUSH", RedisArgument(list), "value")
        #expect(try await popped.value == .array([.bulk(Array(list.utf8)), .bulk(Array("value".utf8))]))
        #expect(try await echoed.value == .bulk(Array("sync".utf8)))
        await connection.close()
        await admin.close()
    }

    @Test func serverClosingTheConnectionFailsTheWaitingCall() async throws {
        let connection = try await TestEnvironment.connect()
        let admin = try await TestEnvironment.connect()
        let id = try #require(try await connection.send("CLIENT", "ID").int)
        let popped = Task { try await connection.send("BLPOP", RedisArgument(TestEnvironment.uniqueKey()), "30") }
        try await waitUntilBlocked(id, admin: admin)
        try await admin.send("CLIENT", "KILL", "ID", RedisArgument(id))
        let error = await expectRedisError { _ = try await popped.value }
        #expect(error?.code == .connectionClosed, "\(String(describing: error))")
        #expect(connection.isClosed)
        let after = await expectRedisError { try await connection.send("PING") }
        #expect(after?.code == .connectionClosed)
        await connection.close()

        // Killed while idle: the next call finds out on its inline write or read.
        let idle = try await TestEnvironment.connect()
        let idleID = try #require(try await idle.send("CLIENT", "ID").int)
        try await admin.send("CLIENT", "KILL", "ID", RedisArgument(idleID))
        let idleError = await expectRedisError { try await idle.send("PING") }
        #expect(idleError?.code == .connectionClosed, "\(String(describing: idleError))")
        #expect(idle.isClosed)
        await idle.close()
        await admin.close()
    }

    @Test func cancellingTheTaskDoesNotInterruptASentCommand() async throws {
        let connection = try await TestEnvironment.connect()
        let admin = try await TestEnvironment.connect()
        let list = TestEnvironment.uniqueKey()
        let id = try #require(try await connection.send("CLIENT", "ID").int)
        let popped = Task { try await connection.send("BLPOP", RedisArgument(list), "30") }
        try await waitUntilBlocked(id, admin: admin)
        popped.cancel()
        try await admin.send("LPUSH", RedisArgument(list), "value")
        #expect(try await popped.value == .array([.bulk(Array(list.utf8)), .bulk(Array("value".utf8))]))
        #expect(try await connection.send("PING") == .status("PONG"))
        #expect(!connection.isClosed)
        await connection.close()
        await admin.close()
    }

    @Test func closeWaitsForTheOwedReply() async throws {
        let connection = try await TestEnvironment.connect()
        let admin = try await TestEnvironment.connect()
        let list = TestEnvironment.uniqueKey()
        let id = try #require(try await connection.send("CLIENT", "ID").int)
        let popped = Task { try await connection.send("BLPOP", RedisArgument(list), "30") }
        try await waitUntilBlocked(id, admin: admin)
        let closing = Task { await connection.close() }
        try await Task.sleep(for: .milliseconds(20))
        try await admin.send("LPUSH", RedisArgument(list), "value")
        #expect(try await popped.value == .array([.bulk(Array(list.utf8)), .bulk(Array("value".utf8))]))
        await closing.value
        #expect(connection.isClosed)
        await admin.close()
    }

    @Test func repliesSlowerThanTheInlineWaitArriveOnEveryPath() async throws {
        // BLPOP with a 0.1 s server timeout answers nil after far longer than the inline
        // wait and the socket's short receive timeout: the async call is finished by the
        // I/O thread, the blocking call keeps waiting in poll up to the command timeout.
        let connection = try await TestEnvironment.connect()
        let key = TestEnvironment.uniqueKey()
        #expect(try await connection.send("BLPOP", RedisArgument(key), "0.1") == .null)
        let blocking: RESPValue = try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try connection.sendSync("BLPOP", RedisArgument(key), "0.1") })
            }
        }
        #expect(blocking == .null)
        #expect(try await connection.send("PING") == .status("PONG"))
        #expect(!connection.isClosed)
        await connection.close()
    }

    @Test func slowRepliesInARowAllArrive() async throws {
        // After an inline wait runs out, later calls stop waiting inline for a while and
        // hand over at once; replies must still match their commands.
        let connection = try await TestEnvironment.connect()
        let admin = try await TestEnvironment.connect()
        let list = TestEnvironment.uniqueKey()
        let id = try #require(try await connection.send("CLIENT", "ID").int)
        for round in 0..<3 {
            let popped = Task { try await connection.send("BLPOP", RedisArgument(list), "30") }
            try await waitUntilBlocked(id, admin: admin)
            try await admin.send("LPUSH", RedisArgument(list), RedisArgument(round))
            #expect(try await popped.value == .array([.bulk(Array(list.utf8)), .bulk(Array(String(round).utf8))]))
            for n in 0..<100 {
                #expect(try await connection.send("ECHO", RedisArgument(n)) == .bulk(Array(String(n).utf8)))
            }
        }
        await connection.close()
        await admin.close()
    }
}

private final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
