/// A `NOTIFY` received on a channel this connection `LISTEN`s to.
///
/// ```swift
/// for try await note in connection.notifications where note.channel == "strata_changes" {
///     print(note.payload, "from backend", note.pid)
/// }
/// ```
public struct PostgresNotification: Hashable, Sendable, CustomStringConvertible {
    /// The channel name, exactly as given to `NOTIFY`/`pg_notify` (case-sensitive).
    public var channel: String
    /// The payload, empty if none was given.
    public var payload: String
    /// The process id of the notifying server backend.
    public var pid: Int32

    public init(channel: String, payload: String, pid: Int32) {
        self.channel = channel
        self.payload = payload
        self.pid = pid
    }

    public var description: String { "NOTIFY \(channel) '\(payload)' from pid \(pid)" }
}
