/// The streaming encoder of ``L2BinaryCodec``: writes straight into one byte buffer, in the
/// order the `Encodable` implementations write. Containers get a one-byte placeholder
/// header that is patched with their count when they are closed (when their parent, or an
/// ancestor, writes next, or when the value that opened them returns).
///
/// Codable allows writing to a container after writing to its parent (holding a nested
/// container or a super encoder and using it later). Streaming cannot place such writes;
/// the encoder notices (``Reorder``) and ``L2BinaryCodec`` encodes the value again with
/// ``_BinaryTreeEncoder``, which produces the same format from a tree.
final class _BinaryWriter {
    struct Reorder: Error {}

    /// An open container on the stack: its slot id, the offset of its placeholder header
    /// and the number of values or entries written so far.
    struct Open {
        var id: Int
        var header: Int
        var count: Int
        var keyed: Bool
    }

    @exclusivity(unchecked) var out: [UInt8] = []
    @exclusivity(unchecked) var keys = _KeyTable()
    @exclusivity(unchecked) var stack: [Open] = []
    /// The slot whose key (or array position) was written and whose value is still due.
    @exclusivity(unchecked) var pendingSlot = 0
    @exclusivity(unchecked) var nextSlot = 1
    /// Set by the non-throwing parts of the Encoder API when they meet an ordering they
    /// cannot stream.
    @exclusivity(unchecked) var needsTree = false
    /// Coding-path nodes (parent, key): path id `k > 0` is `pathNodes[k - 1]`, id 0 the root.
    /// Paths are built only when asked for.
    @exclusivity(unchecked) var pathNodes: [_BinaryReader.PathNode] = []

    init() {
        out.reserveCapacity(128)
    }

    func encodeRoot<T: Encodable>(_ value: T) throws -> [UInt8] {
        try writeRoot(value)
        return out
    }

    /// Writes `value` as one payload after the bytes already in `out`.
    private func writeRoot<T: Encodable>(_ value: T) throws {
        if !_Binary.writeFast(value, &out) {
            if let fast = T.self as? any L2BinaryCodable.Type {
                // The type writes its own fields (the same bytes as through Codable).
                try fast._writeRoot(value, self)
            } else {
                let slot = reserveSlot()
                try encodeIntoSlot(value, slot: slot, depth: 0, pathID: 0)
            }
        }
        if pendingSlot != 0 { fillPending() }
        closeAbove(-1)
        if needsTree { throw reorder() }
    }

    /// Appends the payload of `value` to `buffer` (the same bytes as ``L2BinaryCodec``'s
    /// `encode`), so one writer and one buffer serve a batch of values. On error `buffer`
    /// is as it was.
    func append<T: Encodable>(_ value: T, to buffer: inout [UInt8]) throws {
        // Scalars, strings, bytes…: written straight into `buffer`, no writer state involved.
        if _Binary.writeFast(value, &buffer) { return }
        reset()
        swap(&out, &buffer)
        defer { swap(&out, &buffer) }
        let start = out.count
        do {
            try writeRoot(value)
        } catch {
            out.removeSubrange(start...)
            // A write order streaming cannot place (see above): build a tree instead.
            guard needsTree else { throw error }
            out.append(contentsOf: try _TreeState().encode(value))
        }
    }

    /// Forgets the previous value (keeps the buffers' capacity).
    private func reset() {
        keys.removeAll()
        stack.removeAll(keepingCapacity: true)
        pathNodes.removeAll(keepingCapacity: true)
        pendingSlot = 0
        nextSlot = 1
        needsTree = false
    }

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
        pathNodes.append(_BinaryReader.PathNode(parent: parent, key: key))
        return pathNodes.count
    }

    /// Encodes `value`, the value of `key` in the container whose path node is `parent`,
    /// into a fresh slot whose containers go at stack index `depth`.
    @inline(__always)
    func encodeValue<T: Encodable, K: CodingKey>(_ value: T, depth: Int, parent: Int, key: K) throws {
        if _Binary.writeFast(value, &out) { return }
        let slot = reserveSlot()
        try encodeIntoSlot(value, slot: slot, depth: depth, pathID: child(of: parent, key))
    }

    /// Runs `value.encode(to:)` for `slot`; afterwards the slot holds a value (an empty
    /// object when the value wrote nothing) and the containers it opened are closed.
    func encodeIntoSlot<T: Encodable>(_ value: T, slot: Int, depth: Int, pathID: Int) throws {
        guard depth < _Binary.maximumDepth else {
            throw EncodingError.invalidValue(value, EncodingError.Context(
                codingPath: path(pathID), debugDescription: "L2BinaryCodec: nesting deeper than \(_Binary.maximumDepth) levels"))
        }
        try value.encode(to: _BinaryEncoder(writer: self, slot: slot, depth: depth, pathID: pathID))
        if pendingSlot != 0 { fillPending() }
        if stack.count > depth { closeAbove(depth - 1) }
    }

    /// Notes that the value must be encoded again by the tree encoder.
    func reorder() -> Reorder {
        needsTree = true
        return Reorder()
    }

    /// Before the container at stack index `level` with id `id` writes a value or entry.
    @inline(__always)
    func begin(_ level: Int, _ id: Int) throws {
        if pendingSlot != 0 { fillPending() }
        guard level < stack.count, stack[level].id == id else { throw reorder() }
        if stack.count > level + 1 { closeAbove(level) }
        stack[level].count += 1
    }

    /// Before the encoder of `slot` writes its single value.
    @inline(__always)
    func claim(_ slot: Int) throws {
        guard slot != 0, pendingSlot == slot else { throw reorder() }
        pendingSlot = 0
    }

    /// Opens the container of `slot` at stack index `depth`, or finds it open already
    /// (an `Encodable` may ask its encoder for the same container twice). `false` when
    /// neither is possible in stream order.
    func open(slot: Int, depth: Int, keyed: Bool) -> Bool {
        guard slot != 0 else { return false }
        if pendingSlot == slot {
            guard stack.count == depth, depth < _Binary.maximumDepth else { return false }
            pendingSlot = 0
            out.append(keyed ? _Binary.smallObject : _Binary.smallArray)
            stack.append(Open(id: slot, header: out.count - 1, count: 0, keyed: keyed))
            return true
        }
        return depth < stack.count && stack[depth].id == slot && stack[depth].keyed == keyed
    }

    /// A slot that got a key but never a value (an unused super encoder) holds an empty object.
    func fillPending() {
        out.append(_Binary.smallObject)
        pendingSlot = 0
    }

    func closeAbove(_ level: Int) {
        while stack.count > level + 1 {
            let open = stack.removeLast()
            _Binary.patchHeader(at: open.header, count: open.count, keyed: open.keyed, &out)
        }
    }

    /// A new slot for a nested container or super encoder of the top container.
    func reserveSlot() -> Int {
        let slot = nextSlot
        nextSlot += 1
        pendingSlot = slot
        return slot
    }
}

/// The `Encoder` handed to `encode(to:)`: one slot, filled by one single value or one
/// container.
struct _BinaryEncoder: Encoder {
    let writer: _BinaryWriter
    let slot: Int
    let depth: Int
    let pathID: Int

    var codingPath: [any CodingKey] { writer.path(pathID) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if !writer.open(slot: slot, depth: depth, keyed: true) { writer.needsTree = true }
        return KeyedEncodingContainer(_KeyedEncoder<Key>(writer: writer, level: depth, id: slot, pathID: pathID))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if !writer.open(slot: slot, depth: depth, keyed: false) { writer.needsTree = true }
        return _UnkeyedEncoder(writer: writer, level: depth, id: slot, pathID: pathID)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        _SingleValueEncoder(encoder: self)
    }
}

struct _KeyedEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let writer: _BinaryWriter
    let level: Int
    let id: Int
    let pathID: Int

    var codingPath: [any CodingKey] { writer.path(pathID) }

    @inline(__always)
    private func entry(_ key: Key) throws {
        try writer.begin(level, id)
        writer.keys.write(key.stringValue, &writer.out)
    }

    mutating func encodeNil(forKey key: Key) throws { try entry(key); writer.out.append(_Binary.null) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { try entry(key); _Binary.writeBool(value, &writer.out) }
    mutating func encode(_ value: String, forKey key: Key) throws { try entry(key); _Binary.writeString(value, &writer.out) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try entry(key); _Binary.writeDouble(value, &writer.out) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try entry(key); _Binary.writeFloat(value, &writer.out) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try entry(key); _Binary.writeSigned(Int64(value), &writer.out) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try entry(key); _Binary.writeSigned(Int64(value), &writer.out) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try entry(key); _Binary.writeSigned(Int64(value), &writer.out) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try entry(key); _Binary.writeSigned(Int64(value), &writer.out) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try entry(key); _Binary.writeSigned(value, &writer.out) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try entry(key); _Binary.writeUnsigned(UInt64(value), &writer.out) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try entry(key); _Binary.writeUnsigned(UInt64(value), &writer.out) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try entry(key); _Binary.writeUnsigned(UInt64(value), &writer.out) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try entry(key); _Binary.writeUnsigned(UInt64(value), &writer.out) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try entry(key); _Binary.writeUnsigned(value, &writer.out) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try entry(key)
        try writer.encodeValue(value, depth: level + 1, parent: pathID, key: key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let slot = nestedSlot(key)
        if slot == 0 || !writer.open(slot: slot, depth: level + 1, keyed: true) { writer.needsTree = true }
        return KeyedEncodingContainer(_KeyedEncoder<NestedKey>(writer: writer, level: level + 1, id: slot, pathID: writer.child(of: pathID, key)))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let slot = nestedSlot(key)
        if slot == 0 || !writer.open(slot: slot, depth: level + 1, keyed: false) { writer.needsTree = true }
        return _UnkeyedEncoder(writer: writer, level: level + 1, id: slot, pathID: writer.child(of: pathID, key))
    }

    mutating func superEncoder() -> any Encoder { superEncoder(codingKey: _SuperKey()) }

    mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder(codingKey: key) }

    private func superEncoder<K: CodingKey>(codingKey: K) -> any Encoder {
        var slot = 0
        do {
            try writer.begin(level, id)
            writer.keys.write(codingKey.stringValue, &writer.out)
            slot = writer.reserveSlot()
        } catch {
            writer.needsTree = true
        }
        return _BinaryEncoder(writer: writer, slot: slot, depth: level + 1, pathID: writer.child(of: pathID, codingKey))
    }

    /// Writes the key and reserves the slot of a nested container; 0 when out of order.
    private func nestedSlot(_ key: Key) -> Int {
        do {
            try entry(key)
            return writer.reserveSlot()
        } catch {
            return 0
        }
    }
}

struct _UnkeyedEncoder: UnkeyedEncodingContainer {
    let writer: _BinaryWriter
    let level: Int
    let id: Int
    let pathID: Int
    private(set) var count = 0

    var codingPath: [any CodingKey] { writer.path(pathID) }

    init(writer: _BinaryWriter, level: Int, id: Int, pathID: Int) {
        self.writer = writer
        self.level = level
        self.id = id
        self.pathID = pathID
    }

    @inline(__always)
    private mutating func element() throws {
        try writer.begin(level, id)
        count += 1
    }

    mutating func encodeNil() throws { try element(); writer.out.append(_Binary.null) }
    mutating func encode(_ value: Bool) throws { try element(); _Binary.writeBool(value, &writer.out) }
    mutating func encode(_ value: String) throws { try element(); _Binary.writeString(value, &writer.out) }
    mutating func encode(_ value: Double) throws { try element(); _Binary.writeDouble(value, &writer.out) }
    mutating func encode(_ value: Float) throws { try element(); _Binary.writeFloat(value, &writer.out) }
    mutating func encode(_ value: Int) throws { try element(); _Binary.writeSigned(Int64(value), &writer.out) }
    mutating func encode(_ value: Int8) throws { try element(); _Binary.writeSigned(Int64(value), &writer.out) }
    mutating func encode(_ value: Int16) throws { try element(); _Binary.writeSigned(Int64(value), &writer.out) }
    mutating func encode(_ value: Int32) throws { try element(); _Binary.writeSigned(Int64(value), &writer.out) }
    mutating func encode(_ value: Int64) throws { try element(); _Binary.writeSigned(value, &writer.out) }
    mutating func encode(_ value: UInt) throws { try element(); _Binary.writeUnsigned(UInt64(value), &writer.out) }
    mutating func encode(_ value: UInt8) throws { try element(); _Binary.writeUnsigned(UInt64(value), &writer.out) }
    mutating func encode(_ value: UInt16) throws { try element(); _Binary.writeUnsigned(UInt64(value), &writer.out) }
    mutating func encode(_ value: UInt32) throws { try element(); _Binary.writeUnsigned(UInt64(value), &writer.out) }
    mutating func encode(_ value: UInt64) throws { try element(); _Binary.writeUnsigned(value, &writer.out) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let index = count
        try element()
        try writer.encodeValue(value, depth: level + 1, parent: pathID, key: _IndexKey(index))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let path = writer.child(of: pathID, _IndexKey(count))
        let slot = nestedSlot()
        if slot == 0 || !writer.open(slot: slot, depth: level + 1, keyed: true) { writer.needsTree = true }
        return KeyedEncodingContainer(_KeyedEncoder<NestedKey>(writer: writer, level: level + 1, id: slot, pathID: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let path = writer.child(of: pathID, _IndexKey(count))
        let slot = nestedSlot()
        if slot == 0 || !writer.open(slot: slot, depth: level + 1, keyed: false) { writer.needsTree = true }
        return _UnkeyedEncoder(writer: writer, level: level + 1, id: slot, pathID: path)
    }

    mutating func superEncoder() -> any Encoder {
        let path = writer.child(of: pathID, _IndexKey(count))
        let slot = nestedSlot()
        if slot == 0 { writer.needsTree = true }
        return _BinaryEncoder(writer: writer, slot: slot, depth: level + 1, pathID: path)
    }

    private mutating func nestedSlot() -> Int {
        do {
            try element()
            return writer.reserveSlot()
        } catch {
            return 0
        }
    }
}

struct _SingleValueEncoder: SingleValueEncodingContainer {
    let encoder: _BinaryEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }
    private var writer: _BinaryWriter { encoder.writer }

    init(encoder: _BinaryEncoder) { self.encoder = encoder }

    @inline(__always)
    private func claim() throws { try writer.claim(encoder.slot) }

    mutating func encodeNil() throws { try claim(); writer.out.append(_Binary.null) }
    mutating func encode(_ value: Bool) throws { try claim(); _Binary.writeBool(value, &writer.out) }
    mutating func encode(_ value: String) throws { try claim(); _Binary.writeString(value, &writer.out) }
    mutating func encode(_ value: Double) throws { try claim(); _Binary.writeDouble(value, &writer.out) }
    mutating func encode(_ value: Float) throws { try claim(); _Binary.writeFloat(value, &writer.out) }
    mutating func encode(_ value: Int) throws { try claim(); _Binary.writeSigned(Int64(value), &writer.out) }
    mutating func encode(_ value: Int8) throws { try claim(); _Binary.writeSigned(Int64(value), &writer.out) }
    mutating func encode(_ value: Int16) throws { try claim(); _Binary.writeSigned(Int64(value), &writer.out) }
    mutating func encode(_ value: Int32) throws { try claim(); _Binary.writeSigned(Int64(value), &writer.out) }
    mutating func encode(_ value: Int64) throws { try claim(); _Binary.writeSigned(value, &writer.out) }
    mutating func encode(_ value: UInt) throws { try claim(); _Binary.writeUnsigned(UInt64(value), &writer.out) }
    mutating func encode(_ value: UInt8) throws { try claim(); _Binary.writeUnsigned(UInt64(value), &writer.out) }
    mutating func encode(_ value: UInt16) throws { try claim(); _Binary.writeUnsigned(UInt64(value), &writer.out) }
    mutating func encode(_ value: UInt32) throws { try claim(); _Binary.writeUnsigned(UInt64(value), &writer.out) }
    mutating func encode(_ value: UInt64) throws { try claim(); _Binary.writeUnsigned(value, &writer.out) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        // The value takes this encoder's slot: a wrapper (Optional, a RawRepresentable,
        // a property wrapper) costs no byte of its own.
        guard encoder.slot != 0, writer.pendingSlot == encoder.slot else { throw writer.reorder() }
        if _Binary.writeFast(value, &writer.out) {
            writer.pendingSlot = 0
            return
        }
        try writer.encodeIntoSlot(value, slot: encoder.slot, depth: encoder.depth, pathID: encoder.pathID)
    }
}
