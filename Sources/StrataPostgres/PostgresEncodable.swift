/// A Swift value that can be sent as a statement parameter (`$1`, `$2`, ...).
///
/// Parameters travel in PostgreSQL's text format. Built-in conformances: `String`,
/// `Int`, `Int64`, `Int32`, `Int16`, `UInt8`, `Double`, `Float`, `Bool`, `UUID`,
/// `Date` (as `timestamptz`), arrays of encodable values (as an array literal,
/// one-dimensional), `[UInt8]` (as `bytea`), ``PostgresJSON`` (as `jsonb`) and
/// `Optional` (`nil` is SQL NULL).
///
/// ```swift
/// struct UserID: PostgresEncodable {
///     var raw: Int64
///     func encodePostgresText() throws -> String? { String(raw) }
///     static var postgresDataType: PostgresDataType { .int8 }
/// }
/// try await connection.query("select * from users where id = $1", UserID(raw: 42))
/// ```
public protocol PostgresEncodable {
    /// The value in PostgreSQL's text input format, or `nil` for SQL NULL.
    func encodePostgresText() throws -> String?
    /// The type OID sent with the parameter. ``PostgresDataType/unspecified`` (the default)
    /// lets the server infer it from the statement.
    static var postgresDataType: PostgresDataType { get }
    /// The OID of the array type whose elements are `Self`, used when an array of
    /// `Self` is a parameter. Defaults to ``PostgresDataType/unspecified``.
    static var postgresArrayDataType: PostgresDataType { get }
}

extension PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .unspecified }
    public static var postgresArrayDataType: PostgresDataType { .unspecified }
}
