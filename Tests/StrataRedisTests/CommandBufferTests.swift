import Foundation
import StrataRedis
import Testing

@Suite("RedisCommandBuffer: commands formatted while they are built")
struct CommandBufferTests {
    @Test func formatsWhatTheArgumentArraysSend() {
        let commands: [[RedisArgument]] = [["PING"], ["SET", "k", RedisArgument([0, 13, 10, 255]), "PX", 60_000], ["MGET", "a", "", "c"]]
        var buffer = RedisCommandBuffer()
        for command in commands { buffer.append(command) }
        #expect(buffer.count == 3 && buffer.isComplete)
        let expected = "*1\r\n$4\r\nPING\r\n*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\n\u{0}\r\n\u{FF}\r\n$2\r\nPX\r\n$5\r\n60000\r\n"
            + "*4\r\n$4\r\nMGET\r\n$1\r\na\r\n$0\r\n\r\n$1\r\nc\r\n"
        var bytes = Array(expected.utf8)
        // U+00FF is two UTF-8 bytes; the argument holds the single byte 0xFF.
        let at = bytes.firstIndex(of: 0xC3)!
        bytes.replaceSubrange(at...(at + 1), with: [0xFF])
        #expect(buffer.bytes == bytes)

        var parts = RedisCommandBuffer(capacity: 8)
        parts.beginCommand(argumentCount: 5)
        parts.appendArgument("SET")
        parts.appendArgument("k")
        parts.appendArgument(length: 4) { $0.append(contentsOf: [0, 13, 10, 255]) }
        parts.appendArgument([UInt8]("PX".utf8))
        #expect(!parts.isComplete)
        parts.appendArgument(Int64(60_000))
        #expect(parts.isComplete)
        var whole = RedisCommandBuffer()
        whole.append(commands[1])
        #expect(parts.bytes == whole.bytes)
        parts.removeAll()
        #expect(parts.count == 0 && parts.bytes.isEmpty)
    }

    /// Arguments formatted once and copied, and arguments written into raw memory, give the
    /// bytes of the plain calls.
    @Test func preformattedAndRawArgumentsMatch() {
        var plain = RedisCommandBuffer()
        plain.append(["SET", "key:1", RedisArgument([0, 13, 10, 255]), "PX", 60_000])
        plain.append(["DEL", "a", "", "c"])

        let setAndKey = RedisCommandBuffer.formatArgument(Array("SET".utf8)) + RedisCommandBuffer.formatArgument(Array("key:1".utf8))
        #expect(RedisCommandBuffer.formatArgument([]) == Array("$0\r\n\r\n".utf8))
        var built = RedisCommandBuffer()
        built.beginCommand(argumentCount: 5)
        setAndKey.withUnsafeBytes { built.appendFormattedArguments($0, count: 2) }
        built.appendArgument(length: 4) { (out: UnsafeMutableRawBufferPointer) in
            #expect(out.count == 4 && out.allSatisfy { $0 == 0 })
            out.copyBytes(from: [0, 13, 10, 255])
        }
        let expiry = RedisCommandBuffer.formatArgument(Array("PX".utf8)) + RedisCommandBuffer.formatArgument(Array("60000".utf8))
        expiry.withUnsafeBytes { built.appendFormattedArguments($0, count: 2) }
        #expect(built.isComplete)
        built.beginCommand(argumentCount: 4)
        built.appendArgument("DEL")
        let rest = ["a", "", "c"].flatMap { RedisCommandBuffer.formatArgument(Array($0.utf8)) }
        rest.withUnsafeBytes { built.appendFormattedArguments($0, count: 3) }
        #expect(built.isComplete && built.count == 2)
        #expect(built.bytes == plain.bytes)
    }

    @Test func integersAreDecimalText() {
        for value: Int64 in [0, 9, 10, -1, -10, 1_234_567_890, .max, .min] {
            var buffer = RedisCommandBuffer()
            buffer.beginCommand(argumentCount: 1)
            buffer.appendArgument(value)
            var expected = RedisCommandBuffer()
            expected.append([RedisArgument(value)])
            #expect(buffer.bytes == expected.bytes, "\(value)")
        }
        // Argument counts and lengths of several digits.
        var long = RedisCommandBuffer()
        long.append((0..<123).map { RedisArgument($0) })
        #expect(long.bytes.starts(with: Array("*123\r\n$1\r\n0\r\n".utf8)))
        var big = RedisCommandBuffer()
        big.append([RedisArgument([UInt8](repeating: 7, count: 12_345))])
        #expect(big.bytes.starts(with: Array("*1\r\n$12345\r\n".utf8)))
    }

    @Test func aPipelineOfABufferGetsOneReplyPerCommand() async throws {
        let connection = try await TestEnvironment.connect()
        let key = TestEnvironment.uniqueKey()
        var buffer = RedisCommandBuffer()
        for index in 0..<500 {
            buffer.beginCommand(argumentCount: 3)
            buffer.appendArgument("SET")
            buffer.appendArgument(key + ":\(index)")
            buffer.appendArgument(length: 1000) { $0.append(contentsOf: repeatElement(UInt8(index % 256), count: 1000)) }
        }
        buffer.append(["LPUSH", RedisArgument(key + ":0"), "x"])   // an error reply stays in place
        buffer.append(["MGET", RedisArgument(key + ":0"), RedisArgument(key + ":499")])
        // Async (inline or I/O thread: 500 kB is more than one inline write) and blocking.
        let replies = try await connection.pipeline(buffer)
        #expect(replies.count == 502)
        #expect(replies[0..<500].allSatisfy { $0 == .status("OK") })
        #expect(replies[500].error?.prefix == "WRONGTYPE")
        #expect(replies[501] == .array([.bulk([UInt8](repeating: 0, count: 1000)), .bulk([UInt8](repeating: 243, count: 1000))]))
        let again = try connection.pipelineSync(buffer)
        #expect(again == replies)
        // As received: the same replies, and the values read in place.
        let raw = try await connection.rawPipeline(buffer)
        #expect(raw.count == 502)
        #expect(raw.values == replies)
        let mget = raw[501]
        #expect(raw.elementCount(of: mget) == 2)
        #expect(raw.bytes[raw.range(of: raw.element(1, of: mget))!].elementsEqual(repeatElement(243, count: 1000)))
        #expect(try connection.rawPipelineSync(buffer).values == replies)
        #expect(try await connection.rawPipeline(RedisCommandBuffer()).count == 0)
        #expect(try await connection.pipeline(RedisCommandBuffer()) == [])
        var deletes = RedisCommandBuffer()
        deletes.append(["DEL"] + (0..<500).map { RedisArgument(key + ":\($0)") })
        #expect(try await connection.pipeline(deletes) == [.integer(500)])
        await connection.close()
    }
}
