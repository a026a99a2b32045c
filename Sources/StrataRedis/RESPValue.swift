/// A typed reply from the Redis server (RESP2).
///
/// Bulk strings are raw bytes (binary-safe); status replies (`+OK`) are strings;
/// a nil bulk string and a nil array both are ``null``. Error replies are carried as
/// ``error(_:)`` inside ``RedisConnection/pipeline(_:)`` results and nested arrays
/// (for example `EXEC`); a top-level error reply to ``RedisConnection/send(_:)`` is thrown.
///
/// ```swift
/// let reply = try await connection.send("HGETALL", "user:1")
/// for pair in reply.array ?? [] { print(pair.string ?? "<binary>") }
/// let n = try await connection.send("INCR", "counter").int   // Int64?
/// ```
public enum RESPValue: Sendable, Hashable {
    /// Nil bulk string (`$-1`) or nil array (`*-1`).
    case null
    /// Integer reply (`:42`).
    case integer(Int64)
    /// Bulk string (`$3 abc`), as raw bytes.
    case bulk([UInt8])
    /// Status reply (`+OK`, `+PONG`, `+QUEUED`).
    case status(String)
    /// Error reply (`-WRONGTYPE ...`), with the server's prefix kept.
    case error(RedisError)
    /// Array reply, possibly nested.
    case array([RESPValue])
}
