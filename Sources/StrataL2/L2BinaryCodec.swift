/// The default codec: a compact binary `Codable` format (codec id 3), documented byte by
/// byte in docs/l2.md ("The binary codec").
///
/// Integers are varints (0…63 and −1…−64 take one byte), strings and bytes are
/// length-prefixed, field names are written once per payload and referenced by index
/// afterwards, `Data`/`[UInt8]` are raw bytes, `UUID` 16 bytes, `Date` the same `Double`
/// as its own `Codable`. Any `Codable` type works, including nested, unkeyed and
/// single-value containers and super encoders; it needs no schema and no annotations.
///
/// ```swift
/// let codec = L2BinaryCodec()
/// let bytes = try codec.encode(decision)                  // [UInt8]
/// let again = try codec.decode(Decision.self, from: bytes)
/// ```
///
/// Decoding checks the whole payload before reading it: truncated, corrupt or hostile
/// input throws a `DecodingError` saying what is wrong and at which byte; no length or
/// count read from the payload is trusted beyond the bytes that remain, and nesting is
/// limited to 512 levels.
public struct L2BinaryCodec: L2Codec {
    public var id: UInt8 { 3 }
    public init() {}

    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let writer = _BinaryWriter()
        do {
            return try writer.encodeRoot(value)
        } catch {
            // A write order streaming cannot place (see _BinaryWriter): build a tree instead.
            guard writer.needsTree else { throw error }
            return try _TreeState().encode(value)
        }
    }

    public func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try decode(type, from: bytes, range: 0..<bytes.count)
    }

    /// Decodes the payload `bytes[range]` in place (L2 reads it inside the envelope).
    func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], range: Range<Int>) throws -> T {
        let reader = try _BinaryReader(bytes, range: range)
        return try reader.decodeRoot(type, at: range.lowerBound)
    }
}
