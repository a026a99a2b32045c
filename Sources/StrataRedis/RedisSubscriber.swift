import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A Pub/Sub subscription on its own connection and thread.
///
/// ``subscribe(_:channels:patterns:logger:)`` returns once the server confirmed every
/// subscription, so anything published afterwards is delivered. ``messages`` yields the
/// messages in the order the server sent them, and
/// - **throws** a ``RedisError`` (`.connectionClosed`, `.protocolError`) when the
///   connection is lost — the subscriber may have missed messages and must resync;
/// - **finishes normally** after ``close()``.
///
/// ```swift
/// let subscriber = try await RedisSubscriber.subscribe(configuration, channels: ["strata:inval"])
/// do {
///     for try await message in subscriber.messages { apply(message.payload) }
///     // closed on purpose
/// } catch {
///     // connection lost: drop what cannot be proven fresh, then resubscribe
/// }
/// ```
///
/// The message buffer is unbounded; iterate ``messages`` from exactly one task.
/// The subscription ends on ``close()``, when the task iterating ``messages`` is
/// cancelled, or when the connection is lost — not when the `RedisSubscriber` object is
/// released (ARC may release it while ``messages`` is still being iterated), so always
/// call ``close()`` or cancel the consumer.
public final class RedisSubscriber: Sendable {
    /// The received messages; see the type's documentation for how it ends.
    public let messages: AsyncThrowingStream<RedisPubSubMessage, any Error>
    private let control: _SubscriberControl

    private init(messages: AsyncThrowingStream<RedisPubSubMessage, any Error>, control: _SubscriberControl) {
        self.messages = messages
        self.control = control
    }

    /// How often the subscriber thread checks for a close request while idle.
    static let pollInterval: Int32 = 100  // milliseconds

    /// Opens a dedicated connection (with `AUTH`/`SELECT` as configured) and subscribes
    /// to `channels` (`SUBSCRIBE`) and `patterns` (`PSUBSCRIBE`).
    ///
    /// - Throws: ``RedisError`` `.connectionFailed`, `.server` (for example `NOPERM` when
    ///   the ACL user may not subscribe), `.invalidArgument` when both lists are empty.
    public static func subscribe(
        _ configuration: RedisConfiguration,
        channels: [String],
        patterns: [String] = [],
        logger: Logger = Logger(label: "strata.redis.subscriber")
    ) async throws -> RedisSubscriber {
        if channels.isEmpty && patterns.isEmpty {
            throw RedisError(code: .invalidArgument, message: "subscribe needs at least one channel or pattern")
        }
        try configuration.validate()
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: RedisPubSubMessage.self, throwing: (any Error).self)
        let control = _SubscriberControl()
        continuation.onTermination = { _ in control.requestClose() }
        let logger = {
            var logger = logger
            logger[metadataKey: "redis.endpoint"] = "\(configuration.endpoint)"
            return logger
        }()
        try await withCheckedThrowingContinuation { (ready: CheckedContinuation<Void, any Error>) in
            do {
                try _spawnThread(name: "strata-redis-sub") {
                    run(configuration, channels: channels, patterns: patterns, control: control,
                        output: continuation, ready: ready, logger: logger)
                }
            } catch {
                control.markExited()
                ready.resume(throwing: error)
            }
        }
        return RedisSubscriber(messages: stream, control: control)
    }

    /// Unsubscribes by closing the connection; ``messages`` then finishes without error.
    /// Returns once the subscriber thread has ended (within about 100 ms).
    public func close() async {
        control.requestClose()
        await control.waitUntilExited()
    }

    // MARK: The subscriber thread

    private static func run(
        _ configuration: RedisConfiguration,
        channels: [String],
        patterns: [String],
        control: _SubscriberControl,
        output: AsyncThrowingStream<RedisPubSubMessage, any Error>.Continuation,
        ready: CheckedContinuation<Void, any Error>,
        logger: Logger
    ) {
        defer { control.markExited() }
        let context: _RedisContext
        do throws(RedisError) {
            context = try _RedisContext.connect(configuration)
            // Confirmations come with the handshake timeout, then no socket timeout: the
            // loop below waits in poll().
            try context.setTimeout(configuration.connectTimeout)
            if !channels.isEmpty { try context.append([RedisArgument("SUBSCRIBE")] + channels.map { RedisArgument($0) }) }
            if !patterns.isEmpty { try context.append([RedisArgument("PSUBSCRIBE")] + patterns.map { RedisArgument($0) }) }
            var confirmations = 0
            while confirmations < channels.count + patterns.count {
                let reply = try context.readReply()
                if case .error(let error) = reply { throw error }
                if let message = RedisPubSubMessage(reply) {
                    output.yield(message)
                } else if let kind = reply.array?.first?.string, kind == "subscribe" || kind == "psubscribe" {
                    confirmations += 1
                }
            }
            try context.setTimeout(nil)
        } catch {
            output.finish()
            ready.resume(throwing: error)
            return
        }
        ready.resume()
        logger.debug("redis subscriber listening", metadata: ["redis.channels": "\(channels)", "redis.patterns": "\(patterns)"])

        var pollDescriptor = pollfd(fd: context.fileDescriptor, events: Int16(POLLIN), revents: 0)
        do throws(RedisError) {
            while true {
                while let reply = try context.bufferedReply() {
                    if let message = RedisPubSubMessage(reply) { output.yield(message) }
                }
                if control.isCloseRequested {
                    context.close()
                    output.finish()
                    logger.debug("redis subscriber closed")
                    return
                }
                pollDescriptor.revents = 0
                let ready = poll(&pollDescriptor, 1, pollInterval)
                if ready < 0 {
                    let code = errno
                    if code == EINTR { continue }
                    context.close()
                    throw RedisError(code: .connectionClosed, message: "poll() failed on the subscriber connection to \(configuration.endpoint): \(String(cString: strerror(code)))")
                }
                if ready > 0 {
                    try context.readFromSocket()  // EOF and errors throw here
                }
            }
        } catch {
            logger.warning("redis subscriber lost its connection", metadata: ["error": "\(error)"])
            context.close()
            output.finish(throwing: error)
        }
    }
}
