// Conformances of Foundation types to PostgresEncodable and PostgresDecodable.
import Foundation

extension UUID: PostgresEncodable, PostgresDecodable {
    public func encodePostgresText() throws -> String? { uuidString.lowercased() }
    public static var postgresDataType: PostgresDataType { .uuid }
    public static var postgresArrayDataType: PostgresDataType { .uuidArray }

    public init(postgresText text: String, type: PostgresDataType) throws {
        guard let uuid = UUID(uuidString: text) else {
            throw _DecodingFailure("\(_preview(text)) is not a UUID")
        }
        self = uuid
    }
}

/// `Date` is sent as `timestamptz` with microsecond precision (PostgreSQL's own). It
/// decodes from `timestamptz`, from `timestamp` (taken as UTC) and from `date`
/// (midnight UTC). `infinity` and `-infinity` map to `Date.distantFuture` and
/// `Date.distantPast` and back.
extension Date: PostgresEncodable, PostgresDecodable {
    public func encodePostgresText() throws -> String? { _Timestamp.format(self) }
    public static var postgresDataType: PostgresDataType { .timestamptz }
    public static var postgresArrayDataType: PostgresDataType { .timestamptzArray }

    public init(postgresText text: String, type: PostgresDataType) throws {
        guard let date = _Timestamp.parse(text) else {
            throw _DecodingFailure("\(_preview(text)) is not an ISO timestamp")
        }
        self = date
    }
}
