/// A Swift type that can be created from a result column.
///
/// Results arrive in PostgreSQL's text format. Built-in conformances: `String` (any
/// column), `Int`, `Int64`, `Int32`, `Int16`, `UInt8`, `Double`, `Float`, `Bool`,
/// `UUID`, `Date` (`timestamptz`, `timestamp` read as UTC, `date`), one-dimensional
/// arrays of decodable values (`[String]`, `[String?]`, `[Int]`, ...), `[UInt8]` from
/// `bytea`, ``PostgresJSON`` and `Optional` (NULL becomes `nil`; NULL into a
/// non-optional type is a ``PostgresError/Code/decoding`` error naming the column).
///
/// ```swift
/// struct Email: PostgresDecodable {
///     var address: String
///     init(postgresText text: String, type: PostgresDataType) throws {
///         guard text.contains("@") else { throw PostgresError(code: .decoding, message: "not an email") }
///         address = text
///     }
/// }
/// let email = try row.decode(Email.self, at: 0)
/// ```
public protocol PostgresDecodable {
    /// Creates a value from the text of a non-NULL cell of the given column type.
    init(postgresText text: String, type: PostgresDataType) throws
    /// The value SQL NULL decodes to, or `nil` when the type cannot represent NULL
    /// (the default). `Optional` returns `.some(nil)`.
    static var postgresNull: Self? { get }
}

extension PostgresDecodable {
    public static var postgresNull: Self? { nil }
}

/// Why a value could not be decoded; wrapped into a ``PostgresError`` that names the column.
struct _DecodingFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Shortens a value for error messages.
func _preview(_ text: String) -> String {
    let limit = 60
    if text.count <= limit { return "'\(text)'" }
    return "'\(text.prefix(limit))...'"
}
