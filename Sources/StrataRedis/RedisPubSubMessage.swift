/// A message received by a ``RedisSubscriber``.
///
/// ```swift
/// for try await message in subscriber.messages {
///     print(message.channel, message.payloadString ?? "<binary>")
/// }
/// ```
public struct RedisPubSubMessage: Sendable, Hashable {
    /// The channel the message was published to.
    public var channel: String
    /// The published bytes, unchanged.
    public var payload: [UInt8]
    /// The pattern that matched, for `PSUBSCRIBE` subscriptions; `nil` for channels.
    public var pattern: String?

    public init(channel: String, payload: [UInt8], pattern: String? = nil) {
        self.channel = channel
        self.payload = payload
        self.pattern = pattern
    }

    /// The payload decoded as UTF-8, `nil` if it is not valid UTF-8.
    public var payloadString: String? { String(validating: payload, as: UTF8.self) }

    /// Decodes a `message` or `pmessage` push; `nil` for other replies
    /// (subscription confirmations, pongs).
    init?(_ reply: RESPValue) {
        guard let elements = reply.array, let kind = elements.first?.bytes else { return nil }
        if kind == Array("message".utf8), elements.count == 3,
           let channel = elements[1].bytes, let payload = elements[2].bytes {
            self.init(channel: String(decoding: channel, as: UTF8.self), payload: payload)
        } else if kind == Array("pmessage".utf8), elements.count == 4,
                  let pattern = elements[1].bytes, let channel = elements[2].bytes, let payload = elements[3].bytes {
            self.init(channel: String(decoding: channel, as: UTF8.self), payload: payload, pattern: String(decoding: pattern, as: UTF8.self))
        } else {
            return nil
        }
    }
}
