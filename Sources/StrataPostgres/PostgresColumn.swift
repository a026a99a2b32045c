/// A result column: its name, position and type.
///
/// ```swift
/// let rows = try await connection.query("select 1 as one")
/// print(rows.columns[0].name, rows.columns[0].dataType)  // one int4
/// ```
public struct PostgresColumn: Hashable, Sendable, CustomStringConvertible {
    /// The column's name as the server reports it (`?column?` for unnamed expressions).
    public var name: String
    /// 0-based position in the row.
    public var index: Int
    /// The column's type.
    public var dataType: PostgresDataType

    public init(name: String, index: Int, dataType: PostgresDataType) {
        self.name = name
        self.index = index
        self.dataType = dataType
    }

    public var description: String { "\"\(name)\" (#\(index), \(dataType))" }
}
