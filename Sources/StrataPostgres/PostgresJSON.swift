import Foundation

/// A `json`/`jsonb` value holding a `Codable` Swift value.
///
/// As a parameter it is sent as `jsonb`; as a result it decodes from any column whose
/// text is JSON (`json`, `jsonb`, or `text`).
///
/// ```swift
/// struct Prefs: Codable, Sendable { var theme: String }
/// try await connection.query("update users set prefs = $1 where id = $2", PostgresJSON(Prefs(theme: "dark")), 7)
/// let prefs = try row.decode(PostgresJSON<Prefs>.self, at: 0).value
/// // or: try row.decodeJSON(Prefs.self, at: 0)
/// ```
public struct PostgresJSON<Value> {
    public var value: Value
    public init(_ value: Value) { self.value = value }
}

extension PostgresJSON: Sendable where Value: Sendable {}
extension PostgresJSON: Equatable where Value: Equatable {}
extension PostgresJSON: Hashable where Value: Hashable {}

extension PostgresJSON: PostgresEncodable where Value: Encodable {
    public func encodePostgresText() throws -> String? {
        do {
            let data = try JSONEncoder().encode(value)
            return String(decoding: data, as: UTF8.self)
        } catch {
            throw PostgresError(code: .encoding, message: "could not encode \(Value.self) as JSON: \(error)")
        }
    }
    public static var postgresDataType: PostgresDataType { .jsonb }
    public static var postgresArrayDataType: PostgresDataType { .jsonbArray }
}

extension PostgresJSON: PostgresDecodable where Value: Decodable {
    public init(postgresText text: String, type: PostgresDataType) throws {
        self.value = try _decodeJSON(Value.self, from: text, decoder: JSONDecoder())
    }
}

func _decodeJSON<T: Decodable>(_ type: T.Type, from text: String, decoder: JSONDecoder) throws -> T {
    do {
        return try decoder.decode(T.self, from: Data(text.utf8))
    } catch {
        throw _DecodingFailure("\(_preview(text)) is not JSON for \(T.self): \(error)")
    }
}
