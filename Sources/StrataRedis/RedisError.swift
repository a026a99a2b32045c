/// The one error type of `StrataRedis`.
///
/// A `RedisError` is either an error reply from the server (``Code-swift.struct/server``),
/// which keeps the server's error prefix such as `WRONGTYPE`, `NOAUTH`, `WRONGPASS`,
/// `NOSCRIPT` or `BUSY` in ``prefix``, or a client-side failure (connection, timeout,
/// protocol, configuration, pool) whose ``message`` says what happened and what to do.
///
/// ```swift
/// do {
///     _ = try await connection.send("LPUSH", "a-string-key", "x")
/// } catch let error as RedisError where error.prefix == "WRONGTYPE" {
///     // the key holds another type
/// } catch let error as RedisError where error.code == .timeout {
///     // the connection is closed now; take another one
/// }
/// ```
public struct RedisError: Error, CustomStringConvertible, Sendable, Hashable {
    /// What kind of failure this is. Extensible: new codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case server
            case connectionFailed
            case connectionClosed
            case timeout
            case protocolError
            case invalidConfiguration
            case invalidArgument
            case poolClosed
            case poolTimeout
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The server answered with an error reply; see ``RedisError/prefix``.
        public static let server = Code(.server)
        /// Connecting, authenticating or selecting the database failed.
        public static let connectionFailed = Code(.connectionFailed)
        /// The connection is closed: by ``RedisConnection/close()``, by the server, or
        /// after an earlier I/O error. Take a new connection.
        public static let connectionClosed = Code(.connectionClosed)
        /// No reply within the command timeout. The connection was closed because its
        /// reply stream can no longer be trusted.
        public static let timeout = Code(.timeout)
        /// The server sent something hiredis could not parse. The connection was closed.
        public static let protocolError = Code(.protocolError)
        /// The ``RedisConfiguration`` or its URL is not usable.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// A command was malformed on the client side (for example empty).
        public static let invalidArgument = Code(.invalidArgument)
        /// The ``RedisConnectionPool`` was closed.
        public static let poolClosed = Code(.poolClosed)
        /// No connection of the ``RedisConnectionPool`` became free within its
        /// ``RedisConnectionPool/connectionWaitTimeout``: every connection stayed in use.
        public static let poolTimeout = Code(.poolTimeout)

        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// For server errors, the server's error prefix (`"ERR"`, `"WRONGTYPE"`, `"NOAUTH"`,
    /// `"WRONGPASS"`, `"NOSCRIPT"`, `"BUSY"`, `"MOVED"`, ...); `nil` otherwise.
    public var prefix: String?
    /// The human-readable part. For server errors the text after the prefix.
    public var message: String

    public init(code: Code, prefix: String? = nil, message: String) {
        self.code = code
        self.prefix = prefix
        self.message = message
    }

    /// Builds a server error from the text of an error reply, splitting off the
    /// all-caps prefix: `"WRONGTYPE Operation against ..."` → prefix `WRONGTYPE`.
    public init(serverReply text: String) {
        let firstWord = text.prefix(while: { $0 != " " })
        let isPrefix = !firstWord.isEmpty && firstWord.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
        if isPrefix {
            self.init(code: .server, prefix: String(firstWord), message: String(text.dropFirst(firstWord.count).drop(while: { $0 == " " })))
        } else {
            self.init(code: .server, prefix: nil, message: text)
        }
    }

    public var description: String {
        if code == .server {
            guard let prefix else { return message }
            return message.isEmpty ? prefix : "\(prefix) \(message)"
        }
        return "\(code): \(message)"
    }
}
