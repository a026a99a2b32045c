import Foundation
@testable import StrataRedis
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The RESP2 reply parser, fed through a real socket pair in pieces of every size: a
/// reply is returned only once complete, and equals what it encodes.
@Suite struct ReplyReaderTests {
    /// A connected pair of stream sockets; `[0]` is read by the reader, `[1]` written.
    private static func socketPair() throws -> (Int32, Int32) {
        var descriptors: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &descriptors) == 0 else {
            throw TestSetupError("socketpair failed: \(String(cString: strerror(errno)))")
        }
        return (descriptors[0], descriptors[1])
    }

    private static func write(_ bytes: ArraySlice<UInt8>, to descriptor: Int32) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                precondition(written > 0)
                offset += written
            }
        }
    }

    /// Feeds `wire` to a reader in chunks of `chunk` bytes through a socket pair, calling
    /// `drain` after each chunk; the reader must have consumed everything at the end.
    private static func feed(_ wire: [UInt8], chunk: Int, drain: (inout _ReplyReader) throws -> Void) throws {
        let (readEnd, writeEnd) = try socketPair()
        defer {
            close(readEnd)
            close(writeEnd)
        }
        var reader = _ReplyReader()
        var offset = 0
        while offset < wire.count {
            let next = min(wire.count, offset + chunk)
            write(wire[offset..<next], to: writeEnd)
            offset = next
            while case .received = reader.receive(from: readEnd, flags: Int32(MSG_DONTWAIT)) {}
            try drain(&reader)
        }
        let leftover = reader.hasBufferedBytes
        #expect(!leftover)
    }

    /// Feeds `wire` in chunks of `chunk` bytes, parsing after each, and returns the replies.
    private static func parse(_ wire: [UInt8], chunk: Int) throws -> [RESPValue] {
        var replies: [RESPValue] = []
        try feed(wire, chunk: chunk) { reader in
            while let reply = try reader.next() { replies.append(reply) }
        }
        return replies
    }

    static let wire = Array((
        "+OK\r\n" + "-WRONGTYPE Operation against a key\r\n" + ":42\r\n" + ":-7\r\n" + "$5\r\nhe\r\no\r\n" + "$0\r\n\r\n"
            + "$-1\r\n" + "*-1\r\n" + "*0\r\n" + "*3\r\n:1\r\n*2\r\n$1\r\na\r\n$-1\r\n-ERR inner\r\n" + "+\r\n"
    ).utf8)

    static let expected: [RESPValue] = [
        .status("OK"),
        .error(RedisError(serverReply: "WRONGTYPE Operation against a key")),
        .integer(42),
        .integer(-7),
        .bulk(Array("he\r\no".utf8)),
        .bulk([]),
        .null,
        .null,
        .array([]),
        .array([.integer(1), .array([.bulk([UInt8(ascii: "a")]), .null]), .error(RedisError(serverReply: "ERR inner"))]),
        .status(""),
    ]

    @Test(arguments: [1, 2, 3, 5, 7, 16, 1_000])
    func repliesInChunksOf(_ chunk: Int) throws {
        #expect(try Self.parse(Self.wire, chunk: chunk) == Self.expected)
    }

    /// Feeds `wire` in chunks of `chunk` bytes into raw replies (`expected` of them).
    private static func parseRaw(_ wire: [UInt8], expected: Int, chunk: Int) throws -> RedisRawReplies {
        var replies = RedisRawReplies(expected: expected)
        try feed(wire, chunk: chunk) { reader in
            while try reader.next(into: &replies) {}
        }
        #expect(replies.isComplete)
        return replies
    }

    @Test(arguments: [1, 2, 3, 5, 7, 16, 1_000])
    func rawRepliesInChunksOf(_ chunk: Int) throws {
        let replies = try Self.parseRaw(Self.wire, expected: Self.expected.count, chunk: chunk)
        #expect(replies.count == Self.expected.count)
        #expect(replies.values == Self.expected)
        // What each handle reads, by hand.
        #expect(replies.kind(of: replies[0]) == .status)
        #expect(replies.bytes[replies.range(of: replies[0])!] == Array("OK".utf8)[...])
        #expect(replies.kind(of: replies[1]) == .error)
        #expect(String(decoding: replies.bytes[replies.range(of: replies[1])!], as: UTF8.self) == "WRONGTYPE Operation against a key")
        #expect(replies.integer(of: replies[2]) == 42)
        #expect(replies.integer(of: replies[3]) == -7)
        #expect(replies.range(of: replies[2]) == nil)
        #expect(replies.kind(of: replies[4]) == .bulk)
        #expect(replies.bytes[replies.range(of: replies[4])!] == Array("he\r\no".utf8)[...])
        #expect(replies.range(of: replies[5])?.isEmpty == true)
        #expect(replies.kind(of: replies[6]) == .null && replies.kind(of: replies[7]) == .null)
        #expect(replies.range(of: replies[6]) == nil && replies.integer(of: replies[6]) == nil)
        #expect(replies.elementCount(of: replies[8]) == 0)
        let nested = replies[9]
        #expect(replies.elementCount(of: nested) == 3)
        #expect(replies.integer(of: replies.element(0, of: nested)) == 1)
        let inner = replies.element(1, of: nested)
        #expect(replies.elementCount(of: inner) == 2)
        #expect(replies.bytes[replies.range(of: replies.element(0, of: inner))!] == [UInt8(ascii: "a")][...])
        #expect(replies.kind(of: replies.element(1, of: inner)) == .null)
        #expect(replies.kind(of: replies.element(2, of: nested)) == .error)
        #expect(replies.elementCount(of: replies[4]) == nil)
        #expect(replies.range(of: replies[10])?.isEmpty == true)
    }

    @Test func rawRepliesOfALargeBulkStringAcrossManyReads() throws {
        let payload = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let wire = Array("$\(payload.count)\r\n".utf8) + payload + Array("\r\n:1\r\n".utf8)
        let replies = try Self.parseRaw(wire, expected: 2, chunk: 40_000)
        #expect(replies.bytes[replies.range(of: replies[0])!].elementsEqual(payload))
        #expect(replies.values == [.bulk(payload), .integer(1)])
    }

    @Test(arguments: ["?x\r\n", ":12a\r\n", "$abc\r\n", "$3\r\nabcXY", "*x\r\n", "+OK\rX", "$-2\r\n"])
    func malformedInputIsAProtocolErrorForRawRepliesToo(_ text: String) throws {
        #expect(throws: _ReplyReader.ProtocolError.self) { _ = try Self.parseRaw(Array(text.utf8), expected: 1, chunk: 64) }
    }

    @Test func largeBulkStringAcrossManyReads() throws {
        let payload = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let wire = Array("$\(payload.count)\r\n".utf8) + payload + Array("\r\n:1\r\n".utf8)
        #expect(try Self.parse(wire, chunk: 40_000) == [.bulk(payload), .integer(1)])
    }

    @Test(arguments: ["?x\r\n", ":12a\r\n", "$abc\r\n", "$3\r\nabcXY", "*x\r\n", "+OK\rX", "$-2\r\n"])
    func malformedInputIsAProtocolError(_ text: String) throws {
        #expect(throws: _ReplyReader.ProtocolError.self) { _ = try Self.parse(Array(text.utf8), chunk: 64) }
    }

    @Test func deepNestingIsAProtocolError() throws {
        let wire = Array((String(repeating: "*1\r\n", count: 40) + ":1\r\n").utf8)
        #expect(throws: _ReplyReader.ProtocolError.self) { _ = try Self.parse(wire, chunk: 1_000) }
    }
}
