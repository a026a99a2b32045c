/// The notifications of one connection, as an `AsyncSequence`.
///
/// Every notification the connection receives after it is established is buffered
/// here, without bound, until it is consumed; a connection that LISTENs should keep a
/// task iterating. The sequence is single-consumer: iterate it from one task at a time
/// (each notification is delivered once); cancelling the iterating task ends the sequence
/// for good (it is an `AsyncThrowingStream` underneath). It finishes normally after ``PostgresConnection/close()``
/// and throws a ``PostgresError`` with code ``PostgresError/Code/connectionClosed`` when the
/// connection is lost.
///
/// ```swift
/// try await connection.listen("jobs")
/// Task {
///     do {
///         for try await note in connection.notifications { handle(note.payload) }
///     } catch {
///         logger.warning("notifications ended: \(error)")  // reconnect, LISTEN, catch up
///     }
/// }
/// ```
public struct PostgresNotificationSequence: AsyncSequence, Sendable {
    public typealias Element = PostgresNotification
    public typealias Failure = any Error

    let _base: AsyncThrowingStream<PostgresNotification, any Error>

    public struct AsyncIterator: AsyncIteratorProtocol {
        public typealias Element = PostgresNotification
        public typealias Failure = any Error

        var _base: AsyncThrowingStream<PostgresNotification, any Error>.AsyncIterator

        public mutating func next() async throws -> PostgresNotification? {
            try await _base.next()
        }

        public mutating func next(isolation actor: isolated (any Actor)?) async throws(any Error) -> PostgresNotification? {
            try await _base.next(isolation: actor)
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(_base: _base.makeAsyncIterator())
    }
}
