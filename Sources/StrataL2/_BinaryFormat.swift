import Foundation

/// The byte format of ``L2BinaryCodec`` (docs/l2.md, "The binary codec").
///
/// A payload is exactly one value. Every value starts with a tag byte:
///
/// ```
/// 0x00        nil                      0x06        Float64, 8 bytes little-endian
/// 0x01 0x02   false, true              0x07        string: varint length, UTF-8
/// 0x03        signed: zigzag varint    0x08        bytes: varint length, raw ([UInt8], Data)
/// 0x04        unsigned: varint         0x09        array: varint count, values
/// 0x05        Float32, 4 bytes LE      0x0A        object: varint count, (key, value) pairs
/// 0x0B        UUID, 16 bytes           0x0C…0x3F   reserved
/// 0x40…0x7F   integer 0…63             0xA0…0xAF   array of 0…15 values
/// 0x80…0x9F   string of 0…31 bytes     0xB0…0xBF   object of 0…15 entries
/// 0xC0…0xFF   integer −1…−64
/// ```
///
/// A key is a varint `k`: even → a new key of `k / 2` UTF-8 bytes follows and gets the
/// next index of the payload's key table; odd → the key with index `(k − 1) / 2`. So a
/// field name is written once per payload however many values repeat it.
enum _Binary {
    static let null: UInt8 = 0x00
    static let falseTag: UInt8 = 0x01
    static let trueTag: UInt8 = 0x02
    static let signed: UInt8 = 0x03
    static let unsigned: UInt8 = 0x04
    static let float32: UInt8 = 0x05
    static let float64: UInt8 = 0x06
    static let string: UInt8 = 0x07
    static let bytes: UInt8 = 0x08
    static let array: UInt8 = 0x09
    static let object: UInt8 = 0x0A
    static let uuid: UInt8 = 0x0B
    static let smallInteger: UInt8 = 0x40
    static let smallString: UInt8 = 0x80
    static let smallArray: UInt8 = 0xA0
    static let smallObject: UInt8 = 0xB0
    static let smallNegative: UInt8 = 0xC0

    /// Deepest nesting of arrays and objects written or read.
    static let maximumDepth = 512

    /// What a tag announces, for error messages.
    static func describe(_ tag: UInt8) -> String {
        switch tag {
        case null: "nil"
        case falseTag, trueTag: "a Bool"
        case signed, unsigned, 0x40...0x7F, 0xC0...0xFF: "an integer"
        case float32, float64: "a floating-point number"
        case string, 0x80...0x9F: "a string"
        case bytes: "bytes"
        case array, 0xA0...0xAF: "an array"
        case object, 0xB0...0xBF: "an object"
        case uuid: "a UUID"
        default: "reserved tag 0x\(String(tag, radix: 16))"
        }
    }

    // MARK: Writing scalars

    @inline(__always)
    static func varint(_ value: UInt64, _ out: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value &>>= 7
        }
        out.append(UInt8(truncatingIfNeeded: value))
    }

    @inline(__always)
    static func writeBool(_ value: Bool, _ out: inout [UInt8]) {
        out.append(value ? trueTag : falseTag)
    }

    @inline(__always)
    static func writeSigned(_ value: Int64, _ out: inout [UInt8]) {
        if value >= 0 && value < 64 {
            out.append(smallInteger | UInt8(truncatingIfNeeded: value))
        } else if value < 0 && value >= -64 {
            out.append(smallNegative | UInt8(truncatingIfNeeded: -1 - value))
        } else {
            out.append(signed)
            varint(UInt64(bitPattern: (value &<< 1) ^ (value >> 63)), &out)
        }
    }

    @inline(__always)
    static func writeUnsigned(_ value: UInt64, _ out: inout [UInt8]) {
        if value < 64 {
            out.append(smallInteger | UInt8(truncatingIfNeeded: value))
        } else {
            out.append(unsigned)
            varint(value, &out)
        }
    }

    @inline(__always)
    static func writeDouble(_ value: Double, _ out: inout [UInt8]) {
        out.append(float64)
        let bits = value.bitPattern
        for shift in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: bits &>> UInt64(shift))) }
    }

    @inline(__always)
    static func writeFloat(_ value: Float, _ out: inout [UInt8]) {
        out.append(float32)
        let bits = value.bitPattern
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: bits &>> UInt32(shift))) }
    }

    @inline(__always)
    static func writeString(_ value: String, _ out: inout [UInt8]) {
        var value = value
        value.withUTF8 { utf8 in
            if utf8.count < 32 {
                out.append(smallString | UInt8(truncatingIfNeeded: utf8.count))
            } else {
                out.append(string)
                varint(UInt64(utf8.count), &out)
            }
            out.append(contentsOf: utf8)
        }
    }

    @inline(__always)
    static func writeBytes(_ value: UnsafeRawBufferPointer, _ out: inout [UInt8]) {
        out.append(bytes)
        varint(UInt64(value.count), &out)
        out.append(contentsOf: value)
    }

    @inline(__always)
    static func writeUUID(_ value: UUID, _ out: inout [UInt8]) {
        out.append(uuid)
        withUnsafeBytes(of: value.uuid) { out.append(contentsOf: $0) }
    }

    /// The header of an array or object whose count is known up front.
    @inline(__always)
    static func writeHeader(count: Int, keyed: Bool, _ out: inout [UInt8]) {
        if count < 16 {
            out.append((keyed ? smallObject : smallArray) | UInt8(truncatingIfNeeded: count))
        } else {
            out.append(keyed ? object : array)
            varint(UInt64(count), &out)
        }
    }

    /// Patches a one-byte container placeholder at `header` once its count is known
    /// (inserting the varint count after the tag when it is 16 or more).
    static func patchHeader(at header: Int, count: Int, keyed: Bool, _ out: inout [UInt8]) {
        if count < 16 {
            out[header] = (keyed ? smallObject : smallArray) | UInt8(truncatingIfNeeded: count)
            return
        }
        out[header] = keyed ? object : array
        var encoded: [UInt8] = []
        varint(UInt64(count), &encoded)
        out.insert(contentsOf: encoded, at: header + 1)
    }

    // MARK: Fast paths

    /// Writes values of the types the format handles directly (scalars, `String`, `Data`,
    /// `[UInt8]`, `Date`, `UUID`, `URL`, arrays of common scalars); `false` for the rest.
    @inline(__always)
    static func writeFast<T>(_ value: T, _ out: inout [UInt8]) -> Bool {
        let kind = _FastKind(T.self)
        if kind == .none { return false }
        writeFast(kind, value, &out)
        return true
    }

    static func writeFast<T>(_ kind: _FastKind, _ value: T, _ out: inout [UInt8]) {
        switch kind {
        case .string: writeString(unsafeBitCast(value, to: String.self), &out)
        case .int: writeSigned(Int64(unsafeBitCast(value, to: Int.self)), &out)
        case .bool: writeBool(unsafeBitCast(value, to: Bool.self), &out)
        case .double: writeDouble(unsafeBitCast(value, to: Double.self), &out)
        case .int64: writeSigned(unsafeBitCast(value, to: Int64.self), &out)
        case .date: writeDouble(unsafeBitCast(value, to: Date.self).timeIntervalSinceReferenceDate, &out)
        case .uuid: writeUUID(unsafeBitCast(value, to: UUID.self), &out)
        case .bytes: unsafeBitCast(value, to: [UInt8].self).withUnsafeBytes { writeBytes($0, &out) }
        case .data: unsafeBitCast(value, to: Data.self).withUnsafeBytes { writeBytes($0, &out) }
        case .int32: writeSigned(Int64(unsafeBitCast(value, to: Int32.self)), &out)
        case .uint64: writeUnsigned(unsafeBitCast(value, to: UInt64.self), &out)
        case .uint: writeUnsigned(UInt64(unsafeBitCast(value, to: UInt.self)), &out)
        case .uint32: writeUnsigned(UInt64(unsafeBitCast(value, to: UInt32.self)), &out)
        case .int16: writeSigned(Int64(unsafeBitCast(value, to: Int16.self)), &out)
        case .uint16: writeUnsigned(UInt64(unsafeBitCast(value, to: UInt16.self)), &out)
        case .int8: writeSigned(Int64(unsafeBitCast(value, to: Int8.self)), &out)
        case .uint8: writeUnsigned(UInt64(unsafeBitCast(value, to: UInt8.self)), &out)
        case .float: writeFloat(unsafeBitCast(value, to: Float.self), &out)
        case .url: writeString(unsafeBitCast(value, to: URL.self).absoluteString, &out)
        case .stringArray:
            let array = unsafeBitCast(value, to: [String].self)
            writeHeader(count: array.count, keyed: false, &out)
            for element in array { writeString(element, &out) }
        case .intArray:
            let array = unsafeBitCast(value, to: [Int].self)
            writeHeader(count: array.count, keyed: false, &out)
            for element in array { writeSigned(Int64(element), &out) }
        case .int64Array:
            let array = unsafeBitCast(value, to: [Int64].self)
            writeHeader(count: array.count, keyed: false, &out)
            for element in array { writeSigned(element, &out) }
        case .doubleArray:
            let array = unsafeBitCast(value, to: [Double].self)
            writeHeader(count: array.count, keyed: false, &out)
            for element in array { writeDouble(element, &out) }
        case .boolArray:
            let array = unsafeBitCast(value, to: [Bool].self)
            writeHeader(count: array.count, keyed: false, &out)
            for element in array { writeBool(element, &out) }
        case .uuidArray:
            let array = unsafeBitCast(value, to: [UUID].self)
            writeHeader(count: array.count, keyed: false, &out)
            for element in array { writeUUID(element, &out) }
        case .none:
            preconditionFailure("writeFast called for a type without a fast path")
        }
    }
}

/// The key table of one payload being written: the first use of a name writes it, later
/// uses write its index. Checks the key that followed the previous one first (arrays of
/// structs repeat their keys in order), then a short list, then a dictionary.
struct _KeyTable {
    private var names: [String] = []
    private var indices: [String: Int] = [:]
    private var next = 0
    private static let linearLimit = 12

    /// Forgets every key (for the next payload), keeping the storage.
    mutating func removeAll() {
        names.removeAll(keepingCapacity: true)
        if !indices.isEmpty { indices.removeAll(keepingCapacity: true) }
        next = 0
    }

    mutating func write(_ key: String, _ out: inout [UInt8]) {
        if next < names.count, names[next] == key {
            _Binary.varint(UInt64(next) &* 2 &+ 1, &out)
            next += 1
            return
        }
        if let index = index(of: key) {
            _Binary.varint(UInt64(index) &* 2 &+ 1, &out)
            next = index + 1
            return
        }
        let index = names.count
        names.append(key)
        if index >= Self.linearLimit {
            if index == Self.linearLimit {
                for (position, name) in names.enumerated() { indices[name] = position }
            } else {
                indices[key] = index
            }
        }
        next = index + 1
        var key = key
        key.withUTF8 { utf8 in
            _Binary.varint(UInt64(utf8.count) &* 2, &out)
            out.append(contentsOf: utf8)
        }
    }

    private func index(of key: String) -> Int? {
        if names.count <= Self.linearLimit {
            for position in names.indices where names[position] == key { return position }
            return nil
        }
        return indices[key]
    }
}

/// An unkeyed container's element key (for coding paths).
struct _IndexKey: CodingKey {
    var stringValue: String { "Index \(index)" }
    var intValue: Int? { index }
    let index: Int

    init(_ index: Int) { self.index = index }
    init?(stringValue: String) { return nil }
    init?(intValue: Int) { self.index = intValue }
}

/// The key of `superEncoder()` / `superDecoder()`.
struct _SuperKey: CodingKey {
    var stringValue: String { "super" }
    var intValue: Int? { nil }
    init() {}
    init?(stringValue: String) { guard stringValue == "super" else { return nil } }
    init?(intValue: Int) { return nil }
}

/// The types the format reads and writes directly. Computed from a metatype with pointer
/// comparisons only (no `Optional<T>` or other generic metadata in the hot path).
enum _FastKind {
    case none
    case string, int, bool, double, int64, date, uuid, bytes, data
    case int32, uint64, uint, uint32, int16, uint16, int8, uint8, float, url
    case stringArray, intArray, int64Array, doubleArray, boolArray, uuidArray

    @inline(__always)
    init<T>(_ type: T.Type) {
        if T.self == String.self { self = .string }
        else if T.self == Int.self { self = .int }
        else if T.self == Bool.self { self = .bool }
        else if T.self == Double.self { self = .double }
        else if T.self == Int64.self { self = .int64 }
        else if T.self == Date.self { self = .date }
        else if T.self == UUID.self { self = .uuid }
        else { self = Self.other(type) }
    }

    /// Types that are not plain nominal metadata (arrays) or rarer: kept out of line.
    static func other<T>(_ type: T.Type) -> _FastKind {
        let id = ObjectIdentifier(type)
        // A scan of 18 identifiers costs less than hashing one (most types asked about are
        // the caller's own, found in none of them).
        for (known, kind) in _FastKindTable.shared.kinds where known == id { return kind }
        return .none
    }

    var isArray: Bool {
        switch self {
        case .stringArray, .intArray, .int64Array, .doubleArray, .boolArray, .uuidArray: true
        default: false
        }
    }
}

/// Metatype → kind for the less common fast-path types, built once.
final class _FastKindTable: Sendable {
    static let shared = _FastKindTable()
    let kinds: [(ObjectIdentifier, _FastKind)]

    private init() {
        kinds = [
            (ObjectIdentifier([UInt8].self), .bytes), (ObjectIdentifier(Data.self), .data),
            (ObjectIdentifier(Int32.self), .int32), (ObjectIdentifier(UInt64.self), .uint64), (ObjectIdentifier(UInt.self), .uint),
            (ObjectIdentifier(UInt32.self), .uint32), (ObjectIdentifier(Int16.self), .int16), (ObjectIdentifier(UInt16.self), .uint16),
            (ObjectIdentifier(Int8.self), .int8), (ObjectIdentifier(UInt8.self), .uint8), (ObjectIdentifier(Float.self), .float),
            (ObjectIdentifier(URL.self), .url),
            (ObjectIdentifier([String].self), .stringArray), (ObjectIdentifier([Int].self), .intArray),
            (ObjectIdentifier([Int64].self), .int64Array), (ObjectIdentifier([Double].self), .doubleArray),
            (ObjectIdentifier([Bool].self), .boolArray), (ObjectIdentifier([UUID].self), .uuidArray),
        ]
    }
}

/// UTF-8 validation (the stdlib's `String(validating:)` is generic and slower here).
enum _UTF8 {
    static func isValid(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let count = bytes.count
        var index = 0
        while index + 8 <= count {
            let word = UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)
            if word & 0x8080_8080_8080_8080 != 0 { break }
            index += 8
        }
        while index < count {
            let lead = base[index]
            if lead < 0x80 {
                index += 1
                continue
            }
            func continuation(_ offset: Int) -> Bool { index + offset < count && base[index + offset] & 0xC0 == 0x80 }
            switch lead {
            case 0xC2...0xDF:
                guard continuation(1) else { return false }
                index += 2
            case 0xE0...0xEF:
                guard continuation(1), continuation(2) else { return false }
                let second = base[index + 1]
                if lead == 0xE0 && second < 0xA0 { return false }   // overlong
                if lead == 0xED && second >= 0xA0 { return false }  // surrogates
                index += 3
            case 0xF0...0xF4:
                guard continuation(1), continuation(2), continuation(3) else { return false }
                let second = base[index + 1]
                if lead == 0xF0 && second < 0x90 { return false }   // overlong
                if lead == 0xF4 && second >= 0x90 { return false }  // above U+10FFFF
                index += 4
            default:
                return false
            }
        }
        return true
    }
}
