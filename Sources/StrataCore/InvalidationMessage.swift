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

    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain strings and integers cannot fail.
        return Array((try? encoder.encode(self)) ?? Data())
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
