/// The one error type of `StrataPostgres`.
///
/// Server errors carry the SQLSTATE and the fields PostgreSQL sends (message, detail,
/// hint, constraint, ...); client-side failures (connecting, a lost connection,
/// decoding a value) carry a ``Code`` and a message that says what to check.
///
/// ```swift
/// do {
///     try await connection.query("insert into users(id) values ($1)", 1)
/// } catch let error as PostgresError where error.sqlState == "23505" {
///     logger.info("already there", metadata: ["detail": "\(error.detail ?? "")"])
/// }
/// ```
///
/// `description` is a single line, for example
/// `PostgreSQL error 42P01: relation "x" does not exist`.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is. Extensible: new codes may be added in later versions,
    /// so `switch` over it with a `default:` clause.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum _Base: String, Hashable, Sendable {
            case connectionFailed
            case invalidConnectionString
            case server
            case connectionClosed
            case timeout
            case decoding
            case encoding
            case protocolViolation
            case unsupported
        }

        private let _base: _Base
        private init(_ base: _Base) { self._base = base }

        /// The server could not be reached, refused the connection or rejected the login.
        public static let connectionFailed = Code(.connectionFailed)
        /// The URL or conninfo string could not be parsed; nothing was attempted.
        public static let invalidConnectionString = Code(.invalidConnectionString)
        /// The server answered a statement with an error; see ``PostgresError/sqlState``.
        public static let server = Code(.server)
        /// The connection was lost or closed before or while the call ran.
        public static let connectionClosed = Code(.connectionClosed)
        /// Connecting took longer than the `connectTimeout`.
        public static let timeout = Code(.timeout)
        /// A value could not be decoded into the requested Swift type.
        public static let decoding = Code(.decoding)
        /// A parameter could not be encoded (for example JSON encoding failed).
        public static let encoding = Code(.encoding)
        /// libpq or the server did something this client does not expect.
        public static let protocolViolation = Code(.protocolViolation)
        /// The statement needs a feature this client does not offer (for example `COPY`).
        public static let unsupported = Code(.unsupported)

        public var description: String { _base.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// The five-character SQLSTATE for errors reported by the server (`23505`, `57014`, ...).
    public var sqlState: String?
    /// The primary message (one line).
    public var message: String
    /// The server's DETAIL field, for example `Key (id)=(1) already exists.`
    public var detail: String?
    /// The server's HINT field, or advice from this client on what to check.
    public var hint: String?
    /// The non-localized severity: `ERROR`, `FATAL` or `PANIC`.
    public var severity: String?
    /// The server's CONTEXT field (call stack of PL/pgSQL functions and the like).
    public var context: String?
    /// Schema, table, column, data type and constraint names the server associated with the error.
    public var schemaName: String?
    public var tableName: String?
    public var columnName: String?
    public var dataTypeName: String?
    public var constraintName: String?
    /// 1-based character position in the statement the error refers to.
    public var position: Int?
    /// For connection errors: where the client tried to connect (`host=... port=... dbname=... user=...`).
    public var target: String?

    public init(
        code: Code,
        message: String,
        sqlState: String? = nil,
        detail: String? = nil,
        hint: String? = nil,
        target: String? = nil
    ) {
        self.code = code
        self.message = _oneLine(message)
        self.sqlState = sqlState
        self.detail = detail.map(_oneLine)
        self.hint = hint.map(_oneLine)
        self.target = target
    }

    public var description: String {
        var text: String
        switch code {
        case .server:
            text = "PostgreSQL error \(sqlState ?? "?????"): \(message)"
        case .connectionFailed:
            text = "could not connect to PostgreSQL (\(target ?? "default connection parameters")): \(message)"
        case .timeout:
            text = "timed out connecting to PostgreSQL (\(target ?? "default connection parameters")): \(message)"
        case .connectionClosed:
            text = "PostgreSQL connection closed: \(message)"
            if let sqlState { text += " [SQLSTATE \(sqlState)]" }
        case .invalidConnectionString:
            text = message
        default:
            text = "PostgreSQL client error (\(code)): \(message)"
            if let sqlState { text += " [SQLSTATE \(sqlState)]" }
        }
        var extras: [String] = []
        if let detail, !detail.isEmpty { extras.append("detail: \(detail)") }
        if let hint, !hint.isEmpty { extras.append("hint: \(hint)") }
        if !extras.isEmpty { text += " (" + extras.joined(separator: "; ") + ")" }
        return text
    }
}

extension PostgresError {
    static func decoding(_ message: String) -> PostgresError {
        PostgresError(code: .decoding, message: message)
    }

    static func closed(_ message: String, sqlState: String? = nil) -> PostgresError {
        PostgresError(code: .connectionClosed, message: message, sqlState: sqlState)
    }
}

/// Collapses libpq's multi-line messages ("...\n\tThis probably means ...\n") into one line.
func _oneLine(_ text: String) -> String {
    var lines: [Substring] = []
    for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
        let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
        if !trimmed.isEmpty { lines.append(trimmed) }
    }
    var out = ""
    for line in lines {
        if out.isEmpty {
            out = String(line)
        } else if out.hasSuffix(".") || out.hasSuffix("?") || out.hasSuffix(":") {
            out += " " + line
        } else {
            out += "; " + line
        }
    }
    return out
}
