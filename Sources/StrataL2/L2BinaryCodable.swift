import Foundation

/// An opt-in fast path of ``L2BinaryCodec`` for a struct: the type writes and reads its
/// fields itself instead of going through `Codable`'s containers, like generated
/// serializers do. The bytes are exactly those the binary codec writes for the same value
/// through `Codable` (a keyed object, field names through the payload's key table), so a
/// type can adopt it or drop it at any time: values cached by either path read with either.
///
/// Write the fields in the order of the type's `CodingKeys` (the declaration order of its
/// stored properties for synthesized `Codable`), with the same names, and use
/// `encodeIfPresent` for optionals (synthesized `Codable` omits a nil optional); reading
/// finds fields by name, in any order.
///
/// ```swift
/// struct Decision: L2BinaryCodable {
///     var allowed: Bool
///     var subject: String
///     var reason: String?
///     var roles: [String]
///
///     func encode(to writer: inout L2BinaryWriter) throws {
///         writer.encode(allowed, forKey: "allowed")
///         writer.encode(subject, forKey: "subject")
///         writer.encodeIfPresent(reason, forKey: "reason")
///         writer.encode(roles, forKey: "roles")
///     }
///
///     init(from reader: L2BinaryReader) throws {
///         allowed = try reader.decode(Bool.self, forKey: "allowed")
///         subject = try reader.decode(String.self, forKey: "subject")
///         reason = try reader.decodeIfPresent(String.self, forKey: "reason")
///         roles = try reader.decode([String].self, forKey: "roles")
///     }
/// }
/// ```
///
/// The codec takes the fast path when the value it encodes or decodes (the cached value
/// itself) conforms; a conforming field of a value that does not conform goes through
/// `Codable` (same bytes). Fields of types without an overload of their own (enums,
/// dictionaries, other `Codable` types) go through `Codable` from inside the fast path.
public protocol L2BinaryCodable: Codable {
    /// Writes the value's fields, in `CodingKeys` order.
    func encode(to writer: inout L2BinaryWriter) throws
    /// Reads the value's fields.
    init(from reader: L2BinaryReader) throws
}

extension L2BinaryCodable {
    /// Writes `value` (whose type is `Self`) as the root of the writer's payload.
    static func _writeRoot<T>(_ value: T, _ base: _BinaryWriter) throws {
        var writer = L2BinaryWriter(base)
        try writer.writeObject(unsafeBitCast(value, to: Self.self))
    }

    /// Reads the root object of the reader's payload as a `T` (which is `Self`).
    static func _readRoot<T>(_ type: T.Type, _ base: _BinaryReader, at offset: Int) throws -> T {
        unsafeBitCast(try L2BinaryReader.readObject(Self.self, base, at: offset, pathID: 0), to: T.self)
    }
}

/// Writes the fields of an ``L2BinaryCodable`` value (see there for an example). Each
/// `encode` writes one field: its name, then its value, byte for byte as `Codable` would.
public struct L2BinaryWriter {
    let base: _BinaryWriter
    /// Fields written to the object being written.
    var count = 0
    var depth = 0

    init(_ base: _BinaryWriter) { self.base = base }

    @inline(__always)
    mutating func key(_ key: String) {
        count += 1
        base.keys.write(key, &base.out)
    }

    /// Writes `value` as an object: a header patched with its field count afterwards.
    mutating func writeObject<V: L2BinaryCodable>(_ value: V) throws {
        guard depth < _Binary.maximumDepth else {
            throw EncodingError.invalidValue(value, EncodingError.Context(
                codingPath: [], debugDescription: "L2BinaryCodec: nesting deeper than \(_Binary.maximumDepth) levels"))
        }
        let header = base.out.count
        base.out.append(_Binary.smallObject)
        let outer = count
        count = 0
        depth += 1
        try value.encode(to: &self)
        depth -= 1
        _Binary.patchHeader(at: header, count: count, keyed: true, &base.out)
        count = outer
    }

    public mutating func encode(_ value: Bool, forKey key: String) { self.key(key); _Binary.writeBool(value, &base.out) }
    public mutating func encode(_ value: String, forKey key: String) { self.key(key); _Binary.writeString(value, &base.out) }
    public mutating func encode(_ value: Double, forKey key: String) { self.key(key); _Binary.writeDouble(value, &base.out) }
    public mutating func encode(_ value: Float, forKey key: String) { self.key(key); _Binary.writeFloat(value, &base.out) }
    public mutating func encode(_ value: Int, forKey key: String) { self.key(key); _Binary.writeSigned(Int64(value), &base.out) }
    public mutating func encode(_ value: Int8, forKey key: String) { self.key(key); _Binary.writeSigned(Int64(value), &base.out) }
    public mutating func encode(_ value: Int16, forKey key: String) { self.key(key); _Binary.writeSigned(Int64(value), &base.out) }
    public mutating func encode(_ value: Int32, forKey key: String) { self.key(key); _Binary.writeSigned(Int64(value), &base.out) }
    public mutating func encode(_ value: Int64, forKey key: String) { self.key(key); _Binary.writeSigned(value, &base.out) }
    public mutating func encode(_ value: UInt, forKey key: String) { self.key(key); _Binary.writeUnsigned(UInt64(value), &base.out) }
    public mutating func encode(_ value: UInt8, forKey key: String) { self.key(key); _Binary.writeUnsigned(UInt64(value), &base.out) }
    public mutating func encode(_ value: UInt16, forKey key: String) { self.key(key); _Binary.writeUnsigned(UInt64(value), &base.out) }
    public mutating func encode(_ value: UInt32, forKey key: String) { self.key(key); _Binary.writeUnsigned(UInt64(value), &base.out) }
    public mutating func encode(_ value: UInt64, forKey key: String) { self.key(key); _Binary.writeUnsigned(value, &base.out) }
    public mutating func encode(_ value: Date, forKey key: String) {
        self.key(key)
        _Binary.writeDouble(value.timeIntervalSinceReferenceDate, &base.out)
    }
    public mutating func encode(_ value: UUID, forKey key: String) { self.key(key); _Binary.writeUUID(value, &base.out) }
    public mutating func encode(_ value: [String], forKey key: String) {
        self.key(key)
        _Binary.writeHeader(count: value.count, keyed: false, &base.out)
        for element in value { _Binary.writeString(element, &base.out) }
    }

    /// A nested value that has the fast path itself.
    public mutating func encode<V: L2BinaryCodable>(_ value: V, forKey key: String) throws {
        self.key(key)
        try writeObject(value)
    }

    /// An array of values that have the fast path themselves.
    public mutating func encode<V: L2BinaryCodable>(_ values: [V], forKey key: String) throws {
        self.key(key)
        _Binary.writeHeader(count: values.count, keyed: false, &base.out)
        for value in values { try writeObject(value) }
    }

    /// Any other `Encodable` field: the types the codec knows directly (`Data`, `[UInt8]`,
    /// `URL`, arrays of scalars…) without `Codable`, anything else through `Codable`. An
    /// `Optional` here is written as `Codable`'s `encode` writes it (nil as a nil value);
    /// use ``encodeIfPresent(_:forKey:)`` to omit nil as synthesized `Codable` does.
    public mutating func encode<T: Encodable>(_ value: T, forKey key: String) throws {
        self.key(key)
        if _Binary.writeFast(value, &base.out) { return }
        let base = self.base
        if base.stack.isEmpty {
            let slot = base.reserveSlot()
            try base.encodeIntoSlot(value, slot: slot, depth: 0, pathID: base.child(of: 0, _NameKey(key)))
        } else {
            throw base.reorder()
        }
    }

    /// Writes the field when `value` is not nil, as `Codable`'s `encodeIfPresent` does.
    public mutating func encodeIfPresent(_ value: Bool?, forKey key: String) { if let value { encode(value, forKey: key) } }
    public mutating func encodeIfPresent(_ value: String?, forKey key: String) { if let value { encode(value, forKey: key) } }
    public mutating func encodeIfPresent(_ value: Double?, forKey key: String) { if let value { encode(value, forKey: key) } }
    public mutating func encodeIfPresent(_ value: Int?, forKey key: String) { if let value { encode(value, forKey: key) } }
    public mutating func encodeIfPresent(_ value: Int64?, forKey key: String) { if let value { encode(value, forKey: key) } }
    public mutating func encodeIfPresent(_ value: Date?, forKey key: String) { if let value { encode(value, forKey: key) } }
    public mutating func encodeIfPresent(_ value: UUID?, forKey key: String) { if let value { encode(value, forKey: key) } }
    public mutating func encodeIfPresent<V: L2BinaryCodable>(_ value: V?, forKey key: String) throws {
        if let value { try encode(value, forKey: key) }
    }
    public mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: String) throws {
        if let value { try encode(value, forKey: key) }
    }
}

/// Reads the fields of an ``L2BinaryCodable`` value (see there for an example). Fields
/// are found by name (quickest in the order they were written); a missing field, a value
/// of the wrong type or a corrupt payload throws the `DecodingError` `Codable` would.
public struct L2BinaryReader {
    let base: _BinaryReader
    /// The object's entries in `base.entries`.
    let start: Int
    let count: Int
    let pathID: Int

    /// Reads the object at `offset` as a `V`.
    static func readObject<V: L2BinaryCodable>(_ type: V.Type, _ base: _BinaryReader, at offset: Int, pathID: Int) throws -> V {
        let start: Int, count: Int
        do {
            (start, count) = try base.index(objectAt: offset)
        } catch {
            throw base.decodingError(error, path: base.path(pathID))
        }
        return try V(from: L2BinaryReader(base: base, start: start, count: count, pathID: pathID))
    }

    /// The coding path of this object.
    public var codingPath: [any CodingKey] { base.path(pathID) }

    /// Whether the object has a field named `key` (nil or not).
    public func contains(_ key: String) -> Bool { base.find(key, start: start, count: count) != nil }

    @inline(__always)
    func offset(_ key: String) throws -> Int {
        guard let offset = base.find(key, start: start, count: count) else {
            throw DecodingError.keyNotFound(_NameKey(key), DecodingError.Context(
                codingPath: codingPath, debugDescription: "L2BinaryCodec: no value for key '\(key)'"))
        }
        return offset
    }

    /// The offset of a present, non-nil value.
    @inline(__always)
    func present(_ key: String) -> Int? {
        guard let offset = base.find(key, start: start, count: count), base.tag(at: offset) != _Binary.null else { return nil }
        return offset
    }

    @inline(__always)
    func read<V>(_ offset: Int, _ key: String, _ read: (Int) throws(_Failure) -> (V, Int)) throws -> V {
        do { return try read(offset).0 } catch { throw base.decodingError(error, at: pathID, key: _NameKey(key)) }
    }

    @inline(__always)
    func integer<I: FixedWidthInteger>(_ key: String) throws -> I {
        let offset = try offset(key)
        do { return try base.decodeInteger(I.self, at: offset).0 } catch { throw base.decodingError(error, at: pathID, key: _NameKey(key)) }
    }

    public func decode(_ type: Bool.Type, forKey key: String) throws -> Bool { try read(offset(key), key, base.decodeBool) }
    public func decode(_ type: String.Type, forKey key: String) throws -> String { try read(offset(key), key, base.decodeString) }
    public func decode(_ type: Double.Type, forKey key: String) throws -> Double { try read(offset(key), key, base.decodeDouble) }
    public func decode(_ type: Float.Type, forKey key: String) throws -> Float { try read(offset(key), key, base.decodeFloat) }
    public func decode(_ type: Int.Type, forKey key: String) throws -> Int { try integer(key) }
    public func decode(_ type: Int8.Type, forKey key: String) throws -> Int8 { try integer(key) }
    public func decode(_ type: Int16.Type, forKey key: String) throws -> Int16 { try integer(key) }
    public func decode(_ type: Int32.Type, forKey key: String) throws -> Int32 { try integer(key) }
    public func decode(_ type: Int64.Type, forKey key: String) throws -> Int64 { try integer(key) }
    public func decode(_ type: UInt.Type, forKey key: String) throws -> UInt { try integer(key) }
    public func decode(_ type: UInt8.Type, forKey key: String) throws -> UInt8 { try integer(key) }
    public func decode(_ type: UInt16.Type, forKey key: String) throws -> UInt16 { try integer(key) }
    public func decode(_ type: UInt32.Type, forKey key: String) throws -> UInt32 { try integer(key) }
    public func decode(_ type: UInt64.Type, forKey key: String) throws -> UInt64 { try integer(key) }
    public func decode(_ type: Date.Type, forKey key: String) throws -> Date {
        Date(timeIntervalSinceReferenceDate: try read(offset(key), key, base.decodeDouble))
    }
    public func decode(_ type: UUID.Type, forKey key: String) throws -> UUID { try read(offset(key), key, base.decodeUUID) }
    public func decode(_ type: [String].Type, forKey key: String) throws -> [String] {
        let base = self.base
        return try read(offset(key), key) { (position: Int) throws(_Failure) in
            try base.decodeArray(at: position) { (element: Int) throws(_Failure) in try base.decodeString(at: element) }
        }
    }

    /// A nested value that has the fast path itself.
    public func decode<V: L2BinaryCodable>(_ type: V.Type, forKey key: String) throws -> V {
        try Self.readObject(type, base, at: offset(key), pathID: base.child(of: pathID, _NameKey(key)))
    }

    /// An array of values that have the fast path themselves.
    public func decode<V: L2BinaryCodable>(_ type: [V].Type, forKey key: String) throws -> [V] {
        let offset = try offset(key)
        let tag = base.tag(at: offset)
        guard base.isArrayTag(tag) else { return try base.decodeValue(type, at: offset, parent: pathID, key: _NameKey(key)) }
        let arrayPath = base.child(of: pathID, _NameKey(key))
        var remaining = 0, position = 0
        do throws(_Failure) {
            (remaining, position) = try base.containerHeader(tag, at: offset, keyed: false)
        } catch {
            throw base.decodingError(error, path: base.path(arrayPath))
        }
        var values: [V] = []
        values.reserveCapacity(remaining)
        while remaining > 0 {
            let path = base.child(of: arrayPath, _IndexKey(values.count))
            values.append(try Self.readObject(V.self, base, at: position, pathID: path))
            do throws(_Failure) {
                position = try base.skip(at: position, depth: 0, register: false)
            } catch {
                throw base.decodingError(error, path: base.path(path))
            }
            remaining -= 1
        }
        return values
    }

    /// Any other `Decodable` field: the types the codec knows directly without `Codable`,
    /// anything else through `Codable`.
    public func decode<T: Decodable>(_ type: T.Type, forKey key: String) throws -> T {
        try base.decodeValue(type, at: offset(key), parent: pathID, key: _NameKey(key))
    }

    /// nil when the field is missing or nil, as `Codable`'s `decodeIfPresent`.
    public func decodeIfPresent(_ type: Bool.Type, forKey key: String) throws -> Bool? {
        guard let offset = present(key) else { return nil }
        return try read(offset, key, base.decodeBool)
    }
    public func decodeIfPresent(_ type: String.Type, forKey key: String) throws -> String? {
        guard let offset = present(key) else { return nil }
        return try read(offset, key, base.decodeString)
    }
    public func decodeIfPresent(_ type: Double.Type, forKey key: String) throws -> Double? {
        guard let offset = present(key) else { return nil }
        return try read(offset, key, base.decodeDouble)
    }
    public func decodeIfPresent(_ type: Int.Type, forKey key: String) throws -> Int? {
        guard present(key) != nil else { return nil }
        return try integer(key) as Int
    }
    public func decodeIfPresent(_ type: Int64.Type, forKey key: String) throws -> Int64? {
        guard present(key) != nil else { return nil }
        return try integer(key) as Int64
    }
    public func decodeIfPresent(_ type: Date.Type, forKey key: String) throws -> Date? {
        guard present(key) != nil else { return nil }
        return try decode(Date.self, forKey: key)
    }
    public func decodeIfPresent(_ type: UUID.Type, forKey key: String) throws -> UUID? {
        guard let offset = present(key) else { return nil }
        return try read(offset, key, base.decodeUUID)
    }
    public func decodeIfPresent<V: L2BinaryCodable>(_ type: V.Type, forKey key: String) throws -> V? {
        guard present(key) != nil else { return nil }
        return try decode(type, forKey: key)
    }
    public func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: String) throws -> T? {
        guard let offset = present(key) else { return nil }
        return try base.decodeValue(type, at: offset, parent: pathID, key: _NameKey(key))
    }
}

/// A field name as a coding key (for coding paths and errors).
struct _NameKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
}
