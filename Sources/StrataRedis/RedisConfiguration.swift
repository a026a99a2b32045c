/// Where and how to connect to Redis.
///
/// ```swift
/// var configuration = try RedisConfiguration(url: "redis://worker:s3cret@127.0.0.1:6379/2")
/// configuration.commandTimeout = .milliseconds(200)
/// let connection = try await RedisConnection.connect(configuration)
///
/// let local = RedisConfiguration(unixSocketPath: "/run/redis/redis.sock", password: "s3cret")
/// ```
public struct RedisConfiguration: Sendable, Hashable {
    /// A TCP host and port, or a unix domain socket.
    public enum Endpoint: Sendable, Hashable, CustomStringConvertible {
        case tcp(host: String, port: Int)
        case unixSocket(path: String)

        public var description: String {
            switch self {
            case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            case .unixSocket(let path): return "unix:\(path)"
            }
        }
    }

    /// Where the server listens.
    public var endpoint: Endpoint
    /// ACL user for `AUTH username password` (Redis 6+). Needs ``password``.
    public var username: String?
    /// Password for `AUTH`; with no ``username`` this authenticates the `default` user
    /// (`requirepass`).
    public var password: String?
    /// Database number to `SELECT` after connecting (0 means no `SELECT` is sent).
    public var database: Int
    /// Limit for establishing the connection and for the `AUTH`/`SELECT` handshake.
    public var connectTimeout: Duration
    /// Limit for each reply (socket read/write timeout); `nil` waits forever. A command
    /// that times out closes its connection.
    public var commandTimeout: Duration?

    /// A TCP endpoint.
    public init(
        host: String = "127.0.0.1",
        port: Int = 6379,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        connectTimeout: Duration = .seconds(5),
        commandTimeout: Duration? = .seconds(5)
    ) {
        self.endpoint = .tcp(host: host, port: port)
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
    }

    /// A unix domain socket endpoint.
    public init(
        unixSocketPath: String,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        connectTimeout: Duration = .seconds(5),
        commandTimeout: Duration? = .seconds(5)
    ) {
        self.endpoint = .unixSocket(path: unixSocketPath)
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
    }

    /// The TCP host, or `nil` for a unix socket.
    public var host: String? {
        if case .tcp(let host, _) = endpoint { return host }
        return nil
    }

    /// The TCP port, or `nil` for a unix socket.
    public var port: Int? {
        if case .tcp(_, let port) = endpoint { return port }
        return nil
    }

    /// The unix socket path, or `nil` for TCP.
    public var unixSocketPath: String? {
        if case .unixSocket(let path) = endpoint { return path }
        return nil
    }

    /// Throws ``RedisError/Code-swift.struct/invalidConfiguration`` when a value cannot work.
    public func validate() throws(RedisError) {
        func invalid(_ message: String) -> RedisError { RedisError(code: .invalidConfiguration, message: message) }
        switch endpoint {
        case .tcp(let host, let port):
            if host.isEmpty { throw invalid("the host is empty") }
            if !(1...65535).contains(port) { throw invalid("port \(port) is outside 1...65535") }
        case .unixSocket(let path):
            if path.isEmpty { throw invalid("the unix socket path is empty") }
            if path.utf8.count >= 108 { throw invalid("the unix socket path is longer than 107 bytes: \(path)") }
        }
        if username != nil && password == nil {
            throw invalid("a username needs a password (AUTH username password)")
        }
        if database < 0 { throw invalid("database \(database) is negative") }
        if connectTimeout <= .zero { throw invalid("connectTimeout must be positive, got \(connectTimeout)") }
        if let commandTimeout, commandTimeout <= .zero {
            throw invalid("commandTimeout must be positive or nil (no timeout), got \(commandTimeout)")
        }
    }
}
