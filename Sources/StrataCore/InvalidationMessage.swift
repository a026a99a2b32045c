import Foundation

/// One message on the L1 invalidation channel (docs/l2-key-layout.md).
///
/// Messages carry consecutive ``seq`` numbers within an ``epoch``: a subscriber that sees
/// a jump, or a new epoch, has missed messages and must drop what it cannot prove fresh.
public struct InvalidationMessage: Codable, Sendable, Hashable {
    /// Format version.
    public var v: Int
    /// Random id of the publishing worker run.
    public var epoch: String
    /// Consecutive from 1 within an epoch.
    public var seq: UInt64
    /// The outbox seq of the last change in this message (informational).
    public var through: Int64
    /// Exact logical keys.
    public var keys: [String]
    /// Prefixes, each ending in `*`; `"*"` means everything.
    public var prefixes: [String]

    public static let currentVersion = 1

    public init(epoch: String, seq: UInt64, through: Int64, keys: [String], prefixes: [String]) {
        self.v = Self.currentVersion
        self.epoch = epoch
        self.seq = seq
        self.through = through
        self.keys = keys
        self.prefixes = prefixes
    }

    /// A heartbeat carries no keys: it only proves the channel is alive.
    public var isHeartbeat: Bool { keys.isEmpty && prefixes.isEmpty }

    /// The message as JSON: the bytes `JSONEncoder` writes with `.sortedKeys` and
    /// `.withoutEscapingSlashes`, written directly (the worker sends one per batch).
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(80 + epoch.utf8.count + (keys + prefixes).reduce(0) { $0 + $1.utf8.count + 3 })
        out.append(contentsOf: #"{"epoch":"#.utf8)
        Self.appendJSONString(epoch, to: &out)
        for (name, list) in [(#","keys":["#, keys), (#"],"prefixes":["#, prefixes)] {
            out.append(contentsOf: name.utf8)
            for (i, element) in list.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.appendJSONString(element, to: &out)
            }
        }
        out.append(contentsOf: #"],"seq":"#.utf8)
        out.append(contentsOf: String(seq).utf8)
        out.append(contentsOf: #","through":"#.utf8)
        out.append(contentsOf: String(through).utf8)
        out.append(contentsOf: #","v":"#.utf8)
        out.append(contentsOf: String(v).utf8)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// A JSON string literal: `"` and `\` escaped, control characters as `\b \t \n \f \r`
    /// or `\u00xx`, everything else (`/`, DEL, non-ASCII) as its UTF-8 bytes.
    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func appendJSONString(_ string: String, to out: inout [UInt8]) {
        let hex = hexDigits
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                out.append(UInt8(ascii: "\\")); out.append(byte)
            case 0x08: out.append(contentsOf: #"\b"#.utf8)
            case 0x09: out.append(contentsOf: #"\t"#.utf8)
            case 0x0A: out.append(contentsOf: #"\n"#.utf8)
            case 0x0C: out.append(contentsOf: #"\f"#.utf8)
            case 0x0D: out.append(contentsOf: #"\r"#.utf8)
            case 0..<0x20:
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hex[Int(byte >> 4)]); out.append(hex[Int(byte & 0x0F)])
            default:
                out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Decodes a message; throws a `DecodingError` for anything that is not a version-1 message.
    public static func decode(_ bytes: [UInt8]) throws -> InvalidationMessage {
        let message = try JSONDecoder().decode(InvalidationMessage.self, from: Data(bytes))
        guard message.v == currentVersion else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "unknown invalidation message version \(message.v)"))
        }
        return message
    }
}
