/// Commands formatted as RESP while they are built, for pipelines of many commands: no
/// array per command or per argument, and an argument can be written in place (a value
/// serialized straight into the buffer).
///
/// ```swift
/// var commands = RedisCommandBuffer()
/// for (key, value) in entries {
///     commands.beginCommand(argumentCount: 5)
///     commands.appendArgument("SET")
///     commands.appendArgument(key)
///     commands.appendArgument(value)            // [UInt8], bytes as they are
///     commands.appendArgument("PX")
///     commands.appendArgument(60_000)           // decimal text
/// }
/// let replies = try await connection.pipeline(commands)   // one reply per command
/// ```
///
/// A command must get exactly the number of arguments it announced before the next one
/// begins or the buffer is sent; anything else is a programming error and stops the
/// process (a short command would make the server read the next one as its arguments).
public struct RedisCommandBuffer: Sendable {
    /// The RESP bytes of the commands.
    public var bytes: [UInt8] { _bytes }
    /// The number of commands.
    public var count: Int { _count }

    @usableFromInline var _bytes: [UInt8] = []
    @usableFromInline var _count = 0
    /// Arguments the current command still needs.
    @usableFromInline var missingArguments = 0

    public init() {}

    /// Reserves room for about `byteCount` bytes of formatted commands.
    public init(capacity byteCount: Int) {
        _bytes.reserveCapacity(byteCount)
    }

    /// Whether every command got all its arguments (the buffer can be sent).
    public var isComplete: Bool { missingArguments == 0 }

    /// Appends a whole command.
    public mutating func append(_ arguments: [RedisArgument]) {
        beginCommand(argumentCount: arguments.count)
        for argument in arguments { appendArgument(argument.bytes) }
    }

    /// Starts a command of `argumentCount` arguments (its name included); append them with
    /// the `appendArgument` methods.
    @inlinable
    public mutating func beginCommand(argumentCount: Int) {
        precondition(missingArguments == 0, "RedisCommandBuffer: the previous command is missing \(missingArguments) argument(s)")
        precondition(argumentCount > 0, "RedisCommandBuffer: a command needs at least its name")
        _bytes.append(UInt8(ascii: "*"))
        Self.appendDecimal(argumentCount, &_bytes)
        _bytes.append(13)
        _bytes.append(10)
        missingArguments = argumentCount
        _count += 1
    }

    /// Appends one argument: `bytes` as they are.
    @inlinable
    public mutating func appendArgument(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { appendArgument($0) }
    }

    /// Appends one argument: `bytes` as they are.
    @inlinable
    public mutating func appendArgument(_ bytes: UnsafeRawBufferPointer) {
        appendArgument(length: bytes.count) { $0.append(contentsOf: bytes) }
    }

    /// Appends one argument: the UTF-8 bytes of `string`.
    public mutating func appendArgument(_ string: String) {
        var string = string
        string.withUTF8 { appendArgument(UnsafeRawBufferPointer($0)) }
    }

    /// Appends one argument: the decimal text of `value`.
    @inlinable
    public mutating func appendArgument(_ value: Int64) {
        var text: (UInt64, UInt64, UInt64) = (0, 0, 0)   // a sign and up to 19 digits
        withUnsafeMutableBytes(of: &text) { raw in
            var magnitude = value.magnitude
            var start = raw.count
            repeat {
                start -= 1
                raw[start] = 48 + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if value < 0 {
                start -= 1
                raw[start] = UInt8(ascii: "-")
            }
            appendArgument(UnsafeRawBufferPointer(rebasing: raw[start...]))
        }
    }

    /// Appends one argument of exactly `length` bytes, which `body` appends to the buffer
    /// it is given (the buffer's bytes before them are not to be changed).
    @inlinable
    public mutating func appendArgument<E: Error>(length: Int, _ body: (inout [UInt8]) throws(E) -> Void) throws(E) {
        beginArgument(length: length)
        let start = _bytes.count
        try body(&_bytes)
        precondition(_bytes.count - start == length,
                     "RedisCommandBuffer: an argument announced \(length) bytes but \(_bytes.count - start) were written")
        _bytes.append(13)
        _bytes.append(10)
        missingArguments -= 1
    }

    /// Checks that the command takes another argument, makes room for `length` bytes and
    /// writes the argument's `$length CRLF` header.
    @inlinable
    mutating func beginArgument(length: Int) {
        precondition(missingArguments > 0, "RedisCommandBuffer: an argument outside a command (call beginCommand first)")
        precondition(length >= 0, "RedisCommandBuffer: a negative argument length")
        let needed = _bytes.count + length + 24
        if needed > _bytes.capacity { _bytes.reserveCapacity(Swift.max(needed, 2 * _bytes.capacity)) }   // grow geometrically
        _bytes.append(UInt8(ascii: "$"))
        Self.appendDecimal(length, &_bytes)
        _bytes.append(13)
        _bytes.append(10)
    }

    /// Appends `count` arguments of the current command that are already formatted as RESP
    /// (each `$length CRLF bytes CRLF`, as ``formatArgument(_:)`` makes them), copied as they
    /// are: for arguments sent again and again, such as a key's name, formatted once.
    @inlinable
    public mutating func appendFormattedArguments(_ formatted: UnsafeRawBufferPointer, count: Int) {
        precondition(count >= 0 && count <= missingArguments,
                     "RedisCommandBuffer: \(count) formatted argument(s) but the command needs \(missingArguments) more")
        assert(Self.argumentCount(formatted) == count, "RedisCommandBuffer: the formatted bytes do not hold exactly \(count) argument(s)")
        _bytes.append(contentsOf: formatted)
        missingArguments -= count
    }

    /// How many whole arguments `formatted` holds (nil if it is not a run of them); for
    /// checks in debug builds.
    @usableFromInline
    static func argumentCount(_ formatted: UnsafeRawBufferPointer) -> Int? {
        var index = 0
        var count = 0
        while index < formatted.count {
            guard formatted[index] == UInt8(ascii: "$") else { return nil }
            var length = 0
            index += 1
            while index < formatted.count, formatted[index] >= 48, formatted[index] <= 57 {
                length = length * 10 + Int(formatted[index] - 48)
                index += 1
            }
            let end = index + 2 + length + 2
            guard end <= formatted.count, formatted[index] == 13, formatted[end - 2] == 13, formatted[end - 1] == 10 else { return nil }
            index = end
            count += 1
        }
        return count
    }

    /// One argument formatted as RESP (`$length CRLF bytes CRLF`), for
    /// ``appendFormattedArguments(_:count:)``.
    public static func formatArgument(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 16)
        out.append(UInt8(ascii: "$"))
        appendDecimal(bytes.count, &out)
        out.append(13)
        out.append(10)
        out.append(contentsOf: bytes)
        out.append(13)
        out.append(10)
        return out
    }

    /// Appends one argument of exactly `length` bytes, which `body` writes into the memory
    /// it is given (all of it; it starts zeroed).
    @inlinable
    public mutating func appendArgument(length: Int, writingInto body: (UnsafeMutableRawBufferPointer) -> Void) {
        beginArgument(length: length)
        let start = _bytes.count
        appendZeros(length)
        _bytes.withUnsafeMutableBytes { body(UnsafeMutableRawBufferPointer(rebasing: $0[start..<start + length])) }
        _bytes.append(13)
        _bytes.append(10)
        missingArguments -= 1
    }

    /// Zeroed bytes to copy from (a copy is much cheaper than appending zeros one by one).
    @usableFromInline static let zeros = [UInt8](repeating: 0, count: 4096)

    @inlinable
    mutating func appendZeros(_ count: Int) {
        var remaining = count
        Self.zeros.withUnsafeBytes { zeros in
            while remaining > 0 {
                let chunk = Swift.min(remaining, zeros.count)
                _bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: zeros[..<chunk]))
                remaining -= chunk
            }
        }
    }

    /// Removes every command, keeping the capacity.
    public mutating func removeAll() {
        _bytes.removeAll(keepingCapacity: true)
        _count = 0
        missingArguments = 0
    }

    @inlinable @inline(__always)
    static func appendDecimal<I: BinaryInteger>(_ value: I, _ out: inout [UInt8]) {
        var value = UInt64(value)
        if value < 10 {
            out.append(48 + UInt8(value))
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)   // up to 20 digits, in reverse
        var count = 0
        withUnsafeMutableBytes(of: &digits) { raw in
            while value > 0 {
                raw[count] = 48 + UInt8(value % 10)
                value /= 10
                count += 1
            }
            while count > 0 {
                count -= 1
                out.append(raw[count])
            }
        }
    }
}
