/// One unit of work for the connection thread.
final class _Request: Sendable {
    enum Kind: Sendable {
        /// Extended protocol (`PQsendQueryParams`): one statement, text parameters.
        case query(sql: String, parameters: [String?], types: [UInt32])
        /// A named prepared statement of the connection (`PQsendPrepare` once per connection,
        /// then `PQsendQueryPrepared`): one statement, text parameters.
        case prepared(sql: String, parameters: [String?], types: [UInt32])
        /// Simple protocol (`PQsendQuery`): any number of statements, no parameters.
        case simple(sql: String)
        /// ``PostgresConnection/withBlockingSession(_:)``: the connection's thread runs the body,
        /// which uses the connection through a ``PostgresBlockingSession``.
        case session(@Sendable (PostgresBlockingSession) -> Void)
    }

    let kind: Kind
    let completion = _Completion<_ResultBox?>()

    init(_ kind: Kind) { self.kind = kind }
}
