/// One argument of a Redis command, as raw bytes (binary-safe: NUL bytes and invalid
/// UTF-8 are sent unchanged).
///
/// ```swift
/// let payload: [UInt8] = [0x00, 0xFF, 0x10]
/// try await connection.send(["SET", "blob", RedisArgument(payload), "EX", 60])
/// try await connection.send("EXPIRE", "blob", RedisArgument(ttl))
/// ```
public struct RedisArgument: Sendable, Hashable {
    /// The bytes sent to the server.
    public var bytes: [UInt8]

    /// The UTF-8 bytes of `string`.
    @inlinable
    public init(_ string: String) { self.bytes = Array(string.utf8) }

    /// The bytes unchanged.
    @inlinable
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The decimal text of `int`.
    @inlinable
    public init(_ int: Int) { self.bytes = Array(String(int).utf8) }

    /// The decimal text of `int`.
    @inlinable
    public init(_ int: Int64) { self.bytes = Array(String(int).utf8) }

    /// The shortest decimal text that round-trips `double` (for `INCRBYFLOAT`, scores).
    @inlinable
    public init(_ double: Double) { self.bytes = Array(double.description.utf8) }
}
