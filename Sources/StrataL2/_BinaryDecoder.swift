import Foundation

/// Where a value sits in the decoded structure, for error messages (built only on error).
struct _Where {
    let base: [any CodingKey]
    let key: (any CodingKey)?
    /// An element of an array at `base` + `key`.
    var index: Int? = nil

    var path: [any CodingKey] {
        var path = base
        if let key { path.append(key) }
        if let index { path.append(_IndexKey(index)) }
        return path
    }

    func element(_ index: Int) -> _Where { _Where(base: base, key: key, index: index) }
}

/// The decoding side of ``L2BinaryCodec``. `init` walks the whole payload once: it checks
/// every tag, length, count and key reference against the bytes that remain (nothing is
/// allocated from a length before that check), bounds nesting, and builds the key table in
/// stream order. Decoding then reads values where the containers point.
final class _BinaryReader {
    struct Entry {
        var key: Int
        var offset: Int
    }

    let bytes: [UInt8]
    /// The key table, in order of definition.
    @exclusivity(unchecked) private(set) var keys: [String] = []
    /// The offset of each key's definition, ascending (to find a definition's index).
    @exclusivity(unchecked) private(set) var keyStarts: [Int] = []
    /// The entries of every keyed container indexed so far; a container owns a range, whose
    /// first element holds its lookup hint (the entry after the last one found).
    @exclusivity(unchecked) var entries: [Entry] = []

    init(_ bytes: [UInt8]) throws {
        self.bytes = bytes
        guard !bytes.isEmpty else { throw corrupted("the payload is empty") }
        let end = try skip(at: 0, depth: 0, register: true)
        guard end == bytes.count else {
            throw corrupted("\(bytes.count - end) unexpected bytes after the value (at byte \(end) of \(bytes.count))")
        }
    }

    // MARK: Errors

    func corrupted(_ message: String, _ path: [any CodingKey] = []) -> DecodingError {
        .dataCorrupted(DecodingError.Context(codingPath: path, debugDescription: "L2BinaryCodec: " + message))
    }

    func truncated(_ what: String, at offset: Int, needs: UInt64) -> DecodingError {
        let remaining = max(0, bytes.count - offset)
        return corrupted("truncated or corrupt: \(what) at byte \(offset) needs \(needs) bytes, only \(remaining) of the \(bytes.count)-byte payload remain")
    }

    func mismatch(_ type: Any.Type, at offset: Int, _ place: _Where) -> DecodingError {
        let found = tag(at: offset)
        if found == _Binary.null {
            return .valueNotFound(type, DecodingError.Context(codingPath: place.path, debugDescription: "L2BinaryCodec: expected \(type), found nil"))
        }
        return .typeMismatch(type, DecodingError.Context(
            codingPath: place.path, debugDescription: "L2BinaryCodec: expected \(type), found \(_Binary.describe(found)) at byte \(offset)"))
    }

    func outOfRange(_ type: Any.Type, _ value: String, _ place: _Where) -> DecodingError {
        .dataCorrupted(DecodingError.Context(codingPath: place.path, debugDescription: "L2BinaryCodec: \(value) does not fit in \(type)"))
    }

    // MARK: Structure

    /// The tag at `offset`; an offset outside the payload (an absent super decoder) reads as nil.
    @inline(__always)
    func tag(at offset: Int) -> UInt8 {
        offset >= 0 && offset < bytes.count ? bytes[offset] : _Binary.null
    }

    @inline(__always)
    func varint(at offset: Int) throws -> (UInt64, Int) {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var position = offset
        while true {
            guard position < bytes.count else { throw truncated("a varint", at: offset, needs: UInt64(position - offset + 1)) }
            let byte = bytes[position]
            position += 1
            if shift == 63 && byte > 1 { throw corrupted("the varint at byte \(offset) overflows 64 bits") }
            result |= UInt64(byte & 0x7F) &<< shift
            if byte < 0x80 { return (result, position) }
            shift += 7
        }
    }

    /// A length that must fit in the remaining bytes.
    @inline(__always)
    func length(at offset: Int, what: String) throws -> (Int, Int) {
        let (value, start) = try varint(at: offset)
        guard value <= UInt64(bytes.count - start) else { throw truncated(what, at: offset, needs: value) }
        return (Int(value), start)
    }

    @inline(__always)
    func need(_ count: Int, at offset: Int, what: String) throws -> Int {
        guard count <= bytes.count - offset else { throw truncated(what, at: offset, needs: UInt64(count)) }
        return offset + count
    }

    /// The count and first element of the array or object whose tag is at `offset`
    /// (every element takes at least one byte, every entry two).
    @inline(__always)
    func containerHeader(_ tag: UInt8, at offset: Int, keyed: Bool) throws -> (Int, Int) {
        if tag >= 0xA0 && tag <= 0xBF { return (Int(tag & 0x0F), offset + 1) }
        let (count, start) = try varint(at: offset + 1)
        let minimum: UInt64 = keyed ? 2 : 1
        guard count <= UInt64(bytes.count - start) / minimum else {
            throw truncated("a container of \(count) \(keyed ? "entries" : "values")", at: offset, needs: count &* minimum)
        }
        return (Int(count), start)
    }

    /// The offset after the value at `offset`. With `register`, key definitions are added
    /// to the key table (the validating pass of `init`).
    func skip(at offset: Int, depth: Int, register: Bool) throws -> Int {
        guard offset < bytes.count else { throw truncated("a value", at: offset, needs: 1) }
        let tag = bytes[offset]
        let next = offset + 1
        switch tag {
        case _Binary.null, _Binary.falseTag, _Binary.trueTag, 0x40...0x7F, 0xC0...0xFF:
            return next
        case _Binary.signed, _Binary.unsigned:
            return try varint(at: next).1
        case _Binary.float32:
            return try need(4, at: next, what: "a Float32")
        case _Binary.float64:
            return try need(8, at: next, what: "a Float64")
        case _Binary.uuid:
            return try need(16, at: next, what: "a UUID")
        case _Binary.string, _Binary.bytes:
            let (count, start) = try length(at: next, what: tag == _Binary.string ? "a string" : "bytes")
            return start + count
        case 0x80...0x9F:
            return try need(Int(tag & 0x1F), at: next, what: "a string")
        case _Binary.array, 0xA0...0xAF:
            guard depth < _Binary.maximumDepth else { throw corrupted("nesting deeper than \(_Binary.maximumDepth) levels at byte \(offset)") }
            var (count, position) = try containerHeader(tag, at: offset, keyed: false)
            while count > 0 {
                position = try skip(at: position, depth: depth + 1, register: register)
                count -= 1
            }
            return position
        case _Binary.object, 0xB0...0xBF:
            guard depth < _Binary.maximumDepth else { throw corrupted("nesting deeper than \(_Binary.maximumDepth) levels at byte \(offset)") }
            var (count, position) = try containerHeader(tag, at: offset, keyed: true)
            while count > 0 {
                position = try skipKey(at: position, register: register)
                position = try skip(at: position, depth: depth + 1, register: register)
                count -= 1
            }
            return position
        default:
            throw corrupted("unknown tag 0x\(String(tag, radix: 16)) at byte \(offset) (not written by this codec)")
        }
    }

    func skipKey(at offset: Int, register: Bool) throws -> Int {
        let (value, start) = try varint(at: offset)
        if value & 1 == 1 {
            guard value >> 1 < UInt64(keys.count) else {
                throw corrupted("key reference #\(value >> 1) at byte \(offset), but only \(keys.count) keys are defined before it")
            }
            return start
        }
        let count = value >> 1
        guard count <= UInt64(bytes.count - start) else { throw truncated("a key", at: offset, needs: count) }
        let end = start + Int(count)
        if register {
            guard let name = bytes.withUnsafeBufferPointer({ String(validating: UnsafeBufferPointer(rebasing: $0[start..<end]), as: UTF8.self) }) else {
                throw corrupted("the key at byte \(offset) is not valid UTF-8")
            }
            keys.append(name)
            keyStarts.append(offset)
        }
        return end
    }

    /// The key-table index of the key at `offset` and the offset after it.
    @inline(__always)
    func readKey(at offset: Int) throws -> (Int, Int) {
        let (value, start) = try varint(at: offset)
        if value & 1 == 1 { return (Int(value >> 1), start) }
        var low = 0
        var high = keyStarts.count
        while low < high {
            let middle = (low + high) / 2
            if keyStarts[middle] < offset { low = middle + 1 } else { high = middle }
        }
        guard low < keyStarts.count, keyStarts[low] == offset else { throw corrupted("no key is defined at byte \(offset)") }
        return (low, start + Int(value >> 1))
    }

    /// Indexes the object at `offset`: appends a hint slot and one entry per key.
    func index(objectAt offset: Int, _ place: _Where) throws -> (start: Int, count: Int) {
        let tag = tag(at: offset)
        guard tag == _Binary.object || (tag >= 0xB0 && tag <= 0xBF) else {
            throw mismatch([String: Any].self, at: offset, place)
        }
        var (count, position) = try containerHeader(tag, at: offset, keyed: true)
        let start = entries.count + 1
        entries.append(Entry(key: -1, offset: 0))
        for _ in 0..<count {
            let (key, valueOffset) = try readKey(at: position)
            entries.append(Entry(key: key, offset: valueOffset))
            position = try skip(at: valueOffset, depth: 0, register: false)
        }
        count = entries.count - start
        return (start, count)
    }

    /// The offset of the value for `name` in the indexed object, or nil.
    @inline(__always)
    func find(_ name: String, start: Int, count: Int) -> Int? {
        let hint = entries[start - 1].offset
        if hint < count {
            let entry = entries[start + hint]
            if keys[entry.key] == name {
                entries[start - 1].offset = hint + 1
                return entry.offset
            }
        }
        for position in 0..<count {
            let entry = entries[start + position]
            if keys[entry.key] == name {
                entries[start - 1].offset = position + 1
                return entry.offset
            }
        }
        return nil
    }

    // MARK: Scalars (value, offset after it)

    func decodeBool(at offset: Int, _ place: _Where) throws -> (Bool, Int) {
        switch tag(at: offset) {
        case _Binary.falseTag: return (false, offset + 1)
        case _Binary.trueTag: return (true, offset + 1)
        default: throw mismatch(Bool.self, at: offset, place)
        }
    }

    @inline(__always)
    func decodeInteger<I: FixedWidthInteger>(_ type: I.Type, at offset: Int, _ place: _Where) throws -> (I, Int) {
        let tag = tag(at: offset)
        switch tag {
        case 0x40...0x7F:
            return (I(truncatingIfNeeded: tag & 0x3F), offset + 1)
        case 0xC0...0xFF:
            let value = -1 - Int64(tag & 0x3F)
            guard I.isSigned else { throw outOfRange(type, String(value), place) }
            return (I(truncatingIfNeeded: value), offset + 1)
        case _Binary.signed:
            let (zigzag, end) = try varint(at: offset + 1)
            let value = Int64(bitPattern: zigzag >> 1) ^ -Int64(bitPattern: zigzag & 1)
            guard let result = I(exactly: value) else { throw outOfRange(type, String(value), place) }
            return (result, end)
        case _Binary.unsigned:
            let (value, end) = try varint(at: offset + 1)
            guard let result = I(exactly: value) else { throw outOfRange(type, String(value), place) }
            return (result, end)
        default:
            throw mismatch(type, at: offset, place)
        }
    }

    @inline(__always)
    func loadLittleEndian<U: FixedWidthInteger>(_ type: U.Type, at offset: Int, what: String) throws -> U {
        _ = try need(MemoryLayout<U>.size, at: offset, what: what)
        return bytes.withUnsafeBytes { U(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: U.self)) }
    }

    func decodeDouble(at offset: Int, _ place: _Where) throws -> (Double, Int) {
        switch tag(at: offset) {
        case _Binary.float64:
            return (Double(bitPattern: try loadLittleEndian(UInt64.self, at: offset + 1, what: "a Float64")), offset + 9)
        case _Binary.float32:
            return (Double(Float(bitPattern: try loadLittleEndian(UInt32.self, at: offset + 1, what: "a Float32"))), offset + 5)
        case _Binary.unsigned:
            let (value, end) = try decodeInteger(UInt64.self, at: offset, place)
            return (Double(value), end)
        case _Binary.signed, 0x40...0x7F, 0xC0...0xFF:
            let (value, end) = try decodeInteger(Int64.self, at: offset, place)
            return (Double(value), end)
        default:
            throw mismatch(Double.self, at: offset, place)
        }
    }

    func decodeFloat(at offset: Int, _ place: _Where) throws -> (Float, Int) {
        if tag(at: offset) == _Binary.float32 {
            return (Float(bitPattern: try loadLittleEndian(UInt32.self, at: offset + 1, what: "a Float32")), offset + 5)
        }
        do {
            let (value, end) = try decodeDouble(at: offset, place)
            let narrowed = Float(value)
            guard narrowed.isFinite || !value.isFinite else { throw outOfRange(Float.self, String(value), place) }
            return (narrowed, end)
        } catch let error as DecodingError {
            if case .typeMismatch = error { throw mismatch(Float.self, at: offset, place) }
            throw error
        }
    }

    @inline(__always)
    func decodeString(at offset: Int, _ place: _Where) throws -> (String, Int) {
        let tag = tag(at: offset)
        let start: Int
        let count: Int
        if tag >= 0x80 && tag <= 0x9F {
            count = Int(tag & 0x1F)
            start = offset + 1
            _ = try need(count, at: start, what: "a string")
        } else if tag == _Binary.string {
            (count, start) = try length(at: offset + 1, what: "a string")
        } else {
            throw mismatch(String.self, at: offset, place)
        }
        let end = start + count
        guard let value = bytes.withUnsafeBufferPointer({ String(validating: UnsafeBufferPointer(rebasing: $0[start..<end]), as: UTF8.self) }) else {
            throw corrupted("the string at byte \(offset) is not valid UTF-8", place.path)
        }
        return (value, end)
    }

    /// `[UInt8]` from bytes (or from an array of integers).
    func decodeByteArray(at offset: Int, _ place: _Where) throws -> ([UInt8], Int) {
        let tag = tag(at: offset)
        if tag == _Binary.bytes {
            let (count, start) = try length(at: offset + 1, what: "bytes")
            return (Array(bytes[start..<(start + count)]), start + count)
        }
        guard tag == _Binary.array || (tag >= 0xA0 && tag <= 0xAF) else { throw mismatch([UInt8].self, at: offset, place) }
        return try decodeArray(at: offset, place) { position, index in
            try decodeInteger(UInt8.self, at: position, place.element(index))
        }
    }

    func decodeUUID(at offset: Int, _ place: _Where) throws -> (UUID, Int) {
        switch tag(at: offset) {
        case _Binary.uuid:
            let end = try need(16, at: offset + 1, what: "a UUID")
            let uuid = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 1, as: uuid_t.self) }
            return (UUID(uuid: uuid), end)
        case _Binary.string, 0x80...0x9F:
            let (text, end) = try decodeString(at: offset, place)
            guard let uuid = UUID(uuidString: text) else { throw corrupted("'\(text.prefix(64))' is not a UUID", place.path) }
            return (uuid, end)
        default:
            throw mismatch(UUID.self, at: offset, place)
        }
    }

    /// An array whose elements `element(offset, index)` decodes.
    @inline(__always)
    func decodeArray<E>(at offset: Int, _ place: _Where, _ element: (Int, Int) throws -> (E, Int)) throws -> ([E], Int) {
        let tag = tag(at: offset)
        guard tag == _Binary.array || (tag >= 0xA0 && tag <= 0xAF) else { throw mismatch([E].self, at: offset, place) }
        let (count, start) = try containerHeader(tag, at: offset, keyed: false)
        var result: [E] = []
        result.reserveCapacity(count)
        var position = start
        for index in 0..<count {
            let (value, end) = try element(position, index)
            result.append(value)
            position = end
        }
        return (result, position)
    }

    // MARK: Values

    /// Decodes a `T` at `offset`: directly for the types the format knows, else through
    /// `T(from:)`.
    @inline(__always)
    func decodeValue<T: Decodable>(_ type: T.Type, at offset: Int, base: [any CodingKey], key: (any CodingKey)?) throws -> T {
        if let value = try decodeFast(type, at: offset, _Where(base: base, key: key)) { return value }
        return try T(from: _BinaryDecoder(reader: self, offset: offset, base: base, key: key))
    }

    @inline(__always)
    func decodeFast<T>(_ type: T.Type, at offset: Int, _ place: _Where) throws -> T? {
        if T.self == String.self { return unsafeBitCast(try decodeString(at: offset, place).0, to: T.self) }
        if T.self == Int.self { return unsafeBitCast(try decodeInteger(Int.self, at: offset, place).0, to: T.self) }
        if T.self == Bool.self { return unsafeBitCast(try decodeBool(at: offset, place).0, to: T.self) }
        if T.self == Double.self { return unsafeBitCast(try decodeDouble(at: offset, place).0, to: T.self) }
        if T.self == Int64.self { return unsafeBitCast(try decodeInteger(Int64.self, at: offset, place).0, to: T.self) }
        if T.self == Date.self {
            return unsafeBitCast(Date(timeIntervalSinceReferenceDate: try decodeDouble(at: offset, place).0), to: T.self)
        }
        if T.self == UUID.self { return unsafeBitCast(try decodeUUID(at: offset, place).0, to: T.self) }
        if T.self == [UInt8].self { return unsafeBitCast(try decodeByteArray(at: offset, place).0, to: T.self) }
        if T.self == Data.self { return unsafeBitCast(Data(try decodeByteArray(at: offset, place).0), to: T.self) }
        let tag = tag(at: offset)
        // Arrays of scalars; anything else (bytes read as integers, errors) takes the generic path.
        guard tag == _Binary.array || (tag >= 0xA0 && tag <= 0xAF) else { return try decodeOtherScalar(type, at: offset, place) }
        if T.self == [String].self {
            return unsafeBitCast(try decodeArray(at: offset, place) { position, index in
                try decodeString(at: position, place.element(index))
            }.0, to: T.self)
        }
        if T.self == [Int].self {
            return unsafeBitCast(try decodeArray(at: offset, place) { position, index in
                try decodeInteger(Int.self, at: position, place.element(index))
            }.0, to: T.self)
        }
        if T.self == [Int64].self {
            return unsafeBitCast(try decodeArray(at: offset, place) { position, index in
                try decodeInteger(Int64.self, at: position, place.element(index))
            }.0, to: T.self)
        }
        if T.self == [Double].self {
            return unsafeBitCast(try decodeArray(at: offset, place) { position, index in
                try decodeDouble(at: position, place.element(index))
            }.0, to: T.self)
        }
        if T.self == [Bool].self {
            return unsafeBitCast(try decodeArray(at: offset, place) { position, index in
                try decodeBool(at: position, place.element(index))
            }.0, to: T.self)
        }
        if T.self == [UUID].self {
            return unsafeBitCast(try decodeArray(at: offset, place) { position, index in
                try decodeUUID(at: position, place.element(index))
            }.0, to: T.self)
        }
        return try decodeOtherScalar(type, at: offset, place)
    }

    /// The less common scalar types (kept out of line).
    func decodeOtherScalar<T>(_ type: T.Type, at offset: Int, _ place: _Where) throws -> T? {
        if T.self == Int32.self { return unsafeBitCast(try decodeInteger(Int32.self, at: offset, place).0, to: T.self) }
        if T.self == UInt64.self { return unsafeBitCast(try decodeInteger(UInt64.self, at: offset, place).0, to: T.self) }
        if T.self == UInt.self { return unsafeBitCast(try decodeInteger(UInt.self, at: offset, place).0, to: T.self) }
        if T.self == UInt32.self { return unsafeBitCast(try decodeInteger(UInt32.self, at: offset, place).0, to: T.self) }
        if T.self == Int16.self { return unsafeBitCast(try decodeInteger(Int16.self, at: offset, place).0, to: T.self) }
        if T.self == UInt16.self { return unsafeBitCast(try decodeInteger(UInt16.self, at: offset, place).0, to: T.self) }
        if T.self == Int8.self { return unsafeBitCast(try decodeInteger(Int8.self, at: offset, place).0, to: T.self) }
        if T.self == UInt8.self { return unsafeBitCast(try decodeInteger(UInt8.self, at: offset, place).0, to: T.self) }
        if T.self == Float.self { return unsafeBitCast(try decodeFloat(at: offset, place).0, to: T.self) }
        if T.self == URL.self {
            let text = try decodeString(at: offset, place).0
            guard let url = URL(string: text) else { throw corrupted("'\(text.prefix(64))' is not a URL", place.path) }
            return unsafeBitCast(url, to: T.self)
        }
        return nil
    }
}

/// The `Decoder` handed to `init(from:)`: the value at one offset.
struct _BinaryDecoder: Decoder {
    let reader: _BinaryReader
    /// -1: an absent value (the super decoder of a missing key), which reads as nil.
    let offset: Int
    let base: [any CodingKey]
    let key: (any CodingKey)?

    var codingPath: [any CodingKey] { key.map { base + [$0] } ?? base }
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var place: _Where { _Where(base: base, key: key) }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        let (start, count) = try reader.index(objectAt: offset, place)
        return KeyedDecodingContainer(_KeyedDecoder<Key>(reader: reader, start: start, count: count, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try _UnkeyedDecoder(reader: reader, offset: offset, place: place)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        _SingleValueDecoder(decoder: self)
    }
}

struct _KeyedDecoder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let reader: _BinaryReader
    let start: Int
    let count: Int
    let codingPath: [any CodingKey]

    var allKeys: [Key] {
        (0..<count).compactMap { Key(stringValue: reader.keys[reader.entries[start + $0].key]) }
    }

    func contains(_ key: Key) -> Bool { reader.find(key.stringValue, start: start, count: count) != nil }

    @inline(__always)
    private func offset(_ key: Key) throws -> Int {
        guard let offset = reader.find(key.stringValue, start: start, count: count) else {
            throw DecodingError.keyNotFound(key, DecodingError.Context(
                codingPath: codingPath, debugDescription: "L2BinaryCodec: no value for key '\(key.stringValue)'"))
        }
        return offset
    }

    /// The offset of a present, non-nil value.
    @inline(__always)
    private func present(_ key: Key) -> Int? {
        guard let offset = reader.find(key.stringValue, start: start, count: count), reader.tag(at: offset) != _Binary.null else { return nil }
        return offset
    }

    @inline(__always)
    private func place(_ key: Key) -> _Where { _Where(base: codingPath, key: key) }

    func decodeNil(forKey key: Key) throws -> Bool { reader.tag(at: try offset(key)) == _Binary.null }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try reader.decodeBool(at: offset(key), place(key)).0 }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try reader.decodeString(at: offset(key), place(key)).0 }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try reader.decodeDouble(at: offset(key), place(key)).0 }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try reader.decodeFloat(at: offset(key), place(key)).0 }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try reader.decodeInteger(type, at: offset(key), place(key)).0 }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try reader.decodeInteger(type, at: offset(key), place(key)).0 }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try reader.decodeInteger(type, at: offset(key), place(key)).0 }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try reader.decodeInteger(type, at: offset(key), place(key)).0 }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try reader.decodeInteger(type, at: offset(key), place(key)).0 }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try reader.decodeInteger(type, at: offset(key), place(key)).0 }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try reader.decodeInteger(type, at: offset(key), place(key)).0 }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try reader.decodeInteger(type, at: offset(key), place(key)).0 }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try reader.decodeInteger(type, at: offset(key), place(key)).0 }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try reader.decodeInteger(type, at: offset(key), place(key)).0 }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try reader.decodeValue(type, at: offset(key), base: codingPath, key: key)
    }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? {
        guard let offset = present(key) else { return nil }
        return try reader.decodeBool(at: offset, place(key)).0
    }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? {
        guard let offset = present(key) else { return nil }
        return try reader.decodeString(at: offset, place(key)).0
    }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? {
        guard let offset = present(key) else { return nil }
        return try reader.decodeDouble(at: offset, place(key)).0
    }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? {
        guard let offset = present(key) else { return nil }
        return try reader.decodeFloat(at: offset, place(key)).0
    }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try integerIfPresent(type, key) }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let offset = present(key) else { return nil }
        return try reader.decodeValue(type, at: offset, base: codingPath, key: key)
    }

    @inline(__always)
    private func integerIfPresent<I: FixedWidthInteger>(_ type: I.Type, _ key: Key) throws -> I? {
        guard let offset = present(key) else { return nil }
        return try reader.decodeInteger(type, at: offset, place(key)).0
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        let (start, count) = try reader.index(objectAt: offset(key), place(key))
        return KeyedDecodingContainer(_KeyedDecoder<NestedKey>(reader: reader, start: start, count: count, codingPath: codingPath + [key]))
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try _UnkeyedDecoder(reader: reader, offset: offset(key), place: place(key))
    }

    func superDecoder() throws -> any Decoder {
        _BinaryDecoder(reader: reader, offset: reader.find("super", start: start, count: count) ?? -1, base: codingPath, key: _SuperKey())
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        _BinaryDecoder(reader: reader, offset: reader.find(key.stringValue, start: start, count: count) ?? -1, base: codingPath, key: key)
    }
}

struct _UnkeyedDecoder: UnkeyedDecodingContainer {
    let reader: _BinaryReader
    let codingPath: [any CodingKey]
    let total: Int
    /// Over a bytes value: each element is one byte, read as an unsigned integer.
    let overBytes: Bool
    private var position: Int
    private(set) var currentIndex = 0

    var count: Int? { total }
    var isAtEnd: Bool { currentIndex >= total }

    init(reader: _BinaryReader, offset: Int, place: _Where) throws {
        self.reader = reader
        self.codingPath = place.path
        let tag = reader.tag(at: offset)
        if tag == _Binary.array || (tag >= 0xA0 && tag <= 0xAF) {
            (total, position) = try reader.containerHeader(tag, at: offset, keyed: false)
            overBytes = false
        } else if tag == _Binary.bytes {
            (total, position) = try reader.length(at: offset + 1, what: "bytes")
            overBytes = true
        } else {
            throw reader.mismatch([Any].self, at: offset, place)
        }
    }

    private var place: _Where { _Where(base: codingPath, key: _IndexKey(currentIndex)) }

    private func atEnd(_ type: Any.Type) -> DecodingError {
        .valueNotFound(type, DecodingError.Context(
            codingPath: codingPath + [_IndexKey(currentIndex)],
            debugDescription: "L2BinaryCodec: the unkeyed container has no more values (it holds \(total))"))
    }

    private func byteMismatch(_ type: Any.Type) -> DecodingError {
        .typeMismatch(type, DecodingError.Context(
            codingPath: place.path, debugDescription: "L2BinaryCodec: expected \(type), found a byte of a bytes value (bytes decode as integers)"))
    }

    @inline(__always)
    private mutating func next<T>(_ type: T.Type, _ read: (Int, _Where) throws -> (T, Int)) throws -> T {
        guard !isAtEnd else { throw atEnd(type) }
        guard !overBytes else { throw byteMismatch(type) }
        let (value, end) = try read(position, place)
        position = end
        currentIndex += 1
        return value
    }

    @inline(__always)
    private mutating func nextInteger<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
        guard !isAtEnd else { throw atEnd(type) }
        if overBytes {
            let byte = reader.bytes[position]
            guard let value = I(exactly: byte) else { throw reader.outOfRange(type, String(byte), place) }
            position += 1
            currentIndex += 1
            return value
        }
        let (value, end) = try reader.decodeInteger(type, at: position, place)
        position = end
        currentIndex += 1
        return value
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { throw atEnd(Never?.self) }
        guard !overBytes, reader.tag(at: position) == _Binary.null else { return false }
        position += 1
        currentIndex += 1
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { let reader = reader; return try next(type) { try reader.decodeBool(at: $0, $1) } }
    mutating func decode(_ type: String.Type) throws -> String { let reader = reader; return try next(type) { try reader.decodeString(at: $0, $1) } }
    mutating func decode(_ type: Double.Type) throws -> Double { let reader = reader; return try next(type) { try reader.decodeDouble(at: $0, $1) } }
    mutating func decode(_ type: Float.Type) throws -> Float { let reader = reader; return try next(type) { try reader.decodeFloat(at: $0, $1) } }
    mutating func decode(_ type: Int.Type) throws -> Int { try nextInteger(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try nextInteger(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try nextInteger(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try nextInteger(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try nextInteger(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try nextInteger(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try nextInteger(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try nextInteger(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try nextInteger(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try nextInteger(type) }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        guard !isAtEnd else { throw atEnd(type) }
        if overBytes {
            if let value = try byteAsInteger(type) { return value }
            throw byteMismatch(type)
        }
        let offset = position
        let value = try reader.decodeValue(type, at: offset, base: codingPath, key: _IndexKey(currentIndex))
        position = try reader.skip(at: offset, depth: 0, register: false)
        currentIndex += 1
        return value
    }

    private mutating func byteAsInteger<T>(_ type: T.Type) throws -> T? {
        if T.self == UInt8.self { return unsafeBitCast(try nextInteger(UInt8.self), to: T.self) }
        if T.self == Int.self { return unsafeBitCast(try nextInteger(Int.self), to: T.self) }
        if T.self == Int8.self { return unsafeBitCast(try nextInteger(Int8.self), to: T.self) }
        if T.self == Int16.self { return unsafeBitCast(try nextInteger(Int16.self), to: T.self) }
        if T.self == Int32.self { return unsafeBitCast(try nextInteger(Int32.self), to: T.self) }
        if T.self == Int64.self { return unsafeBitCast(try nextInteger(Int64.self), to: T.self) }
        if T.self == UInt.self { return unsafeBitCast(try nextInteger(UInt.self), to: T.self) }
        if T.self == UInt16.self { return unsafeBitCast(try nextInteger(UInt16.self), to: T.self) }
        if T.self == UInt32.self { return unsafeBitCast(try nextInteger(UInt32.self), to: T.self) }
        if T.self == UInt64.self { return unsafeBitCast(try nextInteger(UInt64.self), to: T.self) }
        return nil
    }

    /// The offset of the next element as a container or decoder; advances past it.
    private mutating func nextOffset(_ type: Any.Type) throws -> Int {
        guard !isAtEnd else { throw atEnd(type) }
        guard !overBytes else { throw byteMismatch(type) }
        let offset = position
        position = try reader.skip(at: offset, depth: 0, register: false)
        currentIndex += 1
        return offset
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let place = self.place
        let (start, count) = try reader.index(objectAt: try nextOffset(KeyedDecodingContainer<NestedKey>.self), place)
        return KeyedDecodingContainer(_KeyedDecoder<NestedKey>(reader: reader, start: start, count: count, codingPath: place.path))
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let place = self.place
        return try _UnkeyedDecoder(reader: reader, offset: try nextOffset([Any].self), place: place)
    }

    mutating func superDecoder() throws -> any Decoder {
        let key = _IndexKey(currentIndex)
        return _BinaryDecoder(reader: reader, offset: try nextOffset(Any.self), base: codingPath, key: key)
    }
}

struct _SingleValueDecoder: SingleValueDecodingContainer {
    let decoder: _BinaryDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }
    private var reader: _BinaryReader { decoder.reader }
    private var offset: Int { decoder.offset }
    private var place: _Where { decoder.place }

    func decodeNil() -> Bool { reader.tag(at: offset) == _Binary.null }
    func decode(_ type: Bool.Type) throws -> Bool { try reader.decodeBool(at: offset, place).0 }
    func decode(_ type: String.Type) throws -> String { try reader.decodeString(at: offset, place).0 }
    func decode(_ type: Double.Type) throws -> Double { try reader.decodeDouble(at: offset, place).0 }
    func decode(_ type: Float.Type) throws -> Float { try reader.decodeFloat(at: offset, place).0 }
    func decode(_ type: Int.Type) throws -> Int { try reader.decodeInteger(type, at: offset, place).0 }
    func decode(_ type: Int8.Type) throws -> Int8 { try reader.decodeInteger(type, at: offset, place).0 }
    func decode(_ type: Int16.Type) throws -> Int16 { try reader.decodeInteger(type, at: offset, place).0 }
    func decode(_ type: Int32.Type) throws -> Int32 { try reader.decodeInteger(type, at: offset, place).0 }
    func decode(_ type: Int64.Type) throws -> Int64 { try reader.decodeInteger(type, at: offset, place).0 }
    func decode(_ type: UInt.Type) throws -> UInt { try reader.decodeInteger(type, at: offset, place).0 }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try reader.decodeInteger(type, at: offset, place).0 }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try reader.decodeInteger(type, at: offset, place).0 }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try reader.decodeInteger(type, at: offset, place).0 }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try reader.decodeInteger(type, at: offset, place).0 }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try reader.decodeValue(type, at: offset, base: decoder.base, key: decoder.key)
    }
}
