import Foundation
import Testing
@testable import StrataCore

@Suite struct KeySegmentTests {
    @Test func plainValuesPassThrough() {
        #expect(KeySegment.escape("alice") == "alice")
        #expect(KeySegment.escape("über-ü.x_y~z@1") == "über-ü.x_y~z@1")
        #expect(KeySegment.escape(42) == "42")
    }

    @Test func separatorsAndGlobCharactersAreEscaped() {
        #expect(KeySegment.escape("a:b*") == "a%3Ab%2A")
        #expect(KeySegment.escape("?[]\\{}%") == "%3F%5B%5D%5C%7B%7D%25")
        #expect(KeySegment.escape("a b\t\n\u{7F}") == "a%20b%09%0A%7F")
        #expect(KeySegment.escape("") == "")
    }

    @Test func escapedValuesCannotAddSegmentsOrGlobs() {
        for value in ["x:y", "*", "a:*", "[a-z]", "%3A", "\u{0}"] {
            let escaped = KeySegment.escape(value)
            #expect(!escaped.contains(":"))
            #expect(!escaped.contains("*"))
            #expect(!escaped.contains("?"))
            #expect(!escaped.contains("["))
            #expect(LogicalKey.validate("authz:user:" + escaped) == nil)
        }
        // Escaping is injective on these: the escaped form of "%3A" is not ":".
        #expect(KeySegment.escape("%3A") != KeySegment.escape(":"))
    }

    @Test func longValuesAreHashed() {
        let long = String(repeating: "x", count: 129)
        let escaped = KeySegment.escape(long)
        #expect(escaped == "%H" + String(SHA256Digest.hex(Array(long.utf8)).prefix(32)))
        #expect(escaped.count == 34)
        // The limit applies to the escaped length: 43 colons escape to 129 bytes.
        #expect(KeySegment.escape(String(repeating: ":", count: 42)).count == 126)
        #expect(KeySegment.escape(String(repeating: ":", count: 43)).hasPrefix("%H"))
        #expect(KeySegment.escape(String(repeating: "y", count: 128)) == String(repeating: "y", count: 128))
    }

    @Test func sha256KnownVectors() {
        #expect(SHA256Digest.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256Digest.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256Digest.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256Digest.hex([UInt8](repeating: 0x61, count: 1_000)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }
}

@Suite struct LogicalKeyTests {
    @Test func coveringPrefixes() {
        #expect(LogicalKey.coveringPrefixes(of: "a:b:c") == ["*", "a:*", "a:b:*"])
        #expect(LogicalKey.coveringPrefixes(of: "single") == ["*"])
        #expect(LogicalKey.coveringPrefixes(of: "authz:team:7:project:19")
            == ["*", "authz:*", "authz:team:*", "authz:team:7:*", "authz:team:7:project:*"])
    }

    @Test func prefixCoverage() {
        #expect(LogicalKey.prefix("authz:team:7:*", covers: "authz:team:7:project:1"))
        #expect(!LogicalKey.prefix("authz:team:7:*", covers: "authz:team:70:project:1"))
        #expect(LogicalKey.prefix("*", covers: "anything"))
        #expect(LogicalKey.prefix("exact", covers: "exact"))
        #expect(!LogicalKey.prefix("exact", covers: "exactly"))
    }

    @Test func validation() {
        #expect(LogicalKey.validate("authz:user:42") == nil)
        #expect(LogicalKey.validate("authz:team:*") == nil)
        #expect(LogicalKey.validate("*") == nil)
        #expect(LogicalKey.validate("") != nil)
        #expect(LogicalKey.validate("a::b") != nil)
        #expect(LogicalKey.validate("authz:te*") != nil)
        #expect(LogicalKey.validate("a b") != nil)
        #expect(LogicalKey.validate("a:[x]") != nil)
    }

    @Test func layout() {
        let layout = L2KeyLayout(namespace: "app1:")
        #expect(layout.valueKey("authz:user:1") == "app1:v:authz:user:1")
        #expect(layout.leaseKey("authz:user:1") == "app1:l:authz:user:1")
        #expect(layout.generationKey("authz:*") == "app1:g:authz:*")
        #expect(layout.channel == "app1:invalidations")
    }

    @Test func messageRoundTrip() throws {
        let message = InvalidationMessage(epoch: "e1", seq: 7, through: 99, keys: ["a:1", "b:\"q\""], prefixes: ["a:*"])
        let decoded = try InvalidationMessage.decode(message.encoded())
        #expect(decoded == message)
        #expect(!decoded.isHeartbeat)
        #expect(throws: (any Error).self) { try InvalidationMessage.decode(Array("{\"v\":2,\"epoch\":\"e\",\"seq\":1,\"through\":0,\"keys\":[],\"prefixes\":[]}".utf8)) }
        #expect(throws: (any Error).self) { try InvalidationMessage.decode(Array("garbage".utf8)) }
    }

    @Test func messagesEncodeExactlyAsJSONEncoderWithSortedKeys() throws {
        let reference = JSONEncoder()
        reference.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // every ASCII byte, quotes, backslashes, slashes, DEL, multi-byte and astral characters
        let alphabet = (0..<0x80).map { Character(Unicode.Scalar(UInt8($0))) } + Array("\"\\/é€😀\u{2028}:*")
        var generator = SystemRandomNumberGenerator()
        func randomString() -> String {
            String((0..<Int.random(in: 0...12, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
        }
        var messages = [
            InvalidationMessage(epoch: "e", seq: 1, through: 0, keys: [], prefixes: []),
            InvalidationMessage(epoch: "", seq: .max, through: .min, keys: [""], prefixes: ["*"]),
            InvalidationMessage(epoch: "e1", seq: 7, through: 99, keys: ["a:1", "b:\"q\""], prefixes: ["a:*"]),
        ]
        for _ in 0..<500 {
            messages.append(InvalidationMessage(
                epoch: randomString(), seq: UInt64.random(in: 0...UInt64.max, using: &generator),
                through: Int64.random(in: Int64.min...Int64.max, using: &generator),
                keys: (0..<Int.random(in: 0...4, using: &generator)).map { _ in randomString() },
                prefixes: (0..<Int.random(in: 0...3, using: &generator)).map { _ in randomString() }))
        }
        for message in messages {
            let bytes = message.encoded()
            #expect(bytes == Array(try reference.encode(message)), "\(message)")
            #expect(try InvalidationMessage.decode(bytes) == message)
        }
    }
}
