import Foundation

/// Turns values into payload bytes and back. The codec's ``id`` is stored in every entry
/// and chooses the decoder on read: entries written by any built-in codec
/// (``L2PropertyListCodec`` 1, ``L2JSONCodec`` 2, ``L2BinaryCodec`` 3) stay readable after
/// the configured codec changes; an entry of an unknown custom codec is a miss (and is
/// deleted), never a wrong value.
///
/// ```swift
/// struct MyCodec: L2Codec {
///     var id: UInt8 { 200 }                 // 128...255 are free for your own codecs
///     func encode<T: Encodable>(_ value: T) throws -> [UInt8] { ... }
///     func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T { ... }
/// }
/// ```
public protocol L2Codec: Sendable {
    /// Stored in each entry. 1, 2 and 3 are the built-in codecs; 128...255 are free.
    var id: UInt8 { get }
    func encode<T: Encodable>(_ value: T) throws -> [UInt8]
    func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T
}

/// Foundation's binary property list (`bplist00`); deduplicates repeated strings, but
/// measured larger and slower than JSON for small structs on Linux. Top-level values are wrapped in a one-element array
/// so scalars (`Int`, `Bool`, `String`) work too.
public struct L2PropertyListCodec: L2Codec {
    public var id: UInt8 { 1 }
    public init() {}

    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = PropertyListEncoder()
        encoder.outputFormat = .binary
        return Array(try encoder.encode([value]))
    }

    public func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        let wrapped = try PropertyListDecoder().decode([T].self, from: Data(bytes))
        guard wrapped.count == 1 else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "expected one wrapped value, got \(wrapped.count)"))
        }
        return wrapped[0]
    }
}

/// JSON (Foundation's `JSONEncoder`, default strategies); readable with `redis-cli` when
/// the entry is neither compressed nor encrypted. The default before ``L2BinaryCodec``.
public struct L2JSONCodec: L2Codec {
    public var id: UInt8 { 2 }
    public init() {}

    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        Array(try JSONEncoder().encode(value))
    }

    public func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(bytes))
    }
}
