import Foundation

/// What the reader found wrong; the container that asked turns it into a `DecodingError`
/// with its coding path (built only then).
enum _Failure: Error, @unchecked Sendable {
    case mismatch(Any.Type, offset: Int)
    case outOfRange(Any.Type, String)
    case corrupted(String)
    /// The failure of element `index` of an array.
    indirect case element(Int, _Failure)
}

/// The decoding side of ``L2BinaryCodec``. `init` walks the whole payload once: it checks
/// every tag, length, count and key reference against the bytes that remain (nothing is
/// allocated from a length before that check), bounds nesting, and builds the key table in
/// stream order. Decoding then reads values where the containers point.
///
/// Coding paths are kept as a tree of nodes (a parent index and a key) and only turned into
/// `[CodingKey]` when asked for or when an error is thrown; containers hold one reference.
final class _BinaryReader {
    /// One entry of an indexed object: where its key's UTF-8 name is and where its value
    /// starts. A container's first element is its lookup hint instead (`offset` is the
    /// position after the last entry found).
    struct Entry {
        var nameStart: Int
        var nameCount: Int
        var offset: Int
    }

    struct PathNode {
        var parent: Int
        var key: (any CodingKey)?
    }

    @exclusivity(unchecked) private(set) var bytes: [UInt8] = []
    /// The payload is `bytes[base..<limit]` (a payload inside an L2 envelope is read in
    /// place). Offsets are into `bytes`; messages give them relative to `base`.
    @exclusivity(unchecked) private(set) var base = 0
    @exclusivity(unchecked) private(set) var limit = 0
    /// The key table, in order of definition: where each key's UTF-8 name starts and its
    /// byte count. Names are compared as bytes where they are; no `String` is made for a
    /// key unless asked for (`allKeys`).
    @exclusivity(unchecked) private(set) var keyTable: [Int] = []
    /// The entries of every keyed container indexed so far; a container owns a range, whose
    /// first element holds its lookup hint (the entry after the last one found).
    @exclusivity(unchecked) var entries: [Entry] = []
    /// Coding-path nodes: path id `k > 0` is `pathNodes[k - 1]`; id 0 is the root (an empty path).
    @exclusivity(unchecked) var pathNodes: [PathNode] = []
    /// The index of the payload's root object, recorded by the checking walk of ``load``
    /// (so the object is not walked a second time when it is decoded); nil when the root is
    /// not an object.
    @exclusivity(unchecked) private(set) var rootIndex: (start: Int, count: Int)?

    convenience init(_ bytes: [UInt8]) throws {
        try self.init(bytes, range: 0..<bytes.count)
    }

    init(_ bytes: [UInt8], range: Range<Int>) throws {
        try load(bytes, range: range)
    }

    /// A reader for ``load(_:range:)``.
    init() {}

    /// Checks the payload `bytes[range]` and prepares to decode it, forgetting any payload
    /// read before (the tables keep their storage, so one reader can serve many payloads).
    func load(_ bytes: [UInt8], range: Range<Int>) throws {
        precondition(range.lowerBound >= 0 && range.upperBound <= bytes.count, "payload range outside the bytes")
        self.bytes = bytes
        self.base = range.lowerBound
        self.limit = range.upperBound
        keyTable.removeAll(keepingCapacity: true)
        entries.removeAll(keepingCapacity: true)
        pathNodes.removeAll(keepingCapacity: true)
        rootIndex = nil
        do throws(_Failure) {
            guard !range.isEmpty else { throw _Failure.corrupted("the payload is empty") }
            let end = isObjectTag(bytes[base]) ? try checkRootObject() : try skip(at: base, depth: 0, register: true)
            guard end == limit else {
                throw _Failure.corrupted("\(limit - end) unexpected bytes after the value (at byte \(end - base) of \(limit - base))")
            }
        } catch {
            throw decodingError(error, path: [])
        }
    }

    // MARK: Coding paths and errors

    func path(_ id: Int) -> [any CodingKey] {
        var keys: [any CodingKey] = []
        var id = id
        while id > 0 {
            if let key = pathNodes[id - 1].key { keys.append(key) }
            id = pathNodes[id - 1].parent
        }
        return keys.reversed()
    }

    @inline(__always)
    func child<K: CodingKey>(of parent: Int, _ key: K) -> Int {
        pathNodes.append(PathNode(parent: parent, key: key))
        return pathNodes.count
    }

    func decodingError(_ failure: _Failure, path: [any CodingKey]) -> DecodingError {
        func context(_ message: String) -> DecodingError.Context {
            DecodingError.Context(codingPath: path, debugDescription: "L2BinaryCodec: " + message)
        }
        switch failure {
        case .element(let index, let inner):
            return decodingError(inner, path: path + [_IndexKey(index)])
        case .mismatch(let type, let offset):
            let found = tag(at: offset)
            if found == _Binary.null { return .valueNotFound(type, context("expected \(type), found nil")) }
            return .typeMismatch(type, context("expected \(type), found \(_Binary.describe(found)) at byte \(offset - base)"))
        case .outOfRange(let type, let value):
            return .dataCorrupted(context("\(value) does not fit in \(type)"))
        case .corrupted(let message):
            return .dataCorrupted(context(message))
        }
    }

    func decodingError<K: CodingKey>(_ failure: _Failure, at pathID: Int, key: K) -> DecodingError {
        decodingError(failure, path: path(pathID) + [key])
    }

    func truncated(_ what: String, at offset: Int, needs: UInt64) -> _Failure {
        let remaining = max(0, limit - offset)
        return .corrupted("truncated or corrupt: \(what) at byte \(offset - base) needs \(needs) bytes, only \(remaining) of the \(limit - base)-byte payload remain")
    }

    // MARK: Structure

    /// The tag at `offset`; an offset outside the payload (an absent super decoder) reads as nil.
    @inline(__always)
    func tag(at offset: Int) -> UInt8 {
        offset >= base && offset < limit ? bytes[offset] : _Binary.null
    }

    @inline(__always)
    func varint(at offset: Int) throws(_Failure) -> (UInt64, Int) {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var position = offset
        while true {
            guard position < limit else { throw truncated("a varint", at: offset, needs: UInt64(position - offset + 1)) }
            let byte = bytes[position]
            position += 1
            if shift == 63 && byte > 1 { throw .corrupted("the varint at byte \(offset - base) overflows 64 bits") }
            result |= UInt64(byte & 0x7F) &<< shift
            if byte < 0x80 { return (result, position) }
            shift += 7
        }
    }

    /// A length that must fit in the remaining bytes.
    @inline(__always)
    func length(at offset: Int, what: String) throws(_Failure) -> (Int, Int) {
        let (value, start) = try varint(at: offset)
        guard value <= UInt64(limit - start) else { throw truncated(what, at: offset, needs: value) }
        return (Int(value), start)
    }

    @inline(__always)
    func need(_ count: Int, at offset: Int, what: String) throws(_Failure) -> Int {
        guard count <= limit - offset else { throw truncated(what, at: offset, needs: UInt64(count)) }
        return offset + count
    }

    @inline(__always)
    func isArrayTag(_ tag: UInt8) -> Bool { tag == _Binary.array || (tag >= 0xA0 && tag <= 0xAF) }

    @inline(__always)
    func isObjectTag(_ tag: UInt8) -> Bool { tag == _Binary.object || (tag >= 0xB0 && tag <= 0xBF) }

    /// The count and first element of the array or object whose tag is at `offset`
    /// (every element takes at least one byte, every entry two).
    @inline(__always)
    func containerHeader(_ tag: UInt8, at offset: Int, keyed: Bool) throws(_Failure) -> (Int, Int) {
        if tag >= 0xA0 && tag <= 0xBF { return (Int(tag & 0x0F), offset + 1) }
        let (count, start) = try varint(at: offset + 1)
        let minimum: UInt64 = keyed ? 2 : 1
        guard count <= UInt64(limit - start) / minimum else {
            throw truncated("a container of \(count) \(keyed ? "entries" : "values")", at: offset, needs: count &* minimum)
        }
        return (Int(count), start)
    }

    /// The offset after the value at `offset`. With `register`, key definitions are added
    /// to the key table (the validating pass of `init`).
    func skip(at offset: Int, depth: Int, register: Bool) throws(_Failure) -> Int {
        guard offset < limit else { throw truncated("a value", at: offset, needs: 1) }
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
            guard depth < _Binary.maximumDepth else { throw .corrupted("nesting deeper than \(_Binary.maximumDepth) levels at byte \(offset - base)") }
            var (count, position) = try containerHeader(tag, at: offset, keyed: false)
            while count > 0 {
                position = try skip(at: position, depth: depth + 1, register: register)
                count -= 1
            }
            return position
        case _Binary.object, 0xB0...0xBF:
            guard depth < _Binary.maximumDepth else { throw .corrupted("nesting deeper than \(_Binary.maximumDepth) levels at byte \(offset - base)") }
            var (count, position) = try containerHeader(tag, at: offset, keyed: true)
            while count > 0 {
                position = try skipKey(at: position, register: register)
                position = try skip(at: position, depth: depth + 1, register: register)
                count -= 1
            }
            return position
        default:
            throw .corrupted("unknown tag 0x\(String(tag, radix: 16)) at byte \(offset - base) (not written by this codec)")
        }
    }

    /// The checking walk over a root object (as ``skip(at:depth:register:)`` with
    /// `register`), which also records the object's index (``rootIndex``) as
    /// ``index(objectAt:)`` would build it.
    private func checkRootObject() throws(_Failure) -> Int {
        var (count, position) = try containerHeader(bytes[base], at: base, keyed: true)
        entries.reserveCapacity(count + 1)
        entries.append(Entry(nameStart: 0, nameCount: 0, offset: 0))
        while count > 0 {
            let keyOffset = position
            position = try skipKey(at: position, register: true)
            let (nameStart, nameCount, _) = try readKey(at: keyOffset)
            entries.append(Entry(nameStart: nameStart, nameCount: nameCount, offset: position))
            position = try skip(at: position, depth: 1, register: true)
            count -= 1
        }
        rootIndex = (1, entries.count - 1)
        return position
    }

    func skipKey(at offset: Int, register: Bool) throws(_Failure) -> Int {
        let (value, start) = try varint(at: offset)
        if value & 1 == 1 {
            guard value >> 1 < UInt64(keyCount) else {
                throw .corrupted("key reference #\(value >> 1) at byte \(offset - base), but only \(keyCount) keys are defined before it")
            }
            return start
        }
        let count = value >> 1
        guard count <= UInt64(limit - start) else { throw truncated("a key", at: offset, needs: count) }
        let end = start + Int(count)
        if register {
            let valid = bytes.withUnsafeBufferPointer { _UTF8.isValid(UnsafeBufferPointer(rebasing: $0[start..<end])) }
            guard valid else { throw .corrupted("the key at byte \(offset - base) is not valid UTF-8") }
            keyTable.append(start)
            keyTable.append(Int(count))
        }
        return end
    }

    /// The number of keys defined so far.
    @inline(__always)
    var keyCount: Int { keyTable.count / 2 }

    /// The string of the UTF-8 bytes `start..<end`, or nil when they are not valid UTF-8.
    @inline(__always)
    func makeString(_ start: Int, _ end: Int) -> String? {
        bytes.withUnsafeBufferPointer { buffer in
            let utf8 = UnsafeBufferPointer(rebasing: buffer[start..<end])
            guard _UTF8.isValid(utf8) else { return nil }
            return String(decoding: utf8, as: UTF8.self)
        }
    }

    /// The name (start, byte count) of the key at `offset` and the offset after it.
    @inline(__always)
    func readKey(at offset: Int) throws(_Failure) -> (nameStart: Int, nameCount: Int, end: Int) {
        let (value, start) = try varint(at: offset)
        if value & 1 == 0 { return (start, Int(value >> 1), start + Int(value >> 1)) }
        let index = Int(value >> 1)
        guard index < keyCount else { throw .corrupted("key reference #\(index) at byte \(offset - base) is not defined") }
        return (keyTable[2 * index], keyTable[2 * index + 1], start)
    }

    /// Indexes the object at `offset`: appends a hint slot and one entry per key (the root
    /// object's index is the one the checking walk recorded).
    func index(objectAt offset: Int) throws(_Failure) -> (start: Int, count: Int) {
        if offset == base, let rootIndex { return rootIndex }
        let tag = tag(at: offset)
        guard isObjectTag(tag) else { throw .mismatch([String: Any].self, offset: offset) }
        var (count, position) = try containerHeader(tag, at: offset, keyed: true)
        let start = entries.count + 1
        if entries.isEmpty { entries.reserveCapacity(count + 1) }
        entries.append(Entry(nameStart: 0, nameCount: 0, offset: 0))
        while count > 0 {
            let (nameStart, nameCount, valueOffset) = try readKey(at: position)
            entries.append(Entry(nameStart: nameStart, nameCount: nameCount, offset: valueOffset))
            position = try skip(at: valueOffset, depth: 0, register: false)
            count -= 1
        }
        return (start, entries.count - start)
    }

    /// The offset of the value for `name` in the indexed object, or nil.
    @inline(__always)
    func find(_ name: String, start: Int, count: Int) -> Int? {
        var name = name
        return name.withUTF8 { find($0, start: start, count: count) }
    }

    /// The offset of the value whose key's UTF-8 is `name`, or nil. Tries the entry after
    /// the last one found first (fields are usually read in the order they were written).
    func find(_ name: UnsafeBufferPointer<UInt8>, start: Int, count: Int) -> Int? {
        bytes.withUnsafeBufferPointer { buffer in
            entries.withUnsafeMutableBufferPointer { entries in
                @inline(__always)
                func matches(_ entry: Entry) -> Bool {
                    entry.nameCount == name.count
                        && (name.count == 0 || memcmp(buffer.baseAddress! + entry.nameStart, name.baseAddress!, name.count) == 0)
                }
                let hint = entries[start - 1].offset
                if hint < count, matches(entries[start + hint]) {
                    entries[start - 1].offset = hint + 1
                    return entries[start + hint].offset
                }
                for position in 0..<count where matches(entries[start + position]) {
                    entries[start - 1].offset = position + 1
                    return entries[start + position].offset
                }
                return nil
            }
        }
    }

    // MARK: Scalars (value, offset after it)

    func decodeBool(at offset: Int) throws(_Failure) -> (Bool, Int) {
        switch tag(at: offset) {
        case _Binary.falseTag: return (false, offset + 1)
        case _Binary.trueTag: return (true, offset + 1)
        default: throw .mismatch(Bool.self, offset: offset)
        }
    }

    @inline(__always)
    func decodeInteger<I: FixedWidthInteger>(_ type: I.Type, at offset: Int) throws(_Failure) -> (I, Int) {
        let tag = tag(at: offset)
        switch tag {
        case 0x40...0x7F:
            return (I(truncatingIfNeeded: tag & 0x3F), offset + 1)
        case 0xC0...0xFF:
            let value = -1 - Int64(tag & 0x3F)
            guard I.isSigned else { throw .outOfRange(type, String(value)) }
            return (I(truncatingIfNeeded: value), offset + 1)
        case _Binary.signed:
            let (zigzag, end) = try varint(at: offset + 1)
            let value = Int64(bitPattern: zigzag >> 1) ^ -Int64(bitPattern: zigzag & 1)
            guard let result = I(exactly: value) else { throw .outOfRange(type, String(value)) }
            return (result, end)
        case _Binary.unsigned:
            let (value, end) = try varint(at: offset + 1)
            guard let result = I(exactly: value) else { throw .outOfRange(type, String(value)) }
            return (result, end)
        default:
            throw .mismatch(type, offset: offset)
        }
    }

    @inline(__always)
    func loadLittleEndian<U: FixedWidthInteger>(_ type: U.Type, at offset: Int, what: String) throws(_Failure) -> U {
        _ = try need(MemoryLayout<U>.size, at: offset, what: what)
        return bytes.withUnsafeBytes { U(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: U.self)) }
    }

    func decodeDouble(at offset: Int) throws(_Failure) -> (Double, Int) {
        switch tag(at: offset) {
        case _Binary.float64:
            return (Double(bitPattern: try loadLittleEndian(UInt64.self, at: offset + 1, what: "a Float64")), offset + 9)
        case _Binary.float32:
            return (Double(Float(bitPattern: try loadLittleEndian(UInt32.self, at: offset + 1, what: "a Float32"))), offset + 5)
        case _Binary.unsigned:
            let (value, end) = try decodeInteger(UInt64.self, at: offset)
            return (Double(value), end)
        case _Binary.signed, 0x40...0x7F, 0xC0...0xFF:
            let (value, end) = try decodeInteger(Int64.self, at: offset)
            return (Double(value), end)
        default:
            throw .mismatch(Double.self, offset: offset)
        }
    }

    func decodeFloat(at offset: Int) throws(_Failure) -> (Float, Int) {
        if tag(at: offset) == _Binary.float32 {
            return (Float(bitPattern: try loadLittleEndian(UInt32.self, at: offset + 1, what: "a Float32")), offset + 5)
        }
        let value: Double
        let end: Int
        do {
            (value, end) = try decodeDouble(at: offset)
        } catch {
            if case .mismatch = error { throw .mismatch(Float.self, offset: offset) }
            throw error
        }
        let narrowed = Float(value)
        guard narrowed.isFinite || !value.isFinite else { throw .outOfRange(Float.self, String(value)) }
        return (narrowed, end)
    }

    @inline(__always)
    func decodeString(at offset: Int) throws(_Failure) -> (String, Int) {
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
            throw .mismatch(String.self, offset: offset)
        }
        let end = start + count
        guard let value = makeString(start, end) else { throw .corrupted("the string at byte \(offset - base) is not valid UTF-8") }
        return (value, end)
    }

    /// `[UInt8]` from bytes (or from an array of integers).
    func decodeByteArray(at offset: Int) throws(_Failure) -> ([UInt8], Int) {
        let tag = tag(at: offset)
        if tag == _Binary.bytes {
            let (count, start) = try length(at: offset + 1, what: "bytes")
            return (Array(bytes[start..<(start + count)]), start + count)
        }
        guard isArrayTag(tag) else { throw .mismatch([UInt8].self, offset: offset) }
        return try decodeArray(at: offset) { (position: Int) throws(_Failure) in try decodeInteger(UInt8.self, at: position) }
    }

    func decodeUUID(at offset: Int) throws(_Failure) -> (UUID, Int) {
        switch tag(at: offset) {
        case _Binary.uuid:
            let end = try need(16, at: offset + 1, what: "a UUID")
            let uuid = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 1, as: uuid_t.self) }
            return (UUID(uuid: uuid), end)
        case _Binary.string, 0x80...0x9F:
            let (text, end) = try decodeString(at: offset)
            guard let uuid = UUID(uuidString: text) else { throw .corrupted("'\(text.prefix(64))' is not a UUID") }
            return (uuid, end)
        default:
            throw .mismatch(UUID.self, offset: offset)
        }
    }

    /// An array whose elements `element(offset)` decodes.
    @inline(__always)
    func decodeArray<E>(at offset: Int, _ element: (Int) throws(_Failure) -> (E, Int)) throws(_Failure) -> ([E], Int) {
        let tag = tag(at: offset)
        guard isArrayTag(tag) else { throw .mismatch([E].self, offset: offset) }
        let (count, start) = try containerHeader(tag, at: offset, keyed: false)
        var result: [E] = []
        result.reserveCapacity(count)
        var position = start
        for index in 0..<count {
            do {
                let (value, end) = try element(position)
                result.append(value)
                position = end
            } catch {
                throw .element(index, error)
            }
        }
        return (result, position)
    }

    // MARK: Values

    /// Decodes a `T` at `offset`, the value of `key` in the container at `parent`:
    /// directly for the types the format knows, else through `T(from:)`.
    @inline(__always)
    func decodeValue<T: Decodable, K: CodingKey>(_ type: T.Type, at offset: Int, parent: Int, key: K) throws -> T {
        let kind = _FastKind(type)
        if kind != .none, !kind.isArray || isArrayTag(tag(at: offset)) {
            do { return try decodeFast(kind, type, at: offset) } catch { throw decodingError(error, at: parent, key: key) }
        }
        return try T(from: _BinaryDecoder(reader: self, offset: offset, pathID: child(of: parent, key)))
    }

    /// Decodes the payload's value, through ``L2BinaryCodable`` when `T` has it.
    @inline(__always)
    func decodeRoot<T: Decodable>(_ type: T.Type, at offset: Int) throws -> T {
        try decodeRoot(type, at: offset, as: _RootKind(type))
    }

    /// As above, with what `T` is decided already (``_RootKind``: once per batch, not per value).
    @inline(__always)
    func decodeRoot<T: Decodable>(_ type: T.Type, at offset: Int, as kind: _RootKind) throws -> T {
        if let fast = kind.binaryCodable { return try fast._readRoot(type, self, at: offset) }
        if kind.fast != .none, !kind.fast.isArray || isArrayTag(tag(at: offset)) {
            do { return try decodeFast(kind.fast, type, at: offset) } catch { throw decodingError(error, path: []) }
        }
        return try T(from: _BinaryDecoder(reader: self, offset: offset, pathID: 0))
    }

    /// Decodes a `T` at `offset` whose coding path is `pathID` (the root, a single value).
    @inline(__always)
    func decodeValue<T: Decodable>(_ type: T.Type, at offset: Int, pathID: Int) throws -> T {
        let kind = _FastKind(type)
        if kind != .none, !kind.isArray || isArrayTag(tag(at: offset)) {
            do { return try decodeFast(kind, type, at: offset) } catch { throw decodingError(error, path: path(pathID)) }
        }
        return try T(from: _BinaryDecoder(reader: self, offset: offset, pathID: pathID))
    }

    /// Decodes a value of a type the format handles directly (`kind` is `_FastKind(T.self)`).
    func decodeFast<T>(_ kind: _FastKind, _ type: T.Type, at offset: Int) throws(_Failure) -> T {
        switch kind {
        case .string: return unsafeBitCast(try decodeString(at: offset).0, to: T.self)
        case .int: return unsafeBitCast(try decodeInteger(Int.self, at: offset).0, to: T.self)
        case .bool: return unsafeBitCast(try decodeBool(at: offset).0, to: T.self)
        case .double: return unsafeBitCast(try decodeDouble(at: offset).0, to: T.self)
        case .int64: return unsafeBitCast(try decodeInteger(Int64.self, at: offset).0, to: T.self)
        case .date: return unsafeBitCast(Date(timeIntervalSinceReferenceDate: try decodeDouble(at: offset).0), to: T.self)
        case .uuid: return unsafeBitCast(try decodeUUID(at: offset).0, to: T.self)
        case .bytes: return unsafeBitCast(try decodeByteArray(at: offset).0, to: T.self)
        case .data: return unsafeBitCast(Data(try decodeByteArray(at: offset).0), to: T.self)
        case .int32: return unsafeBitCast(try decodeInteger(Int32.self, at: offset).0, to: T.self)
        case .uint64: return unsafeBitCast(try decodeInteger(UInt64.self, at: offset).0, to: T.self)
        case .uint: return unsafeBitCast(try decodeInteger(UInt.self, at: offset).0, to: T.self)
        case .uint32: return unsafeBitCast(try decodeInteger(UInt32.self, at: offset).0, to: T.self)
        case .int16: return unsafeBitCast(try decodeInteger(Int16.self, at: offset).0, to: T.self)
        case .uint16: return unsafeBitCast(try decodeInteger(UInt16.self, at: offset).0, to: T.self)
        case .int8: return unsafeBitCast(try decodeInteger(Int8.self, at: offset).0, to: T.self)
        case .uint8: return unsafeBitCast(try decodeInteger(UInt8.self, at: offset).0, to: T.self)
        case .float: return unsafeBitCast(try decodeFloat(at: offset).0, to: T.self)
        case .url:
            let text = try decodeString(at: offset).0
            guard let url = URL(string: text) else { throw .corrupted("'\(text.prefix(64))' is not a URL") }
            return unsafeBitCast(url, to: T.self)
        case .stringArray:
            return unsafeBitCast(try decodeArray(at: offset) { (position: Int) throws(_Failure) in try decodeString(at: position) }.0, to: T.self)
        case .intArray:
            return unsafeBitCast(try decodeArray(at: offset) { (position: Int) throws(_Failure) in
                try decodeInteger(Int.self, at: position)
            }.0, to: T.self)
        case .int64Array:
            return unsafeBitCast(try decodeArray(at: offset) { (position: Int) throws(_Failure) in
                try decodeInteger(Int64.self, at: position)
            }.0, to: T.self)
        case .doubleArray:
            return unsafeBitCast(try decodeArray(at: offset) { (position: Int) throws(_Failure) in try decodeDouble(at: position) }.0, to: T.self)
        case .boolArray:
            return unsafeBitCast(try decodeArray(at: offset) { (position: Int) throws(_Failure) in try decodeBool(at: position) }.0, to: T.self)
        case .uuidArray:
            return unsafeBitCast(try decodeArray(at: offset) { (position: Int) throws(_Failure) in try decodeUUID(at: position) }.0, to: T.self)
        case .none:
            preconditionFailure("decodeFast called for a type without a fast path")
        }
    }
}

/// The `Decoder` handed to `init(from:)`: the value at one offset.
struct _BinaryDecoder: Decoder {
    let reader: _BinaryReader
    /// -1: an absent value (the super decoder of a missing key), which reads as nil.
    let offset: Int
    let pathID: Int

    var codingPath: [any CodingKey] { reader.path(pathID) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        do {
            let (start, count) = try reader.index(objectAt: offset)
            return KeyedDecodingContainer(_KeyedDecoder<Key>(reader: reader, start: start, count: count, pathID: pathID))
        } catch {
            throw reader.decodingError(error, path: codingPath)
        }
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try _UnkeyedDecoder(reader: reader, offset: offset, pathID: pathID)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        _SingleValueDecoder(decoder: self)
    }
}

struct _KeyedDecoder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let reader: _BinaryReader
    let start: Int
    let count: Int
    let pathID: Int

    var codingPath: [any CodingKey] { reader.path(pathID) }

    var allKeys: [Key] {
        var keys: [Key] = []
        keys.reserveCapacity(count)
        var position = start
        while position < start + count {
            let entry = reader.entries[position]
            let name = String(decoding: reader.bytes[entry.nameStart..<(entry.nameStart + entry.nameCount)], as: UTF8.self)
            if let key = Key(stringValue: name) { keys.append(key) }
            position += 1
        }
        return keys
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
    private func read<V>(_ offset: Int, _ key: Key, _ read: (Int) throws(_Failure) -> (V, Int)) throws -> V {
        do { return try read(offset).0 } catch { throw reader.decodingError(error, at: pathID, key: key) }
    }

    func decodeNil(forKey key: Key) throws -> Bool { reader.tag(at: try offset(key)) == _Binary.null }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try read(offset(key), key, reader.decodeBool) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try read(offset(key), key, reader.decodeString) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try read(offset(key), key, reader.decodeDouble) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try read(offset(key), key, reader.decodeFloat) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try integer(offset(key), key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try integer(offset(key), key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try integer(offset(key), key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try integer(offset(key), key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try integer(offset(key), key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try integer(offset(key), key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try integer(offset(key), key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try integer(offset(key), key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try integer(offset(key), key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try integer(offset(key), key) }

    @inline(__always)
    private func integer<I: FixedWidthInteger>(_ offset: Int, _ key: Key) throws -> I {
        do { return try reader.decodeInteger(I.self, at: offset).0 } catch { throw reader.decodingError(error, at: pathID, key: key) }
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try reader.decodeValue(type, at: offset(key), parent: pathID, key: key)
    }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? {
        guard let offset = present(key) else { return nil }
        return try read(offset, key, reader.decodeBool)
    }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? {
        guard let offset = present(key) else { return nil }
        return try read(offset, key, reader.decodeString)
    }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? {
        guard let offset = present(key) else { return nil }
        return try read(offset, key, reader.decodeDouble)
    }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? {
        guard let offset = present(key) else { return nil }
        return try read(offset, key, reader.decodeFloat)
    }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try integerIfPresent(key) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try integerIfPresent(key) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try integerIfPresent(key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try integerIfPresent(key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try integerIfPresent(key) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try integerIfPresent(key) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try integerIfPresent(key) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try integerIfPresent(key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try integerIfPresent(key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try integerIfPresent(key) }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let offset = present(key) else { return nil }
        return try reader.decodeValue(type, at: offset, parent: pathID, key: key)
    }

    @inline(__always)
    private func integerIfPresent<I: FixedWidthInteger>(_ key: Key) throws -> I? {
        guard let offset = present(key) else { return nil }
        return try integer(offset, key) as I
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        let offset = try offset(key)
        do {
            let (start, count) = try reader.index(objectAt: offset)
            return KeyedDecodingContainer(_KeyedDecoder<NestedKey>(reader: reader, start: start, count: count, pathID: reader.child(of: pathID, key)))
        } catch {
            throw reader.decodingError(error, at: pathID, key: key)
        }
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try _UnkeyedDecoder(reader: reader, offset: offset(key), pathID: reader.child(of: pathID, key))
    }

    func superDecoder() throws -> any Decoder {
        _BinaryDecoder(reader: reader, offset: reader.find("super", start: start, count: count) ?? -1, pathID: reader.child(of: pathID, _SuperKey()))
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        _BinaryDecoder(reader: reader, offset: reader.find(key.stringValue, start: start, count: count) ?? -1, pathID: reader.child(of: pathID, key))
    }
}

struct _UnkeyedDecoder: UnkeyedDecodingContainer {
    let reader: _BinaryReader
    let pathID: Int
    let total: Int
    /// Over a bytes value: each element is one byte, read as an unsigned integer.
    let overBytes: Bool
    private var position: Int
    private(set) var currentIndex = 0

    var codingPath: [any CodingKey] { reader.path(pathID) }
    var count: Int? { total }
    var isAtEnd: Bool { currentIndex >= total }

    init(reader: _BinaryReader, offset: Int, pathID: Int) throws {
        self.reader = reader
        self.pathID = pathID
        let tag = reader.tag(at: offset)
        do throws(_Failure) {
            if reader.isArrayTag(tag) {
                (total, position) = try reader.containerHeader(tag, at: offset, keyed: false)
                overBytes = false
            } else if tag == _Binary.bytes {
                (total, position) = try reader.length(at: offset + 1, what: "bytes")
                overBytes = true
            } else {
                throw _Failure.mismatch([Any].self, offset: offset)
            }
        } catch {
            throw reader.decodingError(error, path: reader.path(pathID))
        }
    }

    private func failure(_ failure: _Failure) -> DecodingError {
        reader.decodingError(failure, at: pathID, key: _IndexKey(currentIndex))
    }

    private func atEnd(_ type: Any.Type) -> DecodingError {
        .valueNotFound(type, DecodingError.Context(
            codingPath: codingPath + [_IndexKey(currentIndex)],
            debugDescription: "L2BinaryCodec: the unkeyed container has no more values (it holds \(total))"))
    }

    private func byteMismatch(_ type: Any.Type) -> DecodingError {
        .typeMismatch(type, DecodingError.Context(
            codingPath: codingPath + [_IndexKey(currentIndex)],
            debugDescription: "L2BinaryCodec: expected \(type), found a byte of a bytes value (bytes decode as integers)"))
    }

    @inline(__always)
    private mutating func next<V>(_ type: V.Type, _ read: (Int) throws(_Failure) -> (V, Int)) throws -> V {
        guard !isAtEnd else { throw atEnd(type) }
        guard !overBytes else { throw byteMismatch(type) }
        do {
            let (value, end) = try read(position)
            position = end
            currentIndex += 1
            return value
        } catch {
            throw failure(error)
        }
    }

    @inline(__always)
    private mutating func nextInteger<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
        guard !isAtEnd else { throw atEnd(type) }
        if overBytes {
            let byte = reader.bytes[position]
            guard let value = I(exactly: byte) else { throw failure(.outOfRange(type, String(byte))) }
            position += 1
            currentIndex += 1
            return value
        }
        do {
            let (value, end) = try reader.decodeInteger(type, at: position)
            position = end
            currentIndex += 1
            return value
        } catch {
            throw failure(error)
        }
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { throw atEnd(Never?.self) }
        guard !overBytes, reader.tag(at: position) == _Binary.null else { return false }
        position += 1
        currentIndex += 1
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { let reader = reader; return try next(type, reader.decodeBool) }
    mutating func decode(_ type: String.Type) throws -> String { let reader = reader; return try next(type, reader.decodeString) }
    mutating func decode(_ type: Double.Type) throws -> Double { let reader = reader; return try next(type, reader.decodeDouble) }
    mutating func decode(_ type: Float.Type) throws -> Float { let reader = reader; return try next(type, reader.decodeFloat) }
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
        let value = try reader.decodeValue(type, at: offset, parent: pathID, key: _IndexKey(currentIndex))
        do { position = try reader.skip(at: offset, depth: 0, register: false) } catch { throw failure(error) }
        currentIndex += 1
        return value
    }

    private mutating func byteAsInteger<T>(_ type: T.Type) throws -> T? {
        switch _FastKind(type) {
        case .uint8: return unsafeBitCast(try nextInteger(UInt8.self), to: T.self)
        case .int: return unsafeBitCast(try nextInteger(Int.self), to: T.self)
        case .int8: return unsafeBitCast(try nextInteger(Int8.self), to: T.self)
        case .int16: return unsafeBitCast(try nextInteger(Int16.self), to: T.self)
        case .int32: return unsafeBitCast(try nextInteger(Int32.self), to: T.self)
        case .int64: return unsafeBitCast(try nextInteger(Int64.self), to: T.self)
        case .uint: return unsafeBitCast(try nextInteger(UInt.self), to: T.self)
        case .uint16: return unsafeBitCast(try nextInteger(UInt16.self), to: T.self)
        case .uint32: return unsafeBitCast(try nextInteger(UInt32.self), to: T.self)
        case .uint64: return unsafeBitCast(try nextInteger(UInt64.self), to: T.self)
        default: return nil
        }
    }

    /// The offset of the next element as a container or decoder, and its path node; advances past it.
    private mutating func nextOffset(_ type: Any.Type) throws -> (Int, Int) {
        guard !isAtEnd else { throw atEnd(type) }
        guard !overBytes else { throw byteMismatch(type) }
        let offset = position
        do { position = try reader.skip(at: offset, depth: 0, register: false) } catch { throw failure(error) }
        let node = reader.child(of: pathID, _IndexKey(currentIndex))
        currentIndex += 1
        return (offset, node)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (offset, node) = try nextOffset(KeyedDecodingContainer<NestedKey>.self)
        do {
            let (start, count) = try reader.index(objectAt: offset)
            return KeyedDecodingContainer(_KeyedDecoder<NestedKey>(reader: reader, start: start, count: count, pathID: node))
        } catch {
            throw reader.decodingError(error, path: reader.path(node))
        }
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (offset, node) = try nextOffset([Any].self)
        return try _UnkeyedDecoder(reader: reader, offset: offset, pathID: node)
    }

    mutating func superDecoder() throws -> any Decoder {
        let (offset, node) = try nextOffset(Any.self)
        return _BinaryDecoder(reader: reader, offset: offset, pathID: node)
    }
}

struct _SingleValueDecoder: SingleValueDecodingContainer {
    let decoder: _BinaryDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }
    private var reader: _BinaryReader { decoder.reader }
    private var offset: Int { decoder.offset }

    @inline(__always)
    private func read<V>(_ read: (Int) throws(_Failure) -> (V, Int)) throws -> V {
        do { return try read(offset).0 } catch { throw reader.decodingError(error, path: codingPath) }
    }

    @inline(__always)
    private func integer<I: FixedWidthInteger>() throws -> I {
        do { return try reader.decodeInteger(I.self, at: offset).0 } catch { throw reader.decodingError(error, path: codingPath) }
    }

    func decodeNil() -> Bool { reader.tag(at: offset) == _Binary.null }
    func decode(_ type: Bool.Type) throws -> Bool { try read(reader.decodeBool) }
    func decode(_ type: String.Type) throws -> String { try read(reader.decodeString) }
    func decode(_ type: Double.Type) throws -> Double { try read(reader.decodeDouble) }
    func decode(_ type: Float.Type) throws -> Float { try read(reader.decodeFloat) }
    func decode(_ type: Int.Type) throws -> Int { try integer() }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer() }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer() }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer() }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer() }
    func decode(_ type: UInt.Type) throws -> UInt { try integer() }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer() }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer() }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer() }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer() }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try reader.decodeValue(type, at: offset, pathID: decoder.pathID)
    }
}

/// How a payload's root value of type `T` is decoded: a type the format reads directly
/// (`fast`), a type with ``L2BinaryCodable`` (`binaryCodable`), or else through `Codable`.
/// Finding out costs type comparisons and a conformance lookup in the runtime, so a batch
/// does it once.
struct _RootKind {
    let type: ObjectIdentifier
    let fast: _FastKind
    let binaryCodable: (any L2BinaryCodable.Type)?

    @inline(__always)
    init<T>(_ type: T.Type) {
        self.type = ObjectIdentifier(type)
        fast = _FastKind(type)
        binaryCodable = fast == .none ? T.self as? any L2BinaryCodable.Type : nil
    }
}

/// One reader for the payloads of a batch, decoded one after another: its tables keep their
/// storage. A reader still referenced after a decode (a type that kept its decoder) is
/// left to that value and a new one is made.
final class _ReaderReuse {
    private var reader: _BinaryReader?
    /// The kind of the type decoded last (a batch decodes one type).
    private var kind: _RootKind?

    func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], range: Range<Int>) throws -> T {
        var current = reader.take() ?? _BinaryReader()
        if !isKnownUniquelyReferenced(&current) { current = _BinaryReader() }
        defer { reader = current }
        let kind: _RootKind
        if let known = self.kind, known.type == ObjectIdentifier(type) {
            kind = known
        } else {
            kind = _RootKind(type)
            self.kind = kind
        }
        try current.load(bytes, range: range)
        return try current.decodeRoot(type, at: range.lowerBound, as: kind)
    }
}
