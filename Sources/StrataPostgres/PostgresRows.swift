/// The rows a statement returned, with its column descriptions and command tag.
///
/// A random-access collection of ``PostgresRow``. The values stay in libpq's result
/// (no copy) until the last row referring to them is released.
///
/// ```swift
/// let rows = try await connection.query("select id, name from users where team = $1", "core")
/// for row in rows {
///     let id = try row.decode(Int.self, at: 0)
///     let name = try row.decode(String?.self, column: "name")
/// }
/// let updated = try await connection.query("update users set active = false").affectedRows
/// ```
public struct PostgresRows: RandomAccessCollection, Sendable {
    let _result: _ResultBox

    init(_ result: _ResultBox) { self._result = result }

    public typealias Index = Int
    public var startIndex: Int { 0 }
    public var endIndex: Int { _result.rowCount }
    public subscript(position: Int) -> PostgresRow {
        precondition(position >= 0 && position < _result.rowCount, "row index \(position) out of range 0..<\(_result.rowCount)")
        return PostgresRow(_result: _result, _row: position)
    }

    /// The result's columns in order.
    public var columns: [PostgresColumn] { _result.columns }
    /// The column names in order.
    public var columnNames: [String] { _result.columns.map(\.name) }
    /// Rows affected by INSERT/UPDATE/DELETE/MERGE, rows returned by SELECT, 0 otherwise (`PQcmdTuples`).
    public var affectedRows: Int { _result.affectedRows }
    /// The command tag, e.g. `INSERT 0 1` or `SELECT 3` (`PQcmdStatus`).
    public var commandTag: String { _result.commandTag }
}
