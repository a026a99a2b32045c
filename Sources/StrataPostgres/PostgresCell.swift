import Foundation

/// One value of a row: its column and its raw text (`nil` for SQL NULL).
///
/// ```swift
/// let cell = row[0]
/// if cell.isNull { ... }
/// let value = try cell.decode(Int.self)
/// ```
public struct PostgresCell: Sendable, CustomStringConvertible {
    /// The column the value belongs to.
    public var column: PostgresColumn
    /// The value in PostgreSQL's text output format, or `nil` for NULL.
    public var text: String?

    public init(column: PostgresColumn, text: String?) {
        self.column = column
        self.text = text
    }

    /// Whether the value is SQL NULL.
    public var isNull: Bool { text == nil }

    /// Decodes the value. NULL decodes only into types with a ``PostgresDecodable/postgresNull`` (Optional).
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self) throws -> T {
        guard let text else {
            if let null = T.postgresNull { return null }
            throw PostgresError.decoding("column \(column) is NULL, which \(T.self) cannot hold; decode as \(T.self)? instead")
        }
        do {
            return try T(postgresText: text, type: column.dataType)
        } catch let error as PostgresError where error.code == .decoding {
            throw PostgresError.decoding("cannot decode column \(column) as \(T.self): \(error.message)")
        } catch {
            throw PostgresError.decoding("cannot decode column \(column) as \(T.self): \(error)")
        }
    }

    /// Decodes JSON text with `JSONDecoder`.
    public func decodeJSON<T: Decodable>(_ type: T.Type, decoder: JSONDecoder = JSONDecoder()) throws -> T {
        guard let text else {
            throw PostgresError.decoding("column \(column) is NULL, which \(T.self) cannot hold")
        }
        do {
            return try _decodeJSON(T.self, from: text, decoder: decoder)
        } catch {
            throw PostgresError.decoding("cannot decode column \(column) as \(T.self): \(error)")
        }
    }

    public var description: String { text ?? "NULL" }
}
