/// The replies to a pipeline as they were received: their RESP bytes in one array and an
/// index into it, instead of a ``RESPValue`` (and a `[UInt8]` per bulk string) for each.
/// For callers that read many bulk strings and use their bytes where they lie (L2's
/// `MGET` of a batch's values: each entry is checked and decoded in place).
///
/// A reply is named by a ``Reply`` handle: the `index`-th reply of the pipeline is
/// `replies[index]`, an array's elements are ``element(_:of:)``. A bulk string's bytes are
/// `bytes[range(of: reply)!]`.
///
/// ```swift
/// var commands = RedisCommandBuffer()
/// commands.append(["MGET", "a", "b"])
/// let replies = try await connection.rawPipeline(commands)
/// let values = replies[0]
/// for index in 0..<(replies.elementCount(of: values) ?? 0) {
///     let element = replies.element(index, of: values)
///     if let range = replies.range(of: element), replies.kind(of: element) == .bulk {
///         use(replies.bytes[range])                      // no copy per value
///     }
/// }
/// let same = replies.values                              // [RESPValue], as `pipeline` returns
/// ```
///
/// The framing of every reply was checked when it was received (as for ``RESPValue``s);
/// server error replies are in place as ``Kind-swift.enum/error`` replies, not thrown.
public struct RedisRawReplies: Sendable {
    /// What a reply is.
    public enum Kind: UInt8, Sendable {
        /// Nil bulk string (`$-1`) or nil array (`*-1`).
        case null
        /// Integer reply (`:42`); read it with ``integer(of:)``.
        case integer
        /// Bulk string; its bytes are `bytes[range(of:)]`.
        case bulk
        /// Status reply (`+OK`); its text is `bytes[range(of:)]`.
        case status
        /// Error reply (`-ERR …`); its text is `bytes[range(of:)]`.
        case error
        /// Array reply; its elements are ``element(_:of:)``, ``elementCount(of:)`` of them.
        case array
    }

    /// One reply of the pipeline, or an element of one; valid for the ``RedisRawReplies``
    /// it came from.
    public struct Reply: Sendable, Hashable {
        @usableFromInline let node: Int
        @usableFromInline init(node: Int) { self.node = node }
    }

    /// One indexed reply: a bulk string's or a line's bytes (`start`, `count`), an array's
    /// first element's node and element count, or an integer's value (`start`).
    @usableFromInline
    struct Node: Sendable {
        @usableFromInline var kind: Kind
        @usableFromInline var start: Int
        @usableFromInline var count: Int
    }

    /// The replies' RESP bytes as received (framing included); ``range(of:)`` gives where a
    /// bulk string's or a status's or an error's bytes are in it.
    public private(set) var bytes: [UInt8]
    /// Replies `0..<count` are nodes `0..<count`; an array's elements are consecutive nodes
    /// from its `start`.
    @usableFromInline private(set) var nodes: [Node]
    /// The number of replies (one per command of the pipeline).
    public let count: Int
    /// Replies received so far (``count`` once complete).
    private(set) var received = 0

    /// An empty set of replies that `expected` replies will fill (``append(_:from:end:)``).
    init(expected: Int) {
        bytes = []
        nodes = Array(repeating: Node(kind: .null, start: 0, count: 0), count: expected)
        count = expected
    }

    /// The `index`-th reply of the pipeline.
    @inlinable
    public subscript(index: Int) -> Reply {
        precondition(index >= 0 && index < count, "RedisRawReplies: reply \(index) of \(count)")
        return Reply(node: index)
    }

    /// What `reply` is.
    @inlinable
    public func kind(of reply: Reply) -> Kind { nodes[reply.node].kind }

    /// Where the bytes of a bulk string, status or error reply are in ``bytes``; nil for
    /// other replies.
    @inlinable
    public func range(of reply: Reply) -> Range<Int>? {
        let node = nodes[reply.node]
        switch node.kind {
        case .bulk, .status, .error: return node.start..<(node.start + node.count)
        default: return nil
        }
    }

    /// The value of an integer reply; nil for other replies.
    @inlinable
    public func integer(of reply: Reply) -> Int64? {
        let node = nodes[reply.node]
        return node.kind == .integer ? Int64(node.start) : nil
    }

    /// The number of elements of an array reply; nil for other replies.
    @inlinable
    public func elementCount(of reply: Reply) -> Int? {
        let node = nodes[reply.node]
        return node.kind == .array ? node.count : nil
    }

    /// Element `index` of the array reply `reply`.
    @inlinable
    public func element(_ index: Int, of reply: Reply) -> Reply {
        let node = nodes[reply.node]
        precondition(node.kind == .array && index >= 0 && index < node.count, "RedisRawReplies: no element \(index) in this reply")
        return Reply(node: node.start + index)
    }

    /// `reply` as a ``RESPValue`` (what ``RedisConnection/pipeline(_:)`` returns for it).
    public func value(of reply: Reply) -> RESPValue {
        let node = nodes[reply.node]
        switch node.kind {
        case .null: return .null
        case .integer: return .integer(Int64(node.start))
        case .bulk: return .bulk(Array(bytes[node.start..<(node.start + node.count)]))
        case .status: return .status(String(decoding: bytes[node.start..<(node.start + node.count)], as: UTF8.self))
        case .error: return .error(RedisError(serverReply: String(decoding: bytes[node.start..<(node.start + node.count)], as: UTF8.self)))
        case .array: return .array((0..<node.count).map { value(of: Reply(node: node.start + $0)) })
        }
    }

    /// All replies as ``RESPValue``s.
    public var values: [RESPValue] { (0..<count).map { value(of: Reply(node: $0)) } }

    // MARK: Filling (the connection's reader)

    var isComplete: Bool { received == count }

    /// Copies the reply at `from` (complete, its framing checked: it ends at `end`) out of
    /// the reader's buffer and indexes it as the next reply.
    mutating func append(_ buffer: UnsafeMutablePointer<UInt8>, from: Int, end: Int) {
        precondition(received < count, "RedisRawReplies: more replies than commands")
        let shift = bytes.count - from
        bytes.append(contentsOf: UnsafeBufferPointer(start: buffer + from, count: end - from))
        var position = from
        index(buffer, at: &position, shift: shift, into: received)
        precondition(position == end, "RESP index and scan disagree")
        received += 1
    }

    /// Indexes the reply at `position` of the reader's buffer `bytes` as node `slot` and
    /// moves past it; its copy in ``bytes`` is `shift` further on.
    private mutating func index(_ bytes: UnsafeMutablePointer<UInt8>, at position: inout Int, shift: Int, into slot: Int) {
        let (type, lineStart, crlf) = _ReplyReader.line(bytes, at: &position)
        switch type {
        case UInt8(ascii: "+"):
            nodes[slot] = Node(kind: .status, start: lineStart + shift, count: crlf - lineStart)
        case UInt8(ascii: "-"):
            nodes[slot] = Node(kind: .error, start: lineStart + shift, count: crlf - lineStart)
        case UInt8(ascii: ":"):
            nodes[slot] = Node(kind: .integer, start: Int(_ReplyReader.integer(bytes, from: lineStart, to: crlf)!), count: 0)
        case UInt8(ascii: "$"):
            let length = Int(_ReplyReader.integer(bytes, from: lineStart, to: crlf)!)
            if length < 0 {
                nodes[slot] = Node(kind: .null, start: 0, count: 0)
                return
            }
            nodes[slot] = Node(kind: .bulk, start: position + shift, count: length)
            position += length + 2
        default:  // "*"
            let count = Int(_ReplyReader.integer(bytes, from: lineStart, to: crlf)!)
            if count < 0 {
                nodes[slot] = Node(kind: .null, start: 0, count: 0)
                return
            }
            let first = nodes.count
            nodes.append(contentsOf: repeatElement(Node(kind: .null, start: 0, count: 0), count: count))
            nodes[slot] = Node(kind: .array, start: first, count: count)
            for element in 0..<count { index(bytes, at: &position, shift: shift, into: first + element) }
        }
    }
}
