import Foundation

/// One row of ``PostgresRows``.
///
/// ```swift
/// let row = try await connection.query("select 1 as n, 'x' as s, null::text as missing").first!
/// let n = try row.decode(Int.self, at: 0)
/// let s = try row.decode(String.self, column: "s")
/// let missing = try row.decode(String?.self, at: 2)      // nil
/// let raw = row["s"]?.text                               // "x"
/// ```
public struct PostgresRow: Sendable {
    let _result: _ResultBox
    let _row: Int

    /// The row's columns in order.
    public var columns: [PostgresColumn] { _result.columns }
    /// The number of columns.
    public var count: Int { _result.columns.count }

    /// The cell at a 0-based column index (traps when out of range, like an array).
    public subscript(column: Int) -> PostgresCell {
        precondition(column >= 0 && column < _result.columns.count, "column index \(column) out of range 0..<\(_result.columns.count)")
        return PostgresCell(column: _result.columns[column], text: _result.text(row: _row, column: column))
    }

    /// The cell of the first column with this name, or `nil` if there is none.
    public subscript(column name: String) -> PostgresCell? {
        guard let index = _result.columnIndexByName[name] else { return nil }
        return self[index]
    }

    /// The cell of the first column with this name, or `nil` if there is none.
    public subscript(name: String) -> PostgresCell? { self[column: name] }

    /// Decodes the value at a 0-based column index.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, at column: Int) throws -> T {
        guard column >= 0 && column < _result.columns.count else {
            throw PostgresError.decoding("column index \(column) is out of range; the row has \(_result.columns.count) columns")
        }
        return try self[column].decode(T.self)
    }

    /// Decodes the value of the first column with this name.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, column name: String) throws -> T {
        guard let index = _result.columnIndexByName[name] else {
            throw PostgresError.decoding("no column named \"\(name)\"; the row has \(_result.columns.map { "\"\($0.name)\"" }.joined(separator: ", "))")
        }
        return try self[index].decode(T.self)
    }

    /// Decodes a `json`/`jsonb` (or JSON text) column with `JSONDecoder`.
    public func decodeJSON<T: Decodable>(_ type: T.Type, at column: Int, decoder: JSONDecoder = JSONDecoder()) throws -> T {
        guard column >= 0 && column < _result.columns.count else {
            throw PostgresError.decoding("column index \(column) is out of range; the row has \(_result.columns.count) columns")
        }
        return try self[column].decodeJSON(T.self, decoder: decoder)
    }

    /// Decodes a `json`/`jsonb` (or JSON text) column, found by name, with `JSONDecoder`.
    public func decodeJSON<T: Decodable>(_ type: T.Type, column name: String, decoder: JSONDecoder = JSONDecoder()) throws -> T {
        guard let index = _result.columnIndexByName[name] else {
            throw PostgresError.decoding("no column named \"\(name)\"")
        }
        return try self[index].decodeJSON(T.self, decoder: decoder)
    }
}
