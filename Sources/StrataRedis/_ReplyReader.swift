#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Receives bytes from a socket and parses RESP2 replies out of them straight into
/// ``RESPValue``s: one allocation per bulk string or array, none for the framing (hiredis's
/// reader builds a `redisReply` tree first, two allocations per string, which the
/// caller then copies and frees).
///
/// A reply is parsed only once all of it has arrived: ``next()`` first checks the framing
/// without allocating and returns `nil` while bytes are missing.
struct _ReplyReader: ~Copyable {
    private var buffer: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    /// Unparsed bytes are `start..<end`.
    private var start = 0
    private var end = 0

    private static let readSize = 16 * 1024
    private static let retainedCapacity = 256 * 1024
    /// Deeper nesting is a protocol error (Redis nests a few levels at most).
    private static let maximumDepth = 32

    init() {
        capacity = 2 * Self.readSize
        buffer = .allocate(capacity: capacity)
    }

    deinit { buffer.deallocate() }

    /// Whether received bytes are waiting to be parsed.
    var hasBufferedBytes: Bool { start < end }

    /// Drops everything received (the connection is closed).
    mutating func reset() {
        start = 0
        end = 0
    }

    enum Receive {
        case received
        /// Nothing to read now (non-blocking) or the receive timeout passed (blocking).
        case wouldBlock
        case closed
        case failed(Int32)
    }

    /// One `recv` into the buffer. `flags`: `MSG_DONTWAIT` for a read that must not block;
    /// `0` blocks up to the socket's receive timeout.
    mutating func receive(from descriptor: Int32, flags: Int32) -> Receive {
        makeRoom()
        while true {
            let count = recv(descriptor, buffer + end, capacity - end, flags)
            if count > 0 {
                end += count
                return .received
            }
            if count == 0 { return .closed }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
            return .failed(code)
        }
    }

    private mutating func makeRoom() {
        if start == end {
            start = 0
            end = 0
            if capacity > Self.retainedCapacity {
                buffer.deallocate()
                capacity = 2 * Self.readSize
                buffer = .allocate(capacity: capacity)
            }
        }
        if capacity - end >= Self.readSize { return }
        if start > 0 {
            (buffer).update(from: buffer + start, count: end - start)
            end -= start
            start = 0
        }
        if capacity - end < Self.readSize {
            let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * 2)
            grown.update(from: buffer, count: end)
            buffer.deallocate()
            buffer = grown
            capacity *= 2
        }
    }

    struct ProtocolError: Error {
        var reason: String
    }

    /// The next complete reply, or `nil` if more bytes are needed.
    mutating func next() throws(ProtocolError) -> RESPValue? {
        guard start < end else { return nil }
        guard let replyEnd = try Self.scan(buffer, from: start, end: end, depth: 0) else { return nil }
        var position = start
        let value = Self.build(buffer, at: &position)
        precondition(position == replyEnd, "RESP build and scan disagree")
        start = replyEnd
        if start == end {
            start = 0
            end = 0
        }
        return value
    }

    /// Moves the next complete reply into `replies` (its bytes copied, indexed): false if
    /// more bytes are needed.
    mutating func next(into replies: inout RedisRawReplies) throws(ProtocolError) -> Bool {
        guard start < end else { return false }
        guard let replyEnd = try Self.scan(buffer, from: start, end: end, depth: 0) else { return false }
        replies.append(buffer, from: start, end: replyEnd)
        start = replyEnd
        if start == end {
            start = 0
            end = 0
        }
        return true
    }

    /// A decimal integer between `from` and `to` (exclusive).
    @inline(__always)
    static func integer(_ bytes: UnsafeMutablePointer<UInt8>, from: Int, to: Int) -> Int64? {
        var index = from
        var negative = false
        if index < to && bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        guard index < to, to - index <= 19 else { return nil }
        var value: Int64 = 0
        while index < to {
            let digit = bytes[index] &- 48
            guard digit < 10 else { return nil }
            value = value &* 10 &+ Int64(digit)
            index += 1
        }
        return negative ? -value : value
    }

    /// Checks the framing of one reply at `from`: the index after it, `nil` if incomplete.
    private static func scan(_ bytes: UnsafeMutablePointer<UInt8>, from: Int, end: Int, depth: Int) throws(ProtocolError) -> Int? {
        guard from < end else { return nil }
        let type = bytes[from]
        // A line of text must end in CRLF; a bare CR inside it is malformed.
        var crlf = from + 1
        while true {
            guard crlf + 1 < end else { return nil }
            if bytes[crlf] == 13 { break }
            crlf += 1
        }
        guard bytes[crlf + 1] == 10 else { throw ProtocolError(reason: "a reply line ends in CR without LF") }
        let lineEnd = crlf + 2
        switch type {
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            return lineEnd
        case UInt8(ascii: ":"):
            guard integer(bytes, from: from + 1, to: crlf) != nil else { throw ProtocolError(reason: "bad integer reply") }
            return lineEnd
        case UInt8(ascii: "$"):
            guard let length = integer(bytes, from: from + 1, to: crlf), length >= -1, length <= 512 * 1024 * 1024 else {
                throw ProtocolError(reason: "bad bulk string length")
            }
            if length == -1 { return lineEnd }
            let after = lineEnd + Int(length) + 2
            guard after <= end else { return nil }
            guard bytes[after - 2] == 13, bytes[after - 1] == 10 else { throw ProtocolError(reason: "a bulk string does not end in CRLF") }
            return after
        case UInt8(ascii: "*"):
            guard let count = integer(bytes, from: from + 1, to: crlf), count >= -1, count <= Int64(Int32.max) else {
                throw ProtocolError(reason: "bad array length")
            }
            if count <= 0 { return lineEnd }
            guard depth < maximumDepth else { throw ProtocolError(reason: "replies nested more than \(maximumDepth) deep") }
            var position = lineEnd
            for _ in 0..<count {
                guard let next = try scan(bytes, from: position, end: end, depth: depth + 1) else { return nil }
                position = next
            }
            return position
        default:
            throw ProtocolError(reason: "unknown reply type byte \(type)")
        }
    }

    /// The type byte and the line (`lineStart..<crlf`) of the reply at `position` (already
    /// checked by `scan`); moves `position` past the line's CRLF.
    static func line(_ bytes: UnsafeMutablePointer<UInt8>, at position: inout Int) -> (type: UInt8, lineStart: Int, crlf: Int) {
        let type = bytes[position]
        let lineStart = position + 1
        var crlf = lineStart
        while bytes[crlf] != 13 { crlf += 1 }
        position = crlf + 2
        return (type, lineStart, crlf)
    }

    /// Builds the reply at `position` (already checked by `scan`) and moves past it.
    private static func build(_ bytes: UnsafeMutablePointer<UInt8>, at position: inout Int) -> RESPValue {
        let (type, lineStart, crlf) = line(bytes, at: &position)
        switch type {
        case UInt8(ascii: "+"):
            // `OK`, the reply of every SET, without decoding it.
            if crlf - lineStart == 2 && bytes[lineStart] == UInt8(ascii: "O") && bytes[lineStart + 1] == UInt8(ascii: "K") { return .status("OK") }
            return .status(String(decoding: UnsafeBufferPointer(start: bytes + lineStart, count: crlf - lineStart), as: UTF8.self))
        case UInt8(ascii: "-"):
            return .error(RedisError(serverReply: String(decoding: UnsafeBufferPointer(start: bytes + lineStart, count: crlf - lineStart), as: UTF8.self)))
        case UInt8(ascii: ":"):
            return .integer(integer(bytes, from: lineStart, to: crlf)!)
        case UInt8(ascii: "$"):
            let length = Int(integer(bytes, from: lineStart, to: crlf)!)
            if length < 0 { return .null }
            let value = length == 0 ? [] : Array(UnsafeBufferPointer(start: bytes + position, count: length))
            position += length + 2
            return .bulk(value)
        default:  // "*"
            let count = Int(integer(bytes, from: lineStart, to: crlf)!)
            if count < 0 { return .null }
            var elements: [RESPValue] = []
            elements.reserveCapacity(count)
            for _ in 0..<count { elements.append(build(bytes, at: &position)) }
            return .array(elements)
        }
    }
}
