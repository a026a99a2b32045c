/// The fallback encoder of ``L2BinaryCodec``: builds a tree first, so it accepts writes in
/// any order Codable allows (a nested container or super encoder used after its parent
/// wrote more), then serializes it in the same format as ``_BinaryWriter``. Only used
/// when the streaming encoder met such an order.
final class _TreeNode {
    enum Kind { case unset, scalar, array, object }

    var kind = Kind.unset
    /// The encoded bytes of a scalar (or of a fast-path array, which holds no keys).
    var scalar: [UInt8] = []
    var children: [_TreeNode] = []
    var keys: [String] = []
    var keyIndex: [String: Int] = [:]

    func child(forKey key: String) -> _TreeNode {
        if let index = keyIndex[key] {
            let node = _TreeNode()
            children[index] = node   // encoding a key again replaces its value, as JSONEncoder does
            return node
        }
        let node = _TreeNode()
        keyIndex[key] = children.count
        keys.append(key)
        children.append(node)
        return node
    }

    func appendChild() -> _TreeNode {
        let node = _TreeNode()
        children.append(node)
        return node
    }
}

final class _TreeState {
    var failure: EncodingError?

    func fail(_ path: [any CodingKey], _ message: String) {
        if failure == nil {
            failure = EncodingError.invalidValue((), EncodingError.Context(codingPath: path, debugDescription: "L2BinaryCodec: " + message))
        }
    }

    func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let root = _TreeNode()
        try encode(value, into: root, path: [])
        if let failure { throw failure }
        var out: [UInt8] = []
        var keys = _KeyTable()
        try serialize(root, depth: 0, path: [], &out, &keys)
        return out
    }

    func encode<T: Encodable>(_ value: T, into node: _TreeNode, path: [any CodingKey]) throws {
        var bytes: [UInt8] = []
        if _Binary.writeFast(value, &bytes) {
            guard node.kind == .unset else { return fail(path, "a single value container was written twice") }
            node.kind = .scalar
            node.scalar = bytes
            return
        }
        guard path.count < _Binary.maximumDepth else {
            throw EncodingError.invalidValue(value, EncodingError.Context(
                codingPath: path, debugDescription: "L2BinaryCodec: nesting deeper than \(_Binary.maximumDepth) levels"))
        }
        try value.encode(to: _TreeEncoder(node: node, state: self, codingPath: path))
    }

    func serialize(_ node: _TreeNode, depth: Int, path: [any CodingKey], _ out: inout [UInt8], _ keys: inout _KeyTable) throws {
        guard depth < _Binary.maximumDepth || node.kind == .scalar else {
            throw EncodingError.invalidValue((), EncodingError.Context(
                codingPath: path, debugDescription: "L2BinaryCodec: nesting deeper than \(_Binary.maximumDepth) levels"))
        }
        switch node.kind {
        case .unset:
            out.append(_Binary.smallObject)
        case .scalar:
            out.append(contentsOf: node.scalar)
        case .array:
            _Binary.writeHeader(count: node.children.count, keyed: false, &out)
            for child in node.children { try serialize(child, depth: depth + 1, path: path, &out, &keys) }
        case .object:
            _Binary.writeHeader(count: node.children.count, keyed: true, &out)
            for (key, child) in zip(node.keys, node.children) {
                keys.write(key, &out)
                try serialize(child, depth: depth + 1, path: path, &out, &keys)
            }
        }
    }
}

struct _TreeEncoder: Encoder {
    let node: _TreeNode
    let state: _TreeState
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(_TreeKeyedEncoder<Key>(node: prepare(.object), state: state, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        _TreeUnkeyedEncoder(node: prepare(.array), state: state, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        _TreeSingleValueEncoder(node: node, state: state, codingPath: codingPath)
    }

    /// The node as a container of `kind` (the same one when asked again).
    private func prepare(_ kind: _TreeNode.Kind) -> _TreeNode {
        if node.kind == .unset { node.kind = kind }
        guard node.kind == kind else {
            state.fail(codingPath, "an encoder was asked for a \(kind) container after it had encoded a \(node.kind)")
            return _TreeNode()
        }
        return node
    }
}

struct _TreeKeyedEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: _TreeNode
    let state: _TreeState
    let codingPath: [any CodingKey]

    private func scalar(_ key: Key, _ write: (inout [UInt8]) -> Void) {
        let child = node.child(forKey: key.stringValue)
        child.kind = .scalar
        write(&child.scalar)
    }

    mutating func encodeNil(forKey key: Key) throws { scalar(key) { $0.append(_Binary.null) } }
    mutating func encode(_ value: Bool, forKey key: Key) throws { scalar(key) { _Binary.writeBool(value, &$0) } }
    mutating func encode(_ value: String, forKey key: Key) throws { scalar(key) { _Binary.writeString(value, &$0) } }
    mutating func encode(_ value: Double, forKey key: Key) throws { scalar(key) { _Binary.writeDouble(value, &$0) } }
    mutating func encode(_ value: Float, forKey key: Key) throws { scalar(key) { _Binary.writeFloat(value, &$0) } }
    mutating func encode(_ value: Int, forKey key: Key) throws { scalar(key) { _Binary.writeSigned(Int64(value), &$0) } }
    mutating func encode(_ value: Int8, forKey key: Key) throws { scalar(key) { _Binary.writeSigned(Int64(value), &$0) } }
    mutating func encode(_ value: Int16, forKey key: Key) throws { scalar(key) { _Binary.writeSigned(Int64(value), &$0) } }
    mutating func encode(_ value: Int32, forKey key: Key) throws { scalar(key) { _Binary.writeSigned(Int64(value), &$0) } }
    mutating func encode(_ value: Int64, forKey key: Key) throws { scalar(key) { _Binary.writeSigned(value, &$0) } }
    mutating func encode(_ value: UInt, forKey key: Key) throws { scalar(key) { _Binary.writeUnsigned(UInt64(value), &$0) } }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { scalar(key) { _Binary.writeUnsigned(UInt64(value), &$0) } }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { scalar(key) { _Binary.writeUnsigned(UInt64(value), &$0) } }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { scalar(key) { _Binary.writeUnsigned(UInt64(value), &$0) } }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { scalar(key) { _Binary.writeUnsigned(value, &$0) } }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try state.encode(value, into: node.child(forKey: key.stringValue), path: codingPath + [key])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let child = node.child(forKey: key.stringValue)
        child.kind = .object
        return KeyedEncodingContainer(_TreeKeyedEncoder<NestedKey>(node: child, state: state, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = node.child(forKey: key.stringValue)
        child.kind = .array
        return _TreeUnkeyedEncoder(node: child, state: state, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder {
        _TreeEncoder(node: node.child(forKey: "super"), state: state, codingPath: codingPath + [_SuperKey()])
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        _TreeEncoder(node: node.child(forKey: key.stringValue), state: state, codingPath: codingPath + [key])
    }
}

struct _TreeUnkeyedEncoder: UnkeyedEncodingContainer {
    let node: _TreeNode
    let state: _TreeState
    let codingPath: [any CodingKey]
    var count: Int { node.children.count }

    private func scalar(_ write: (inout [UInt8]) -> Void) {
        let child = node.appendChild()
        child.kind = .scalar
        write(&child.scalar)
    }

    mutating func encodeNil() throws { scalar { $0.append(_Binary.null) } }
    mutating func encode(_ value: Bool) throws { scalar { _Binary.writeBool(value, &$0) } }
    mutating func encode(_ value: String) throws { scalar { _Binary.writeString(value, &$0) } }
    mutating func encode(_ value: Double) throws { scalar { _Binary.writeDouble(value, &$0) } }
    mutating func encode(_ value: Float) throws { scalar { _Binary.writeFloat(value, &$0) } }
    mutating func encode(_ value: Int) throws { scalar { _Binary.writeSigned(Int64(value), &$0) } }
    mutating func encode(_ value: Int8) throws { scalar { _Binary.writeSigned(Int64(value), &$0) } }
    mutating func encode(_ value: Int16) throws { scalar { _Binary.writeSigned(Int64(value), &$0) } }
    mutating func encode(_ value: Int32) throws { scalar { _Binary.writeSigned(Int64(value), &$0) } }
    mutating func encode(_ value: Int64) throws { scalar { _Binary.writeSigned(value, &$0) } }
    mutating func encode(_ value: UInt) throws { scalar { _Binary.writeUnsigned(UInt64(value), &$0) } }
    mutating func encode(_ value: UInt8) throws { scalar { _Binary.writeUnsigned(UInt64(value), &$0) } }
    mutating func encode(_ value: UInt16) throws { scalar { _Binary.writeUnsigned(UInt64(value), &$0) } }
    mutating func encode(_ value: UInt32) throws { scalar { _Binary.writeUnsigned(UInt64(value), &$0) } }
    mutating func encode(_ value: UInt64) throws { scalar { _Binary.writeUnsigned(value, &$0) } }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let path = codingPath + [_IndexKey(count)]
        try state.encode(value, into: node.appendChild(), path: path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let path = codingPath + [_IndexKey(count)]
        let child = node.appendChild()
        child.kind = .object
        return KeyedEncodingContainer(_TreeKeyedEncoder<NestedKey>(node: child, state: state, codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let path = codingPath + [_IndexKey(count)]
        let child = node.appendChild()
        child.kind = .array
        return _TreeUnkeyedEncoder(node: child, state: state, codingPath: path)
    }

    mutating func superEncoder() -> any Encoder {
        let path = codingPath + [_IndexKey(count)]
        return _TreeEncoder(node: node.appendChild(), state: state, codingPath: path)
    }
}

struct _TreeSingleValueEncoder: SingleValueEncodingContainer {
    let node: _TreeNode
    let state: _TreeState
    let codingPath: [any CodingKey]

    private func scalar(_ write: (inout [UInt8]) -> Void) {
        guard node.kind == .unset else { return state.fail(codingPath, "a single value container was written twice") }
        node.kind = .scalar
        write(&node.scalar)
    }

    mutating func encodeNil() throws { scalar { $0.append(_Binary.null) } }
    mutating func encode(_ value: Bool) throws { scalar { _Binary.writeBool(value, &$0) } }
    mutating func encode(_ value: String) throws { scalar { _Binary.writeString(value, &$0) } }
    mutating func encode(_ value: Double) throws { scalar { _Binary.writeDouble(value, &$0) } }
    mutating func encode(_ value: Float) throws { scalar { _Binary.writeFloat(value, &$0) } }
    mutating func encode(_ value: Int) throws { scalar { _Binary.writeSigned(Int64(value), &$0) } }
    mutating func encode(_ value: Int8) throws { scalar { _Binary.writeSigned(Int64(value), &$0) } }
    mutating func encode(_ value: Int16) throws { scalar { _Binary.writeSigned(Int64(value), &$0) } }
    mutating func encode(_ value: Int32) throws { scalar { _Binary.writeSigned(Int64(value), &$0) } }
    mutating func encode(_ value: Int64) throws { scalar { _Binary.writeSigned(value, &$0) } }
    mutating func encode(_ value: UInt) throws { scalar { _Binary.writeUnsigned(UInt64(value), &$0) } }
    mutating func encode(_ value: UInt8) throws { scalar { _Binary.writeUnsigned(UInt64(value), &$0) } }
    mutating func encode(_ value: UInt16) throws { scalar { _Binary.writeUnsigned(UInt64(value), &$0) } }
    mutating func encode(_ value: UInt32) throws { scalar { _Binary.writeUnsigned(UInt64(value), &$0) } }
    mutating func encode(_ value: UInt64) throws { scalar { _Binary.writeUnsigned(value, &$0) } }

    mutating func encode<T: Encodable>(_ value: T) throws {
        guard node.kind == .unset else { return state.fail(codingPath, "a single value container was written twice") }
        try state.encode(value, into: node, path: codingPath)
    }
}
